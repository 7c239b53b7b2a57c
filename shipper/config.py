"""The environment and the `run` flags -> one validated `Settings`.

Precedence: flag, then `SHIPPER_*`, then the fluentd-elasticsearch image's name, then the
default. Every bad value becomes one line naming the variable, its value and what is
accepted, and all of them are reported at once, so a manifest is fixed in one round.
An empty variable counts as unset (except `SHIPPER_MERGE_JSON_KEY`).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from shipper.redact import MASK, redact
from shipper.settings import Output, Settings
from shipper.transforms.filters import parse_filters
from shipper.transforms.json_fields import names_our_field
from shipper.transforms.multiline_custom import CustomRule, parse_multiline_rules
from shipper.transforms.rate_limit import parse_rate_limits
from shipper.units import parse_duration, parse_size

T = TypeVar("T")
N = TypeVar("N", bound=float)

_DEFAULTS = Settings()
_SECRET_VARIABLES = frozenset(
    {"SHIPPER_ES_PASSWORD", "FLUENT_ELASTICSEARCH_PASSWORD", "SHIPPER_ES_API_KEY"}
)
_SECRET_FIELDS = frozenset({"es_password", "es_api_key"})
# Settings fields whose variable is not SHIPPER_ + the field's name in capitals.
_FIELD_VARIABLES = {
    "pod_name": "POD_NAME",
    "pod_namespace": "POD_NAMESPACE",
    "node_name": "NODE_NAME",
    "kube_verify_tls": "SHIPPER_KUBE_TLS_VERIFY",
    "once": "--once",
    "kubernetes_enabled": "SHIPPER_KUBERNETES (resolved)",
}
_KIB = 1024
_TEMPLATE_FILE = ("SHIPPER_ES_TEMPLATE_FILE", "FLUENT_ELASTICSEARCH_TEMPLATE_FILE")

# Variables of the fluentd-elasticsearch image that shipper accepts without acting on them.
_IGNORED: dict[str, str] = {
    "FLUENT_ELASTICSEARCH_SSL_VERSION": "TLS 1.2 or newer is negotiated automatically",
    "FLUENT_ELASTICSEARCH_RELOAD_CONNECTIONS": "no sniffing: requests spread over SHIPPER_ES_HOSTS",
    "FLUENT_ELASTICSEARCH_RECONNECT_ON_ERROR": "connections are always re-established on error",
    "FLUENT_ELASTICSEARCH_RELOAD_ON_FAILURE": "no sniffing: failover is over SHIPPER_ES_HOSTS",
    "FLUENT_SNIFFER_CLASS_NAME": "no sniffing: failover is over SHIPPER_ES_HOSTS",
    "FLUENT_ELASTICSEARCH_LOG_ES_400_REASON": "rejections always go to the dead-letter file",
    "FLUENT_ELASTICSEARCH_TARGET_INDEX_KEY": "use {field} placeholders in SHIPPER_ES_INDEX",
    "FLUENT_ELASTICSEARCH_LOGSTASH_TYPE_NAME": "mapping types do not exist since Elasticsearch 8",
    "FLUENT_ELASTICSEARCH_SUPPRESS_TYPE_NAME": "no mapping type is ever sent",
    "FLUENT_ELASTICSEARCH_INCLUDE_TIMESTAMP": "@timestamp is always included",
    "FLUENT_ELASTICSEARCH_APPLICATION_NAME": "ILM aliases are not managed; use an index template",
    "FLUENT_ELASTICSEARCH_ENABLE_ILM": "ILM is not managed; attach a policy in an index template",
    "FLUENT_ELASTICSEARCH_ILM_POLICY_ID": "ILM is not managed; attach a policy in a template",
    "FLUENT_ELASTICSEARCH_ILM_POLICY": "ILM is not managed; attach a policy in an index template",
    "FLUENT_ELASTICSEARCH_ILM_POLICY_OVERWRITE": "ILM is not managed by shipper",
    "FLUENT_ELASTICSEARCH_BUFFER_QUEUE_LIMIT_LENGTH": "see SHIPPER_BUFFER_MAX_BYTES",
    "FLUENT_ELASTICSEARCH_SED_DISABLE": "legacy setting of old images",
    "FLUENT_CONTAINER_TAIL_TAG": "there are no tags; names come from the log file path",
    "FLUENT_CONTAINER_TAIL_PARSER_TYPE": "CRI and docker json-file are detected per file",
    "FLUENT_CONTAINER_TAIL_PARSER_TIME_FORMAT": "both kubelet time formats are parsed natively",
    "FLUENT_POS_EXTRA_DIR": "positions live in SHIPPER_STATE_DIR",
    "FLUENT_POS_DIR": "positions live in SHIPPER_STATE_DIR",
    "FLUENT_KUBERNETES_METADATA_SKIP_CONTAINER_METADATA": "container image fields are always added",
    "FLUENT_KUBERNETES_METADATA_SKIP_MASTER_URL": "master_url is never added",
    "FLUENT_KUBERNETES_METADATA_SKIP_NAMESPACE_METADATA": "see SHIPPER_KUBE_NAMESPACE_LABELS",
    "FLUENT_KUBERNETES_WATCH": "this node's pods are always watched",
    "FLUENTD_SYSTEMD_CONF": "journald is not read",
    "FLUENTD_PROMETHEUS_CONF": "metrics are always served at SHIPPER_METRICS_ADDR",
    "FLUENTD_PROMETHEUS_PATH": "metrics are served at /metrics",
    "FLUENTD_CONF": "there is no fluentd configuration file",
    "FLUENTD_OPT": "there is no fluentd command line",
    "FLUENT_UID": "legacy setting of old images",
}


@dataclass(frozen=True, slots=True)
class RunFlags:
    """The `run` command-line flags; unset or empty ones leave the decision to the environment."""

    paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    state_dir: str | None = None
    output: str | None = None
    es_hosts: tuple[str, ...] = ()
    once: bool = False


@dataclass(frozen=True, slots=True)
class Explained:
    """One line of check-config: the variable, its effective value, and where it came from."""

    variable: str
    value: object
    source: str


class ConfigError(Exception):
    """Bad configuration: `errors` has one actionable line per bad variable or flag."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load_settings(
    env: Mapping[str, str], flags: RunFlags | None = None, *, terminal: bool = False
) -> Settings:
    """Build the Settings from `env` (normally `os.environ`) and flags, or raise ConfigError.

    `terminal`: stderr is a terminal, so the agent's own log defaults to short text lines.
    """
    return _load(env, flags or RunFlags(), terminal)[0]


def explain(
    env: Mapping[str, str], flags: RunFlags | None = None, *, terminal: bool = False
) -> list[Explained]:
    """Every setting as check-config shows it: variable name, value (secrets masked), source."""
    settings, reader = _load(env, flags or RunFlags(), terminal)
    lines = []
    for field in fields(Settings):
        variable = _FIELD_VARIABLES.get(field.name, f"SHIPPER_{field.name.upper()}")
        value = getattr(settings, field.name)
        if field.name in _SECRET_FIELDS and value is not None:
            value = MASK
        lines.append(Explained(variable, value, reader.source_of(variable)))
    return lines


def ignored_variables(env: Mapping[str, str]) -> list[str]:
    """Notes on set variables shipper does not act on: fluentd-only ones and unknown SHIPPER_*.

    An unknown SHIPPER_* name gets the closest known one as a suggestion.
    """
    reader = _Reader(env, RunFlags())
    _build(reader, RunFlags())
    known = sorted(reader.consulted | known_variables())
    notes = [f"{name} is ignored: {why}" for name, why in _IGNORED.items() if env.get(name)]
    for name in sorted(env):
        if name.startswith("SHIPPER_") and name not in reader.consulted:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]}?" if close else "misspelled?"
            notes.append(f"{name} is not a shipper variable; {hint}")
    return notes


def known_variables() -> set[str]:
    """Every variable shipper reads (those consulted when nothing is set: all branches)."""
    reader = _Reader({}, RunFlags())
    _build(reader, RunFlags())
    return {name for name in reader.consulted if not name.startswith("--")}


def _load(env: Mapping[str, str], flags: RunFlags, terminal: bool) -> tuple[Settings, _Reader]:
    reader = _Reader(env, flags)
    settings = _build(reader, flags, terminal)
    if reader.errors:
        raise ConfigError([redact(error, reader.secrets) for error in reader.errors])
    return settings, reader


def split_host_port(text: str) -> tuple[str, int]:
    """`host:port` or `[ipv6]:port` -> (host, port); the port may be 0 (any free port)."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("put an IPv6 address in brackets (examples: [::]:24231, [::1]:24231)")
    if not sep or not host:
        raise ValueError("not host:port (examples: 0.0.0.0:24231, 127.0.0.1:9000, [::]:24231)")
    return host, _port_number(port, minimum=0)


class _Reader:
    """Looks variables up (the first set name wins) and collects errors instead of raising."""

    def __init__(self, env: Mapping[str, str], flags: RunFlags) -> None:
        self._env = env
        self._values = {name: value for name, value in env.items() if value != ""}
        if flags.state_dir:
            self._values["--state-dir"] = flags.state_dir
        if flags.output:
            self._values["--output"] = flags.output
        self.errors: list[str] = []
        self.consulted: set[str] = set()
        self.secrets = [value for name, value in env.items() if name in _SECRET_VARIABLES]
        self._sources: dict[str, str] = {}  # variable -> where its value came from

    def source_of(self, variable: str) -> str:
        return self._sources.get(variable, "default")

    def came_from(self, variable: str, name: str | None) -> None:
        """Record that `variable`'s value was taken from `name` (a flag, it, or a compat name)."""
        if name is None:
            source = "default"
        elif name.startswith("--"):
            source = f"flag {name}"
        elif name == variable:
            source = "variable"
        else:
            source = f"compat variable {name}"
        self._sources[variable] = source

    def derived(self, variable: str, how: str) -> None:
        self._sources[variable] = f"derived: {how}"

    def flag(self, variable: str, flag: str, value: T) -> T:
        """A flag's value (recorded as the source of `variable` when given)."""
        if value:
            self.came_from(variable, flag)
        return value

    def first(self, *names: str) -> str | None:
        """The first of `names` that is set."""
        self.consulted.update(names)
        return next((name for name in names if name in self._values), None)

    def value(self, name: str) -> str:
        return self._values[name]

    def raw(self, name: str, default: str) -> str:
        """The value even when empty: for the one variable where empty means something."""
        self.consulted.add(name)
        self.came_from(name, name if name in self._env else None)
        return self._env.get(name, default)

    def get(self, *names: str, parse: Callable[[str], T], default: T) -> T:
        """The first set variable parsed, or `default` when none is set (or it is bad)."""
        name = self.first(*names)
        self.came_from(next(n for n in names if not n.startswith("--")), name)
        return default if name is None else self.check(name, self._values[name], parse, default)

    def check(self, name: str, text: str, parse: Callable[[str], T], default: T) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            self.fail(name, text, str(exc))
            return default

    def fail(self, name: str, text: str, message: str) -> None:
        shown = "***" if name in _SECRET_VARIABLES else repr(text)
        self.errors.append(f"{name}={shown}: {message}")


def _build(r: _Reader, flags: RunFlags, terminal: bool = False) -> Settings:
    d = _DEFAULTS
    es_hosts, url_credentials = _es_hosts(r, flags)
    es_user, es_password = _es_basic_auth(r, url_credentials)
    kubernetes, kubernetes_enabled, kube_url = _kubernetes(r)
    _check_pairs(r)
    multiline_rules = r.get(
        "SHIPPER_MULTILINE_RULES", parse=parse_multiline_rules, default=d.multiline_rules
    )
    return Settings(
        paths=r.flag("SHIPPER_PATHS", "--path", flags.paths)
        or r.get("SHIPPER_PATHS", "FLUENT_CONTAINER_TAIL_PATH", parse=_globs, default=d.paths),
        exclude_paths=r.flag("SHIPPER_EXCLUDE_PATHS", "--exclude", flags.exclude_paths)
        or r.get(
            "SHIPPER_EXCLUDE_PATHS",
            "FLUENT_CONTAINER_TAIL_EXCLUDE_PATH",
            parse=_glob_list,
            default=d.exclude_paths,
        ),
        read_from=r.get("SHIPPER_READ_FROM", parse=_choice("head", "tail"), default=d.read_from),
        state_dir=r.get("--state-dir", "SHIPPER_STATE_DIR", parse=str, default=d.state_dir),
        max_record_bytes=r.get(
            "SHIPPER_MAX_RECORD_BYTES",
            parse=_at_least(parse_size, _KIB, "1KiB"),
            default=d.max_record_bytes,
        ),
        rotate_wait=r.get("SHIPPER_ROTATE_WAIT", parse=parse_duration, default=d.rotate_wait),
        scan_interval=r.get(
            "SHIPPER_SCAN_INTERVAL",
            parse=_at_least(parse_duration, 0.1, "100ms"),
            default=d.scan_interval,
        ),
        pod_name=r.get("POD_NAME", parse=str, default=d.pod_name),
        pod_namespace=r.get("POD_NAMESPACE", parse=str, default=d.pod_namespace),
        output=_output(r, has_hosts=bool(es_hosts) or r.first("SHIPPER_ES_HOSTS") is not None),
        once=r.flag("--once", "--once", flags.once),
        es_hosts=es_hosts,
        es_user=es_user,
        es_password=es_password,
        es_api_key=r.get("SHIPPER_ES_API_KEY", parse=_api_key, default=d.es_api_key),
        es_ca_file=r.get("SHIPPER_ES_CA_FILE", parse=_existing_file, default=d.es_ca_file),
        es_client_cert=r.get(
            "SHIPPER_ES_CLIENT_CERT", parse=_existing_file, default=d.es_client_cert
        ),
        es_client_key=r.get("SHIPPER_ES_CLIENT_KEY", parse=_existing_file, default=d.es_client_key),
        es_tls_verify=r.get(
            "SHIPPER_ES_TLS_VERIFY",
            "FLUENT_ELASTICSEARCH_SSL_VERIFY",
            parse=_bool,
            default=d.es_tls_verify,
        ),
        es_index=_es_index(r),
        es_op_type=r.get(
            "SHIPPER_ES_OP_TYPE", parse=_choice("create", "index"), default=d.es_op_type
        ),
        es_id=r.get("SHIPPER_ES_ID", parse=_choice("auto", "none"), default=d.es_id),
        es_pipeline=r.get("SHIPPER_ES_PIPELINE", parse=str, default=d.es_pipeline),
        es_compression=r.get(
            "SHIPPER_ES_COMPRESSION", parse=_choice("none", "gzip"), default=d.es_compression
        ),
        es_template=_es_template(r),
        es_template_name=r.get(
            "SHIPPER_ES_TEMPLATE_NAME",
            "FLUENT_ELASTICSEARCH_TEMPLATE_NAME",
            parse=str,
            default=d.es_template_name,
        ),
        es_template_file=r.get(*_TEMPLATE_FILE, parse=_existing_file, default=d.es_template_file),
        es_template_overwrite=r.get(
            "SHIPPER_ES_TEMPLATE_OVERWRITE",
            "FLUENT_ELASTICSEARCH_TEMPLATE_OVERWRITE",
            parse=_bool,
            default=d.es_template_overwrite,
        ),
        batch_max_bytes=r.get(
            "SHIPPER_BATCH_MAX_BYTES",
            "FLUENT_ELASTICSEARCH_BUFFER_CHUNK_LIMIT_SIZE",
            parse=_at_least(parse_size, _KIB, "1KiB"),
            default=d.batch_max_bytes,
        ),
        batch_max_records=r.get(
            "SHIPPER_BATCH_MAX_RECORDS", parse=_at_least(_int, 1, "1"), default=d.batch_max_records
        ),
        flush_interval=r.get(
            "SHIPPER_FLUSH_INTERVAL",
            "FLUENT_ELASTICSEARCH_BUFFER_FLUSH_INTERVAL",
            parse=parse_duration,
            default=d.flush_interval,
        ),
        concurrency=r.get(
            "SHIPPER_CONCURRENCY",
            "FLUENT_ELASTICSEARCH_BUFFER_FLUSH_THREAD_COUNT",
            parse=_at_least(_int, 1, "1"),
            default=d.concurrency,
        ),
        buffer_max_bytes=r.get(
            "SHIPPER_BUFFER_MAX_BYTES",
            parse=_at_least(parse_size, 256 * _KIB, "256KiB"),
            default=d.buffer_max_bytes,
        ),
        retry_max_backoff=r.get(
            "SHIPPER_RETRY_MAX_BACKOFF",
            "FLUENT_ELASTICSEARCH_BUFFER_RETRY_MAX_INTERVAL",
            parse=_at_least(parse_duration, 0.001, "1ms"),
            default=d.retry_max_backoff,
        ),
        request_timeout=r.get(
            "SHIPPER_REQUEST_TIMEOUT",
            "FLUENT_ELASTICSEARCH_REQUEST_TIMEOUT",
            parse=_at_least(parse_duration, 0.001, "1ms"),
            default=d.request_timeout,
        ),
        once_retry_timeout=r.get(
            "SHIPPER_ONCE_RETRY_TIMEOUT", parse=parse_duration, default=d.once_retry_timeout
        ),
        dead_letter_max_bytes=r.get(
            "SHIPPER_DEAD_LETTER_MAX_BYTES",
            parse=_at_least(parse_size, _KIB, "1KiB"),
            default=d.dead_letter_max_bytes,
        ),
        kubernetes=kubernetes,
        kubernetes_enabled=kubernetes_enabled,
        kube_url=kube_url,
        node_name=r.get("NODE_NAME", "K8S_NODE_NAME", parse=str, default=d.node_name),
        kube_token_file=r.get("SHIPPER_KUBE_TOKEN_FILE", parse=str, default=d.kube_token_file),
        kube_ca_file=r.get(
            "SHIPPER_KUBE_CA_FILE",
            "KUBERNETES_CA_FILE",
            parse=_existing_file,
            default=d.kube_ca_file,
        ),
        kube_verify_tls=r.get(
            "SHIPPER_KUBE_TLS_VERIFY",
            "KUBERNETES_VERIFY_SSL",
            parse=_bool,
            default=d.kube_verify_tls,
        ),
        kube_labels=_kube_labels(r),
        kube_annotations=r.get("SHIPPER_KUBE_ANNOTATIONS", parse=_bool, default=d.kube_annotations),
        kube_namespace_labels=r.get(
            "SHIPPER_KUBE_NAMESPACE_LABELS", parse=_bool, default=d.kube_namespace_labels
        ),
        kube_max_metadata_bytes=r.get(
            "SHIPPER_KUBE_MAX_METADATA_BYTES",
            parse=_at_least(parse_size, _KIB, "1KiB"),
            default=d.kube_max_metadata_bytes,
        ),
        merge_json=r.get("SHIPPER_MERGE_JSON", parse=_bool, default=d.merge_json),
        merge_json_key=r.check(
            "SHIPPER_MERGE_JSON_KEY",
            r.raw("SHIPPER_MERGE_JSON_KEY", d.merge_json_key),
            _json_key,
            d.merge_json_key,
        ),
        multiline=r.get(
            "SHIPPER_MULTILINE", parse=_multiline(multiline_rules), default=d.multiline
        ),
        de_dot=r.get("SHIPPER_DE_DOT", parse=_bool, default=d.de_dot),
        de_dot_separator=r.get(
            "SHIPPER_DE_DOT_SEPARATOR", parse=_separator, default=d.de_dot_separator
        ),
        # --- drop, keep, throttle; custom multiline rules
        filters=r.get("SHIPPER_FILTERS", parse=parse_filters, default=d.filters),
        rate_limits=r.get("SHIPPER_RATE_LIMITS", parse=parse_rate_limits, default=d.rate_limits),
        namespace_rate_limits=r.get(
            "SHIPPER_NAMESPACE_RATE_LIMITS", parse=_bool, default=d.namespace_rate_limits
        ),
        rate_limit_interval=r.get(
            "SHIPPER_RATE_LIMIT_INTERVAL",
            parse=_at_least(parse_duration, 0.1, "100ms"),
            default=d.rate_limit_interval,
        ),
        multiline_rules=multiline_rules,
        metrics_addr=_metrics_addr(r),
        log_level=r.get(
            "SHIPPER_LOG_LEVEL",
            parse=_choice("debug", "info", "warning", "error", aliases={"warn": "warning"}),
            default=d.log_level,
        ),
        log_format=_log_format(r, terminal),
    )


# --- settings built from several variables


Credentials = tuple[str, str]  # (user, password) from a URL's user-info
_FoundCredentials = tuple[str, str, Credentials]  # (where: name, its value, credentials)


def _es_hosts(r: _Reader, flags: RunFlags) -> tuple[tuple[str, ...], _FoundCredentials | None]:
    """`--es`, else `SHIPPER_ES_HOSTS`, else the fluentd image's HOST, PORT, SCHEME, PATH.

    Credentials in the URLs (`https://user:pass@host`, as fluent-plugin-elasticsearch takes
    them) are taken out of the URLs and returned with the name they came from.
    """
    if flags.es_hosts:
        name, texts = "--es", list(flags.es_hosts)
    elif r.first("SHIPPER_ES_HOSTS"):
        name, texts = "SHIPPER_ES_HOSTS", r.value("SHIPPER_ES_HOSTS").split(",")
    else:
        host = r.get("FLUENT_ELASTICSEARCH_HOST", parse=_bare_host, default="")
        scheme = r.get(
            "FLUENT_ELASTICSEARCH_SCHEME", parse=_choice("http", "https"), default="http"
        )
        port = r.get("FLUENT_ELASTICSEARCH_PORT", parse=_port, default=9200)
        path = r.get("FLUENT_ELASTICSEARCH_PATH", parse=_url_path, default="")
        if not host:
            return (), None
        r.derived("SHIPPER_ES_HOSTS", "FLUENT_ELASTICSEARCH_HOST, _PORT, _SCHEME, _PATH")
        return (f"{scheme}://{_join_host_port(host, port)}{path}",), None
    r.came_from("SHIPPER_ES_HOSTS", name)
    value = ",".join(texts)
    urls, found = [], set()
    for text in texts:
        try:
            url, credentials = _url_and_credentials(text)
        except ValueError as exc:
            if name == "--es":  # one flag per URL: its value is the URL
                r.fail(name, text, str(exc))
            else:
                r.fail(name, value, f"{text.strip()!r}: {exc}")
            continue
        urls.append(url)
        if credentials:
            r.secrets.append(credentials[1])
            found.add(credentials)
    if len(found) > 1:
        r.fail(name, value, "the URLs carry different credentials, but one user serves all hosts")
    return tuple(urls), ((name, value, found.pop()) if len(found) == 1 else None)


def _es_basic_auth(
    r: _Reader, url_credentials: _FoundCredentials | None
) -> tuple[str | None, str | None]:
    """User and password: SHIPPER_ES_USER/_PASSWORD (or compat), else those in the URLs."""
    user = r.get("SHIPPER_ES_USER", "FLUENT_ELASTICSEARCH_USER", parse=_trimmed, default=None)
    password = r.get(
        "SHIPPER_ES_PASSWORD", "FLUENT_ELASTICSEARCH_PASSWORD", parse=_trimmed, default=None
    )
    if url_credentials is None:
        return user, password
    name, value, (url_user, url_password) = url_credentials
    if user is not None or password is not None or r.first("SHIPPER_ES_API_KEY"):
        r.fail(
            name,
            value,
            "credentials are given both in the URL and in SHIPPER_ES_USER/_PASSWORD "
            "or SHIPPER_ES_API_KEY: keep one",
        )
        return user, password
    r.derived("SHIPPER_ES_USER", f"the URL in {name}")
    r.derived("SHIPPER_ES_PASSWORD", f"the URL in {name}")
    return url_user, url_password


def _output(r: _Reader, *, has_hosts: bool) -> Output:
    """Elasticsearch when hosts are set, else stdout; asking for Elasticsearch needs hosts."""
    default = Output("elasticsearch" if has_hosts else "stdout")
    name = r.first("--output", "SHIPPER_OUTPUT")
    output = r.get("--output", "SHIPPER_OUTPUT", parse=_parse_output, default=default)
    if name is None and has_hosts:
        r.derived("SHIPPER_OUTPUT", "Elasticsearch hosts are set")
    if name is not None and output.kind == "elasticsearch" and not has_hosts:
        r.fail(
            name,
            r.value(name),
            "needs hosts: set SHIPPER_ES_HOSTS (or FLUENT_ELASTICSEARCH_HOST, or --es)",
        )
    return output


def _es_index(r: _Reader) -> str:
    """`SHIPPER_ES_INDEX`, else the index fluent-plugin-elasticsearch would write to."""
    if r.first("SHIPPER_ES_INDEX"):
        return r.get("SHIPPER_ES_INDEX", parse=_index_pattern, default=_DEFAULTS.es_index)
    compat = r.first(
        "FLUENT_ELASTICSEARCH_LOGSTASH_FORMAT",
        "FLUENT_ELASTICSEARCH_LOGSTASH_PREFIX",
        "FLUENT_ELASTICSEARCH_LOGSTASH_DATEFORMAT",
        "FLUENT_ELASTICSEARCH_LOGSTASH_INDEX_NAME",
    )
    if compat:
        r.derived("SHIPPER_ES_INDEX", "FLUENT_ELASTICSEARCH_LOGSTASH_* variables")
    if r.get("FLUENT_ELASTICSEARCH_LOGSTASH_FORMAT", parse=_bool, default=True):
        prefix = r.get(
            "FLUENT_ELASTICSEARCH_LOGSTASH_PREFIX", parse=_index_pattern, default="logstash"
        )
        date = r.get(
            "FLUENT_ELASTICSEARCH_LOGSTASH_DATEFORMAT", parse=_index_pattern, default="%Y.%m.%d"
        )
        return f"{prefix}-{date}"
    return r.get(
        "FLUENT_ELASTICSEARCH_LOGSTASH_INDEX_NAME", parse=_index_pattern, default="logstash"
    )


def _kubernetes(r: _Reader) -> tuple[Any, bool, str | None]:
    """`kubernetes`, `kubernetes_enabled`, `kube_url`: auto is on when an API server is known."""
    mode = r.get(
        "SHIPPER_KUBERNETES",
        parse=_choice("auto", "on", "off", aliases=_ON_OFF_ALIASES),
        default=_DEFAULTS.kubernetes,
    )
    url_name = r.first(
        "SHIPPER_KUBE_URL", "FLUENT_FILTER_KUBERNETES_URL", "KUBERNETES_SERVICE_HOST"
    )
    if url_name == "SHIPPER_KUBE_URL":
        url = r.get(url_name, parse=_kube_url, default=None)
    elif url_name == "FLUENT_FILTER_KUBERNETES_URL":
        url = r.get(url_name, parse=_fluentd_kube_url, default=None)
    elif url_name == "KUBERNETES_SERVICE_HOST":
        host = r.get(url_name, parse=_bare_host, default="")
        port = r.get("KUBERNETES_SERVICE_PORT", parse=_port, default=443)
        url = f"https://{_join_host_port(host, port)}" if host else None
    else:
        url = None
    if url_name == "KUBERNETES_SERVICE_HOST":
        r.derived("SHIPPER_KUBE_URL", "KUBERNETES_SERVICE_HOST and _PORT")
    else:
        r.came_from("SHIPPER_KUBE_URL", url_name)
    if mode == "on" and url_name is None:
        r.fail(
            "SHIPPER_KUBERNETES",
            r.value("SHIPPER_KUBERNETES"),
            "needs the API server: set SHIPPER_KUBE_URL (or KUBERNETES_SERVICE_HOST)",
        )
    enabled = mode == "on" or (mode == "auto" and url_name is not None)
    if mode == "auto":
        known = f"the API server is known from {url_name}" if url_name else "no API server known"
        r.derived("SHIPPER_KUBERNETES (resolved)", f"auto, and {known}")
    else:
        r.derived("SHIPPER_KUBERNETES (resolved)", mode)
    return mode, enabled, url


def _kube_labels(r: _Reader) -> bool:
    """`SHIPPER_KUBE_LABELS`, else the inverse of the fluentd image's SKIP_LABELS."""
    skip = "FLUENT_KUBERNETES_METADATA_SKIP_LABELS"
    if r.first("SHIPPER_KUBE_LABELS", skip) == skip:
        r.came_from("SHIPPER_KUBE_LABELS", skip)
        return not r.get(skip, parse=_bool, default=not _DEFAULTS.kube_labels)
    return r.get("SHIPPER_KUBE_LABELS", parse=_bool, default=_DEFAULTS.kube_labels)


def _metrics_addr(r: _Reader) -> str:
    """`SHIPPER_METRICS_ADDR`, else the fluentd image's FLUENTD_PROMETHEUS_BIND + _PORT."""
    compat = ("FLUENTD_PROMETHEUS_BIND", "FLUENTD_PROMETHEUS_PORT")
    if r.first("SHIPPER_METRICS_ADDR") or not r.first(*compat):
        return r.get("SHIPPER_METRICS_ADDR", parse=_listen_addr, default=_DEFAULTS.metrics_addr)
    host = r.get("FLUENTD_PROMETHEUS_BIND", parse=_bare_host, default="0.0.0.0")
    port = r.get(
        "FLUENTD_PROMETHEUS_PORT", parse=lambda t: _port_number(t, minimum=0), default=24231
    )
    r.derived("SHIPPER_METRICS_ADDR", "FLUENTD_PROMETHEUS_BIND and _PORT")
    return _join_host_port(host, port)


def _es_template(r: _Reader) -> Any:
    """`SHIPPER_ES_TEMPLATE`; unset, a template file given means `install`."""
    file_name = r.first(*_TEMPLATE_FILE)
    template = r.get(
        "SHIPPER_ES_TEMPLATE",
        parse=_choice("none", "install"),
        default="install" if file_name else _DEFAULTS.es_template,
    )
    if file_name and not r.first("SHIPPER_ES_TEMPLATE"):
        r.derived("SHIPPER_ES_TEMPLATE", f"{file_name} is set")
    return template


def _log_format(r: _Reader, terminal: bool) -> Any:
    """`SHIPPER_LOG_FORMAT`; unset, short text lines on a terminal and JSON elsewhere."""
    default = "text" if terminal else _DEFAULTS.log_format
    log_format = r.get("SHIPPER_LOG_FORMAT", parse=_choice("json", "text"), default=default)
    if terminal and not r.first("SHIPPER_LOG_FORMAT"):
        r.derived("SHIPPER_LOG_FORMAT", "stderr is a terminal")
    return log_format


def _check_pairs(r: _Reader) -> None:
    """Settings that only make sense together."""
    cert, key = r.first("SHIPPER_ES_CLIENT_CERT"), r.first("SHIPPER_ES_CLIENT_KEY")
    if cert and not key:
        r.fail(cert, r.value(cert), "TLS client authentication also needs SHIPPER_ES_CLIENT_KEY")
    if key and not cert:
        r.fail(key, r.value(key), "TLS client authentication also needs SHIPPER_ES_CLIENT_CERT")
    user = r.first("SHIPPER_ES_USER", "FLUENT_ELASTICSEARCH_USER")
    password = r.first("SHIPPER_ES_PASSWORD", "FLUENT_ELASTICSEARCH_PASSWORD")
    if password and not user:
        r.fail(password, r.value(password), "basic authentication also needs SHIPPER_ES_USER")
    if user and r.first("SHIPPER_ES_API_KEY"):
        r.fail(
            user, r.value(user), "set either a user and password or SHIPPER_ES_API_KEY, not both"
        )


# --- parsers of one value: return it or raise ValueError saying what is accepted

_ON_OFF_ALIASES = {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError("not a boolean (accepted: true, false, yes, no, on, off, 1, 0)")


def _choice(*options: str, aliases: Mapping[str, str] | None = None) -> Callable[[str], Any]:
    """A parser accepting one of `options` (case-insensitive), or an alias of one."""
    accepted = {option: option for option in options} | dict(aliases or {})

    def parse(text: str) -> str:
        word = text.strip().lower()
        if word not in accepted:
            raise ValueError(f"not one of: {', '.join(options)}")
        return accepted[word]

    return parse


def _multiline(custom: tuple[CustomRule, ...]) -> Callable[[str], str]:
    """SHIPPER_MULTILINE: a built-in kind (any case) or a SHIPPER_MULTILINE_RULES name."""
    builtin = _choice("java", "python", "go")
    names = [rule.name for rule in custom]

    def parse(text: str) -> str:
        if text.strip() in names:
            return text.strip()
        try:
            return str(builtin(text))
        except ValueError:
            raise ValueError(f"not one of: {', '.join(['java', 'python', 'go', *names])}") from None

    return parse


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("not a whole number (example: 10)") from None


def _at_least(parse: Callable[[str], N], minimum: N, shown: str) -> Callable[[str], N]:
    """`parse`, then refuse values below `minimum` (`shown` as the user would write it)."""

    def parse_bounded(text: str) -> N:
        value = parse(text)
        if value < minimum:
            raise ValueError(f"must be at least {shown}")
        return value

    return parse_bounded


def _port_number(text: str, *, minimum: int) -> int:
    port = _int(text) if text.strip() else -1
    if not minimum <= port <= 65535:
        raise ValueError(f"not a port number ({minimum}-65535)")
    return port


def _port(text: str) -> int:
    return _port_number(text, minimum=1)


def _globs(text: str) -> tuple[str, ...]:
    globs = tuple(part.strip() for part in text.split(",") if part.strip())
    if not globs:
        raise ValueError(
            "no path given (example: /var/log/containers/*.log,/var/log/pods/*/*/*.log)"
        )
    return globs


def _glob_list(text: str) -> tuple[str, ...]:
    """Comma-separated, or a JSON array as the fluentd image's exclude_path takes it."""
    if not text.lstrip().startswith("["):
        return _globs(text)
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        items = None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueError('not a JSON array of strings (example: ["/var/log/containers/a-*.log"])')
    return tuple(items)


def _url_and_credentials(text: str) -> tuple[str, Credentials | None]:
    """An http(s) base URL with a host, without its user-info; a trailing `/` is dropped so
    paths can be appended. The user-info, percent-decoded, is returned beside it."""
    url = text.strip().rstrip("/")
    parts = urlsplit(url)
    examples = "(examples: http://es:9200, https://[fd00::1]:9200/prefix)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host {examples}")
    if parts.query or parts.fragment:
        raise ValueError(f"a base URL has no query or fragment {examples}")
    try:
        parts.port  # noqa: B018 -- raises on a bad port
    except ValueError:
        raise ValueError(f"bad port {examples}") from None
    if parts.username is None and parts.password is None:
        return url, None
    netloc = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return bare, (unquote(parts.username or ""), unquote(parts.password or ""))


def _kube_url(text: str) -> str:
    """The API server's base URL; it authenticates by token, never by URL credentials."""
    url, credentials = _url_and_credentials(text)
    if credentials is not None:
        raise ValueError(
            "credentials in the URL are not used: the API server is authenticated with "
            "the service-account token (SHIPPER_KUBE_TOKEN_FILE)"
        )
    return url


def _fluentd_kube_url(text: str) -> str:
    """The fluentd image's URL ends in `/api`; shipper wants the server's base URL."""
    return _kube_url(text).removesuffix("/api")


def _bare_host(text: str) -> str:
    host = text.strip().removeprefix("[").removesuffix("]")
    if not host or any(char in host for char in "/@?# "):
        raise ValueError("not a host name or IP address (examples: es-0.logging, 10.0.0.7, ::1)")
    return host


def _join_host_port(host: str, port: int) -> str:
    """`host:port`, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _url_path(text: str) -> str:
    """A URL prefix like `/es` (Elasticsearch behind a proxy); always `/x`, never `x/`."""
    path = text.strip().strip("/")
    if any(char in path for char in "?# "):
        raise ValueError("not a URL path (example: /elasticsearch)")
    return f"/{path}" if path else ""


def _parse_output(text: str) -> Output:
    word = text.strip()
    if word.startswith("file:") and word.removeprefix("file:"):
        return Output("file", word.removeprefix("file:"))
    if word.lower() in ("elasticsearch", "stdout"):
        return Output(word.lower())  # type: ignore[arg-type]  # checked just above
    raise ValueError("not one of: elasticsearch, stdout, file:PATH (example: file:/tmp/out.ndjson)")


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FIELD_PATH = re.compile(r"[^.\s{}]+(?:\.[^.\s{}]+)*")
_INDEX_FORBIDDEN = frozenset('\\/*?"<>|,#: ')


def _index_pattern(text: str) -> str:
    """An index name with strftime directives and `{a.b.c}` document-field placeholders.

    Upper case is accepted: the name is lower-cased when rendered, as fluentd does.
    """
    for match in _PLACEHOLDER.finditer(text):
        if not _FIELD_PATH.fullmatch(match[1]):
            raise ValueError(
                f"bad placeholder {match[0]} (example: logs-{{kubernetes.namespace_name}}-%Y.%m.%d)"
            )
    literal = re.sub(r"%-?.", "", _PLACEHOLDER.sub("", text))
    if "{" in literal or "}" in literal:
        raise ValueError("unbalanced { or } (example: logs-{kubernetes.namespace_name}-%Y.%m.%d)")
    forbidden = sorted(_INDEX_FORBIDDEN.intersection(literal))
    if forbidden:
        raise ValueError(f"Elasticsearch index names cannot contain {''.join(forbidden)!r}")
    return text


def _trimmed(text: str) -> str:
    """A user name or password: spaces and line breaks around it (a Secret made
    `--from-file` ends in one) are not part of it."""
    return text.strip()


def _api_key(text: str) -> str:
    """An API key as Elasticsearch hands it out (base64): one word of printable ASCII."""
    key = text.strip()
    if any(char.isspace() or not char.isprintable() or not char.isascii() for char in key):
        raise ValueError(
            "has a space, line break or non-ASCII character inside: it must be the "
            "one-word key Elasticsearch gave (its `encoded` value)"
        )
    return key


def _existing_file(text: str) -> str:
    if not os.path.isfile(text):
        raise ValueError("no such file")
    if not os.access(text, os.R_OK):
        raise ValueError("file not readable")
    return text


def _listen_addr(text: str) -> str:
    split_host_port(text)
    return text.strip()


def _json_key(text: str) -> str:
    if names_our_field(text):
        raise ValueError(
            f"the key would replace shipper's own {text!r} field "
            "(examples: json, app; empty merges the fields at the top level)"
        )
    return text


def _separator(text: str) -> str:
    if "." in text:
        raise ValueError("the separator replaces dots, so it cannot contain one (example: _)")
    return text
