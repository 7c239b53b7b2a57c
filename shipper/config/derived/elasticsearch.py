"""Hosts, credentials, output, index, template and ids: each from several variables."""

from __future__ import annotations

from shipper.config.addresses import (
    Credentials,
    bare_host,
    join_host_port,
    port,
    url_and_credentials,
    url_path,
)
from shipper.config.parsers import boolean, choice, index_pattern, output, trimmed
from shipper.config.reader import Reader
from shipper.settings import Output, Settings

_DEFAULTS = Settings()
TEMPLATE_FILE = ("SHIPPER_ES_TEMPLATE_FILE", "FLUENT_ELASTICSEARCH_TEMPLATE_FILE")
ES_HOST_PARTS = (
    "FLUENT_ELASTICSEARCH_HOST",
    "FLUENT_ELASTICSEARCH_PORT",
    "FLUENT_ELASTICSEARCH_SCHEME",
    "FLUENT_ELASTICSEARCH_PATH",
)
LOGSTASH_INDEX = (
    "FLUENT_ELASTICSEARCH_LOGSTASH_FORMAT",
    "FLUENT_ELASTICSEARCH_LOGSTASH_PREFIX",
    "FLUENT_ELASTICSEARCH_LOGSTASH_DATEFORMAT",
    "FLUENT_ELASTICSEARCH_LOGSTASH_INDEX_NAME",
)
_FoundCredentials = tuple[str, str, Credentials]  # (where: name, its value, credentials)
_Hosts = tuple[tuple[str, ...], _FoundCredentials | None]
_BasicAuth = tuple[str | None, str | None]


def es_hosts(r: Reader) -> tuple[str, ...]:
    return r.once("es_hosts", _hosts_and_credentials)[0]


def es_user(r: Reader) -> str | None:
    return r.once("basic_auth", _basic_auth)[0]


def es_password(r: Reader) -> str | None:
    return r.once("basic_auth", _basic_auth)[1]


def _hosts_and_credentials(r: Reader) -> _Hosts:
    """`--es`, else `SHIPPER_ES_HOSTS`, else the fluentd image's HOST, PORT, SCHEME, PATH.

    Credentials in the URLs (`https://user:pass@host`, as fluent-plugin-elasticsearch takes
    them) are taken out of the URLs and returned with the name they came from.
    """
    if r.flag("--es"):
        name, texts = "--es", list(r.flag("--es"))
    elif r.first("SHIPPER_ES_HOSTS"):
        name, texts = "SHIPPER_ES_HOSTS", r.value("SHIPPER_ES_HOSTS").split(",")
    else:
        return _fluentd_host(r), None
    r.came_from("SHIPPER_ES_HOSTS", name)
    value = ",".join(texts)
    urls, found = [], set()
    for text in texts:
        try:
            url, credentials = url_and_credentials(text)
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


def _fluentd_host(r: Reader) -> tuple[str, ...]:
    """The one URL the fluentd image's HOST, PORT, SCHEME and PATH make (none without HOST)."""
    host_name, port_name, scheme_name, path_name = ES_HOST_PARTS
    host = r.get(host_name, parse=bare_host, default="")
    scheme = r.get(scheme_name, parse=choice("http", "https"), default="http")
    number = r.get(port_name, parse=port, default=9200)
    path = r.get(path_name, parse=url_path, default="")
    if not host:
        return ()
    r.derived("SHIPPER_ES_HOSTS", "FLUENT_ELASTICSEARCH_HOST, _PORT, _SCHEME, _PATH")
    return (f"{scheme}://{join_host_port(host, number)}{path}",)


def _basic_auth(r: Reader) -> _BasicAuth:
    """User and password: SHIPPER_ES_USER/_PASSWORD (or compat), else those in the URLs."""
    url_credentials = r.once("es_hosts", _hosts_and_credentials)[1]
    user = r.get("SHIPPER_ES_USER", "FLUENT_ELASTICSEARCH_USER", parse=trimmed, default=None)
    password = r.get(
        "SHIPPER_ES_PASSWORD", "FLUENT_ELASTICSEARCH_PASSWORD", parse=trimmed, default=None
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


def output_kind(r: Reader) -> Output:
    """Elasticsearch when hosts are set, else stdout; asking for Elasticsearch needs hosts."""
    has_hosts = bool(es_hosts(r)) or r.first("SHIPPER_ES_HOSTS") is not None
    default = Output("elasticsearch" if has_hosts else "stdout")
    name = r.first("--output", "SHIPPER_OUTPUT")
    chosen = r.get("--output", "SHIPPER_OUTPUT", parse=output, default=default)
    if name is None and has_hosts:
        r.derived("SHIPPER_OUTPUT", "Elasticsearch hosts are set")
    if name is not None and chosen.kind == "elasticsearch" and not has_hosts:
        r.fail(
            name,
            r.value(name),
            "needs hosts: set SHIPPER_ES_HOSTS (or FLUENT_ELASTICSEARCH_HOST, or --es)",
        )
    return chosen


def es_index(r: Reader) -> str:
    """`SHIPPER_ES_INDEX`, else the index fluent-plugin-elasticsearch would write to."""
    if r.first("SHIPPER_ES_INDEX"):
        return r.get("SHIPPER_ES_INDEX", parse=index_pattern, default=_DEFAULTS.es_index)
    format_name, prefix_name, date_name, index_name = LOGSTASH_INDEX
    if r.first(*LOGSTASH_INDEX):
        r.derived("SHIPPER_ES_INDEX", "FLUENT_ELASTICSEARCH_LOGSTASH_* variables")
    if r.get(format_name, parse=boolean, default=True):
        prefix = r.get(prefix_name, parse=index_pattern, default="logstash")
        date = r.get(date_name, parse=index_pattern, default="%Y.%m.%d")
        return f"{prefix}-{date}"
    return r.get(index_name, parse=index_pattern, default="logstash")


def es_id(r: Reader) -> str:
    """`SHIPPER_ES_ID`; unset, `auto`, but `none` for OpenSearch Serverless: its time series
    collections make their own ids and refuse ours (a search collection takes them)."""
    service = r.first("SHIPPER_ES_AWS_SERVICE")
    serverless = service is not None and r.value(service).strip().lower() == "aoss"
    default = "none" if serverless else _DEFAULTS.es_id
    found: str = r.get("SHIPPER_ES_ID", parse=choice("auto", "none"), default=default)
    if serverless and not r.first("SHIPPER_ES_ID"):
        r.derived("SHIPPER_ES_ID", "SHIPPER_ES_AWS_SERVICE=aoss")
    return found


def es_template(r: Reader) -> str:
    """`SHIPPER_ES_TEMPLATE`; unset, a template file given means `install`."""
    file_name = r.first(*TEMPLATE_FILE)
    template: str = r.get(
        "SHIPPER_ES_TEMPLATE",
        parse=choice("none", "install"),
        default="install" if file_name else _DEFAULTS.es_template,
    )
    if file_name and not r.first("SHIPPER_ES_TEMPLATE"):
        r.derived("SHIPPER_ES_TEMPLATE", f"{file_name} is set")
    return template
