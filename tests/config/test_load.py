from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from shipper.config import (
    ConfigError,
    RunFlags,
    explain,
    ignored_variables,
    known_variables,
    load_settings,
    split_host_port,
)
from shipper.settings import Output, Settings

MIB = 1024 * 1024


def errors_of(env: dict[str, str], flags: RunFlags | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env, flags)
    return caught.value.errors


# --- defaults


def test_empty_environment_gives_spec_defaults() -> None:
    s = load_settings({})
    assert s == Settings()
    # The README's table, written out independently of Settings' own defaults.
    spec = {
        "paths": ("/var/log/containers/*.log",),
        "exclude_paths": (),
        "read_from": "head",
        "state_dir": "/var/lib/shipper",
        "max_record_bytes": MIB,
        "rotate_wait": 5.0,
        "scan_interval": 10.0,
        "output": Output("stdout"),
        "es_hosts": (),
        "es_tls_verify": True,
        "es_index": "logstash-%Y.%m.%d",
        "es_op_type": "create",
        "es_id": "auto",
        "es_compression": "none",
        "es_template": "none",
        "batch_max_bytes": 5 * MIB,
        "batch_max_records": 10000,
        "flush_interval": 1.0,
        "concurrency": 2,
        "buffer_max_bytes": 16 * MIB,
        "retry_max_backoff": 30.0,
        "request_timeout": 30.0,
        "once_retry_timeout": 60.0,
        "dead_letter_max_bytes": 100 * MIB,
        "kubernetes": "auto",
        "kubernetes_enabled": False,
        "kube_token_file": "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "kube_ca_file": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
        "kube_labels": True,
        "kube_annotations": False,
        "kube_namespace_labels": False,
        "kube_max_metadata_bytes": 16 * 1024,
        "merge_json": False,
        "merge_json_key": "json",
        "multiline": None,
        "de_dot": True,
        "de_dot_separator": "_",
        "metrics_addr": "0.0.0.0:24231",
        "log_level": "info",
        "log_format": "json",
    }
    assert {name: getattr(s, name) for name in spec} == spec


def test_empty_variables_count_as_unset() -> None:
    env = {"SHIPPER_FLUSH_INTERVAL": "", "SHIPPER_PATHS": "", "FLUENT_CONTAINER_TAIL_PATH": "/x/*"}
    s = load_settings(env)
    assert s.flush_interval == 1.0
    assert s.paths == ("/x/*",)


def test_empty_merge_json_key_is_meaningful() -> None:
    assert load_settings({"SHIPPER_MERGE_JSON_KEY": ""}).merge_json_key == ""
    assert load_settings({"SHIPPER_MERGE_JSON_KEY": "app"}).merge_json_key == "app"


# --- every variable, and precedence


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({"SHIPPER_PATHS": "/a/*.log, /b/*.log"}, "paths", ("/a/*.log", "/b/*.log")),
        ({"FLUENT_CONTAINER_TAIL_PATH": "/a/*.log,/b/*.log"}, "paths", ("/a/*.log", "/b/*.log")),
        ({"SHIPPER_EXCLUDE_PATHS": "/a/x*,/a/y*"}, "exclude_paths", ("/a/x*", "/a/y*")),
        ({"SHIPPER_EXCLUDE_PATHS": '["/a/x*", "/a/y,z*"]'}, "exclude_paths", ("/a/x*", "/a/y,z*")),
        ({"FLUENT_CONTAINER_TAIL_EXCLUDE_PATH": '["/a/x*"]'}, "exclude_paths", ("/a/x*",)),
        ({"FLUENT_CONTAINER_TAIL_EXCLUDE_PATH": "/a/x*,/b/*"}, "exclude_paths", ("/a/x*", "/b/*")),
        ({"POD_NAME": "shipper-abc"}, "pod_name", "shipper-abc"),
        ({"POD_NAMESPACE": "logging"}, "pod_namespace", "logging"),
        ({"SHIPPER_READ_FROM": "TAIL"}, "read_from", "tail"),
        ({"SHIPPER_STATE_DIR": "/tmp/st"}, "state_dir", "/tmp/st"),
        ({"SHIPPER_MAX_RECORD_BYTES": "64KiB"}, "max_record_bytes", 65536),
        ({"SHIPPER_ROTATE_WAIT": "500ms"}, "rotate_wait", 0.5),
        ({"SHIPPER_SCAN_INTERVAL": "2m"}, "scan_interval", 120.0),
        ({"SHIPPER_OUTPUT": "file:/tmp/out.ndjson"}, "output", Output("file", "/tmp/out.ndjson")),
        ({"SHIPPER_OUTPUT": "STDOUT"}, "output", Output("stdout")),
        ({"SHIPPER_ES_USER": "elastic"}, "es_user", "elastic"),
        ({"FLUENT_ELASTICSEARCH_USER": "elastic"}, "es_user", "elastic"),
        ({"SHIPPER_ES_USER": "u", "SHIPPER_ES_PASSWORD": "p w"}, "es_password", "p w"),
        ({"FLUENT_ELASTICSEARCH_USER": "u", "FLUENT_ELASTICSEARCH_PASSWORD": "p"}, "es_password",
         "p"),
        ({"SHIPPER_ES_API_KEY": "a2V5"}, "es_api_key", "a2V5"),
        ({"SHIPPER_ES_TLS_VERIFY": "false"}, "es_tls_verify", False),
        ({"FLUENT_ELASTICSEARCH_SSL_VERIFY": "false"}, "es_tls_verify", False),
        ({"SHIPPER_ES_INDEX": "logs-{kubernetes.namespace_name}-%Y.%m"}, "es_index",
         "logs-{kubernetes.namespace_name}-%Y.%m"),
        ({"SHIPPER_ES_OP_TYPE": "index"}, "es_op_type", "index"),
        ({"SHIPPER_ES_ID": "none"}, "es_id", "none"),
        ({"SHIPPER_ES_PIPELINE": "geoip"}, "es_pipeline", "geoip"),
        ({"SHIPPER_ES_COMPRESSION": "gzip"}, "es_compression", "gzip"),
        ({"SHIPPER_ES_TEMPLATE": "install"}, "es_template", "install"),
        ({"SHIPPER_ES_TEMPLATE_NAME": "logs"}, "es_template_name", "logs"),
        ({"FLUENT_ELASTICSEARCH_TEMPLATE_NAME": "logs"}, "es_template_name", "logs"),
        ({"SHIPPER_ES_TEMPLATE_OVERWRITE": "yes"}, "es_template_overwrite", True),
        ({"FLUENT_ELASTICSEARCH_TEMPLATE_OVERWRITE": "true"}, "es_template_overwrite", True),
        ({"SHIPPER_BATCH_MAX_BYTES": "1MiB"}, "batch_max_bytes", MIB),
        ({"FLUENT_ELASTICSEARCH_BUFFER_CHUNK_LIMIT_SIZE": "2M"}, "batch_max_bytes", 2 * MIB),
        ({"SHIPPER_BATCH_MAX_RECORDS": "500"}, "batch_max_records", 500),
        ({"SHIPPER_FLUSH_INTERVAL": "250ms"}, "flush_interval", 0.25),
        ({"FLUENT_ELASTICSEARCH_BUFFER_FLUSH_INTERVAL": "5s"}, "flush_interval", 5.0),
        ({"SHIPPER_CONCURRENCY": "4"}, "concurrency", 4),
        ({"FLUENT_ELASTICSEARCH_BUFFER_FLUSH_THREAD_COUNT": "8"}, "concurrency", 8),
        ({"SHIPPER_BUFFER_MAX_BYTES": "64MiB"}, "buffer_max_bytes", 64 * MIB),
        ({"SHIPPER_RETRY_MAX_BACKOFF": "1m"}, "retry_max_backoff", 60.0),
        ({"FLUENT_ELASTICSEARCH_BUFFER_RETRY_MAX_INTERVAL": "30"}, "retry_max_backoff", 30.0),
        ({"SHIPPER_REQUEST_TIMEOUT": "10s"}, "request_timeout", 10.0),
        ({"FLUENT_ELASTICSEARCH_REQUEST_TIMEOUT": "5s"}, "request_timeout", 5.0),
        ({"SHIPPER_ONCE_RETRY_TIMEOUT": "0"}, "once_retry_timeout", 0.0),
        ({"SHIPPER_DEAD_LETTER_MAX_BYTES": "1g"}, "dead_letter_max_bytes", 1024**3),
        ({"SHIPPER_KUBE_TOKEN_FILE": "/tok"}, "kube_token_file", "/tok"),
        ({"KUBERNETES_VERIFY_SSL": "false"}, "kube_verify_tls", False),
        ({"SHIPPER_KUBE_TLS_VERIFY": "off"}, "kube_verify_tls", False),
        ({"NODE_NAME": "node-1"}, "node_name", "node-1"),
        ({"K8S_NODE_NAME": "node-2"}, "node_name", "node-2"),
        ({"SHIPPER_KUBE_LABELS": "false"}, "kube_labels", False),
        ({"FLUENT_KUBERNETES_METADATA_SKIP_LABELS": "true"}, "kube_labels", False),
        ({"FLUENT_KUBERNETES_METADATA_SKIP_LABELS": "false"}, "kube_labels", True),
        ({"SHIPPER_KUBE_ANNOTATIONS": "1"}, "kube_annotations", True),
        ({"SHIPPER_KUBE_NAMESPACE_LABELS": "on"}, "kube_namespace_labels", True),
        ({"SHIPPER_KUBE_MAX_METADATA_BYTES": "64KiB"}, "kube_max_metadata_bytes", 64 * 1024),
        ({"SHIPPER_KUBE_MAX_METADATA_BYTES": "4k"}, "kube_max_metadata_bytes", 4096),
        ({"SHIPPER_MERGE_JSON": "true"}, "merge_json", True),
        ({"SHIPPER_MULTILINE": "Java"}, "multiline", "java"),
        ({"SHIPPER_MULTILINE": "python"}, "multiline", "python"),
        ({"SHIPPER_MULTILINE": "go"}, "multiline", "go"),
        ({"SHIPPER_DE_DOT": "no"}, "de_dot", False),
        ({"SHIPPER_DE_DOT_SEPARATOR": "__"}, "de_dot_separator", "__"),
        ({"SHIPPER_METRICS_ADDR": "127.0.0.1:9000"}, "metrics_addr", "127.0.0.1:9000"),
        ({"SHIPPER_METRICS_ADDR": "[::]:0"}, "metrics_addr", "[::]:0"),
        ({"FLUENTD_PROMETHEUS_PORT": "24232"}, "metrics_addr", "0.0.0.0:24232"),
        ({"FLUENTD_PROMETHEUS_BIND": "::"}, "metrics_addr", "[::]:24231"),
        ({"FLUENTD_PROMETHEUS_BIND": "127.0.0.1", "FLUENTD_PROMETHEUS_PORT": "1"}, "metrics_addr",
         "127.0.0.1:1"),
        ({"SHIPPER_LOG_LEVEL": "debug"}, "log_level", "debug"),
        ({"SHIPPER_LOG_LEVEL": "WARN"}, "log_level", "warning"),
        ({"SHIPPER_LOG_LEVEL": "error"}, "log_level", "error"),
        ({"SHIPPER_LOG_FORMAT": "text"}, "log_format", "text"),
    ],
)  # fmt: skip
def test_each_variable_and_compat_name(env: dict[str, str], field: str, expected: Any) -> None:
    assert getattr(load_settings(env), field) == expected


@pytest.mark.parametrize(
    ("shipper", "compat", "field"),
    [
        (("SHIPPER_PATHS", "/s/*"), ("FLUENT_CONTAINER_TAIL_PATH", "/f/*"), "paths"),
        (("SHIPPER_FLUSH_INTERVAL", "2s"), ("FLUENT_ELASTICSEARCH_BUFFER_FLUSH_INTERVAL", "9s"),
         "flush_interval"),
        (("SHIPPER_CONCURRENCY", "3"), ("FLUENT_ELASTICSEARCH_BUFFER_FLUSH_THREAD_COUNT", "8"),
         "concurrency"),
        (("SHIPPER_ES_TLS_VERIFY", "true"), ("FLUENT_ELASTICSEARCH_SSL_VERIFY", "false"),
         "es_tls_verify"),
        (("SHIPPER_KUBE_LABELS", "true"), ("FLUENT_KUBERNETES_METADATA_SKIP_LABELS", "true"),
         "kube_labels"),
        (("NODE_NAME", "a"), ("K8S_NODE_NAME", "b"), "node_name"),
        (("SHIPPER_METRICS_ADDR", "1.2.3.4:5"), ("FLUENTD_PROMETHEUS_PORT", "6"), "metrics_addr"),
    ],
)  # fmt: skip
def test_shipper_name_beats_compat_name(
    shipper: tuple[str, str], compat: tuple[str, str], field: str
) -> None:
    both = load_settings(dict([shipper, compat]))
    alone = load_settings(dict([shipper]))
    only_compat = load_settings(dict([compat]))
    assert getattr(both, field) == getattr(alone, field)
    assert getattr(both, field) != getattr(only_compat, field)


def test_shadowed_compat_value_is_not_validated() -> None:
    env = {"SHIPPER_FLUSH_INTERVAL": "2s", "FLUENT_ELASTICSEARCH_BUFFER_FLUSH_INTERVAL": "junk"}
    assert load_settings(env).flush_interval == 2.0


def test_flags_beat_environment() -> None:
    env = {
        "SHIPPER_PATHS": "/env/*",
        "FLUENT_CONTAINER_TAIL_PATH": "/compat/*",
        "SHIPPER_EXCLUDE_PATHS": "/env/x*",
        "SHIPPER_STATE_DIR": "/env/state",
        "SHIPPER_OUTPUT": "stdout",
        "SHIPPER_ES_HOSTS": "http://env:9200",
        "FLUENT_ELASTICSEARCH_HOST": "compat",
    }
    flags = RunFlags(
        paths=("/flag/*",),
        exclude_paths=("/flag/x*",),
        state_dir="/flag/state",
        output="file:/tmp/o",
        es_hosts=("https://flag-a:9200/", "https://flag-b:9200"),
        once=True,
    )
    s = load_settings(env, flags)
    assert s.paths == ("/flag/*",)
    assert s.exclude_paths == ("/flag/x*",)
    assert s.state_dir == "/flag/state"
    assert s.output == Output("file", "/tmp/o")
    assert s.es_hosts == ("https://flag-a:9200", "https://flag-b:9200")
    assert s.once is True
    without = load_settings(env)
    assert (without.paths, without.state_dir, without.once) == (("/env/*",), "/env/state", False)
    assert without.es_hosts == ("http://env:9200",)


def test_es_flag_alone_makes_elasticsearch_the_output() -> None:
    s = load_settings({}, RunFlags(es_hosts=("http://127.0.0.1:9200",)))
    assert s.output == Output("elasticsearch")


# --- Elasticsearch hosts and index


def test_es_hosts_list_strips_trailing_slash_and_selects_elasticsearch() -> None:
    s = load_settings({"SHIPPER_ES_HOSTS": "https://es-0:9200/, https://[fd00::1]:9200/proxy/"})
    assert s.es_hosts == ("https://es-0:9200", "https://[fd00::1]:9200/proxy")
    assert s.output == Output("elasticsearch")


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({"FLUENT_ELASTICSEARCH_HOST": "es.logging"}, "http://es.logging:9200"),
        (
            {
                "FLUENT_ELASTICSEARCH_HOST": "es.logging",
                "FLUENT_ELASTICSEARCH_PORT": "443",
                "FLUENT_ELASTICSEARCH_SCHEME": "https",
                "FLUENT_ELASTICSEARCH_PATH": "elastic/",
            },
            "https://es.logging:443/elastic",
        ),
        ({"FLUENT_ELASTICSEARCH_HOST": "fd00::7"}, "http://[fd00::7]:9200"),
        ({"FLUENT_ELASTICSEARCH_HOST": "[fd00::7]", "FLUENT_ELASTICSEARCH_PATH": "/p"},
         "http://[fd00::7]:9200/p"),
    ],
)  # fmt: skip
def test_es_host_from_fluentd_names(env: dict[str, str], url: str) -> None:
    s = load_settings(env)
    assert s.es_hosts == (url,)
    assert s.output == Output("elasticsearch")


@pytest.mark.parametrize(
    ("env", "index"),
    [
        ({"FLUENT_ELASTICSEARCH_LOGSTASH_PREFIX": "k8s"}, "k8s-%Y.%m.%d"),
        ({"FLUENT_ELASTICSEARCH_LOGSTASH_DATEFORMAT": "%Y.%m"}, "logstash-%Y.%m"),
        (
            {
                "FLUENT_ELASTICSEARCH_LOGSTASH_FORMAT": "true",
                "FLUENT_ELASTICSEARCH_LOGSTASH_PREFIX": "app",
                "FLUENT_ELASTICSEARCH_LOGSTASH_DATEFORMAT": "%Y%m%d",
            },
            "app-%Y%m%d",
        ),
        ({"FLUENT_ELASTICSEARCH_LOGSTASH_FORMAT": "false"}, "logstash"),
        (
            {
                "FLUENT_ELASTICSEARCH_LOGSTASH_FORMAT": "false",
                "FLUENT_ELASTICSEARCH_LOGSTASH_INDEX_NAME": "fluentd",
                "FLUENT_ELASTICSEARCH_LOGSTASH_PREFIX": "unused",
            },
            "fluentd",
        ),
        (
            {"SHIPPER_ES_INDEX": "logs-%Y", "FLUENT_ELASTICSEARCH_LOGSTASH_PREFIX": "unused"},
            "logs-%Y",
        ),
    ],
)
def test_index_from_logstash_names(env: dict[str, str], index: str) -> None:
    assert load_settings(env).es_index == index


def test_template_file_implies_install_unless_told_otherwise(tmp_path: Path) -> None:
    template = tmp_path / "template.json"
    template.write_text("{}")
    compat = load_settings({"FLUENT_ELASTICSEARCH_TEMPLATE_FILE": str(template)})
    assert (compat.es_template, compat.es_template_file) == ("install", str(template))
    told = load_settings({"SHIPPER_ES_TEMPLATE_FILE": str(template), "SHIPPER_ES_TEMPLATE": "none"})
    assert told.es_template == "none"


def test_tls_files_that_exist_are_accepted(tmp_path: Path) -> None:
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for path in paths.values():
        path.write_text("PEM")
    s = load_settings(
        {
            "SHIPPER_ES_CA_FILE": str(paths["ca"]),
            "SHIPPER_ES_CLIENT_CERT": str(paths["cert"]),
            "SHIPPER_ES_CLIENT_KEY": str(paths["key"]),
            "KUBERNETES_CA_FILE": str(paths["ca"]),
        }
    )
    assert (s.es_ca_file, s.es_client_cert, s.es_client_key) == tuple(
        str(paths[n]) for n in ("ca", "cert", "key")
    )
    assert s.kube_ca_file == str(paths["ca"])


# --- Kubernetes


def test_kubernetes_auto_is_off_outside_a_cluster() -> None:
    s = load_settings({})
    assert (s.kubernetes, s.kubernetes_enabled, s.kube_url) == ("auto", False, None)


def test_kubernetes_auto_in_cluster_builds_url_from_service_variables() -> None:
    s = load_settings({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    assert (s.kubernetes_enabled, s.kube_url) == (True, "https://10.96.0.1:443")
    v6 = load_settings({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"})
    assert v6.kube_url == "https://[fd00::1]:6443"


def test_kube_url_precedence_and_fluentd_api_suffix() -> None:
    service = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    compat = {"FLUENT_FILTER_KUBERNETES_URL": "https://api.example:6443/api"}
    assert load_settings(service | compat).kube_url == "https://api.example:6443"
    s = load_settings(service | compat | {"SHIPPER_KUBE_URL": "http://127.0.0.1:8001/"})
    assert s.kube_url == "http://127.0.0.1:8001"
    assert load_settings({"SHIPPER_KUBE_URL": "http://127.0.0.1:8001"}).kubernetes_enabled


def test_kubernetes_on_and_off() -> None:
    on = load_settings({"SHIPPER_KUBERNETES": "on", "SHIPPER_KUBE_URL": "https://k:6443"})
    assert (on.kubernetes, on.kubernetes_enabled) == ("on", True)
    off = load_settings({"SHIPPER_KUBERNETES": "off", "KUBERNETES_SERVICE_HOST": "10.96.0.1"})
    assert (off.kubernetes, off.kubernetes_enabled) == ("off", False)


# --- errors


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SHIPPER_FLUSH_INTERVAL": "abc"},
         "SHIPPER_FLUSH_INTERVAL='abc': not a duration (examples: 500ms, 5s, 2m, 1h, 10)"),
        ({"SHIPPER_BATCH_MAX_BYTES": "lots"}, "SHIPPER_BATCH_MAX_BYTES='lots': not a size"),
        ({"SHIPPER_BATCH_MAX_BYTES": "512"}, "SHIPPER_BATCH_MAX_BYTES='512': must be at least 1K"),
        ({"SHIPPER_BUFFER_MAX_BYTES": "100KiB"},
         "SHIPPER_BUFFER_MAX_BYTES='100KiB': must be at least 256KiB"),
        ({"SHIPPER_KUBE_MAX_METADATA_BYTES": "512"},
         "SHIPPER_KUBE_MAX_METADATA_BYTES='512': must be at least 1KiB"),
        ({"SHIPPER_KUBE_MAX_METADATA_BYTES": "lots"}, "SHIPPER_KUBE_MAX_METADATA_BYTES='lots'"),
        ({"SHIPPER_MAX_RECORD_BYTES": "0"}, "SHIPPER_MAX_RECORD_BYTES='0': must be at least"),
        ({"SHIPPER_DEAD_LETTER_MAX_BYTES": "0"}, "SHIPPER_DEAD_LETTER_MAX_BYTES='0': must be at"),
        ({"SHIPPER_CONCURRENCY": "0"}, "SHIPPER_CONCURRENCY='0': must be at least 1"),
        ({"FLUENT_ELASTICSEARCH_BUFFER_FLUSH_THREAD_COUNT": "x"},
         "FLUENT_ELASTICSEARCH_BUFFER_FLUSH_THREAD_COUNT='x': not a whole number"),
        ({"SHIPPER_BATCH_MAX_RECORDS": "1.5"}, "SHIPPER_BATCH_MAX_RECORDS='1.5': not a whole"),
        ({"SHIPPER_SCAN_INTERVAL": "0"}, "SHIPPER_SCAN_INTERVAL='0': must be at least 100ms"),
        ({"SHIPPER_REQUEST_TIMEOUT": "0s"}, "SHIPPER_REQUEST_TIMEOUT='0s': must be at least"),
        ({"SHIPPER_MERGE_JSON": "maybe"},
         "SHIPPER_MERGE_JSON='maybe': not a boolean (accepted: true, false, yes, no, on, off, 1"),
        ({"FLUENT_ELASTICSEARCH_SSL_VERIFY": "si"}, "FLUENT_ELASTICSEARCH_SSL_VERIFY='si': not a"),
        ({"SHIPPER_READ_FROM": "middle"}, "SHIPPER_READ_FROM='middle': not one of: head, tail"),
        ({"SHIPPER_ES_OP_TYPE": "upsert"}, "SHIPPER_ES_OP_TYPE='upsert': not one of: create, ind"),
        ({"SHIPPER_ES_ID": "x"}, "SHIPPER_ES_ID='x': not one of: auto, none"),
        ({"SHIPPER_ES_COMPRESSION": "zstd"}, "SHIPPER_ES_COMPRESSION='zstd': not one of: none, g"),
        ({"SHIPPER_ES_TEMPLATE": "yes"}, "SHIPPER_ES_TEMPLATE='yes': not one of: none, install"),
        ({"SHIPPER_KUBERNETES": "maybe"}, "SHIPPER_KUBERNETES='maybe': not one of: auto, on, off"),
        ({"SHIPPER_MULTILINE": "ruby"}, "SHIPPER_MULTILINE='ruby': not one of: java, python, go"),
        ({"SHIPPER_LOG_LEVEL": "trace"}, "SHIPPER_LOG_LEVEL='trace': not one of: debug, info"),
        ({"SHIPPER_LOG_FORMAT": "xml"}, "SHIPPER_LOG_FORMAT='xml': not one of: json, text"),
        ({"SHIPPER_OUTPUT": "kafka"}, "SHIPPER_OUTPUT='kafka': not one of: elasticsearch, stdout"),
        ({"SHIPPER_OUTPUT": "file:"}, "SHIPPER_OUTPUT='file:': not one of"),
        ({"SHIPPER_OUTPUT": "elasticsearch"},
         "SHIPPER_OUTPUT='elasticsearch': needs hosts: set SHIPPER_ES_HOSTS"),
        ({"SHIPPER_ES_HOSTS": "es-0:9200"}, "SHIPPER_ES_HOSTS='es-0:9200': 'es-0:9200': not an"),
        ({"SHIPPER_ES_HOSTS": "http://a:9200,ftp://b"}, "'ftp://b': not an http(s) URL"),
        ({"SHIPPER_ES_HOSTS": "http://a:99999"}, "SHIPPER_ES_HOSTS='http://a:99999': 'http://a"),
        ({"SHIPPER_KUBE_URL": "https://u:pw@k8s:443"},
         "SHIPPER_KUBE_URL='https://u:***@k8s:443': credentials in the URL are not used"),
        ({"SHIPPER_ES_HOSTS": "http://es:9200/?x=1"}, "no query or fragment"),
        ({"FLUENT_ELASTICSEARCH_HOST": "http://es"}, "FLUENT_ELASTICSEARCH_HOST='http://es': not"),
        ({"FLUENT_ELASTICSEARCH_HOST": "es", "FLUENT_ELASTICSEARCH_PORT": "0"},
         "FLUENT_ELASTICSEARCH_PORT='0': not a port number (1-65535)"),
        ({"FLUENT_ELASTICSEARCH_HOST": "es", "FLUENT_ELASTICSEARCH_SCHEME": "ftp"},
         "FLUENT_ELASTICSEARCH_SCHEME='ftp': not one of: http, https"),
        ({"SHIPPER_ES_INDEX": "logs-{kubernetes..x}"}, "SHIPPER_ES_INDEX='logs-{kubernetes..x}'"),
        ({"SHIPPER_ES_INDEX": "logs-{a"}, "SHIPPER_ES_INDEX='logs-{a': unbalanced { or }"),
        ({"SHIPPER_ES_INDEX": "logs-a}"}, "unbalanced { or }"),
        ({"SHIPPER_ES_INDEX": "logs:%Y"}, "SHIPPER_ES_INDEX='logs:%Y': Elasticsearch index n"),
        ({"SHIPPER_ES_INDEX": "logs/x"}, "index names cannot contain '/'"),
        ({"FLUENT_ELASTICSEARCH_LOGSTASH_PREFIX": "My App"},
         "FLUENT_ELASTICSEARCH_LOGSTASH_PREFIX='My App': Elasticsearch index names cannot"),
        ({"FLUENT_ELASTICSEARCH_LOGSTASH_FORMAT": "nope"}, "FLUENT_ELASTICSEARCH_LOGSTASH_FORMAT="),
        ({"SHIPPER_PATHS": ", ,"}, "SHIPPER_PATHS=', ,': no path given"),
        ({"SHIPPER_EXCLUDE_PATHS": "[1, 2]"}, "SHIPPER_EXCLUDE_PATHS='[1, 2]': not a JSON arr"),
        ({"SHIPPER_EXCLUDE_PATHS": '["a"'}, "not a JSON array of strings"),
        ({"SHIPPER_ES_CA_FILE": "/nonexistent/ca.pem"},
         "SHIPPER_ES_CA_FILE='/nonexistent/ca.pem': no such file"),
        ({"KUBERNETES_CA_FILE": "/nonexistent/ca.pem"}, "KUBERNETES_CA_FILE='/nonexistent/ca.pem'"),
        ({"SHIPPER_ES_TEMPLATE_FILE": "/nonexistent/t.json"}, "SHIPPER_ES_TEMPLATE_FILE="),
        ({"SHIPPER_KUBERNETES": "on"},
         "SHIPPER_KUBERNETES='on': needs the API server: set SHIPPER_KUBE_URL"),
        ({"SHIPPER_KUBE_URL": "k8s:443"}, "SHIPPER_KUBE_URL='k8s:443': not an http(s) URL"),
        ({"FLUENT_FILTER_KUBERNETES_URL": "nope"}, "FLUENT_FILTER_KUBERNETES_URL='nope': not an"),
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "https"},
         "KUBERNETES_SERVICE_PORT='https': not a whole number"),
        ({"KUBERNETES_SERVICE_HOST": "https://x"}, "KUBERNETES_SERVICE_HOST='https://x': not a"),
        ({"SHIPPER_METRICS_ADDR": "24231"}, "SHIPPER_METRICS_ADDR='24231': not host:port"),
        ({"SHIPPER_METRICS_ADDR": "::1:80"}, "put an IPv6 address in brackets"),
        ({"SHIPPER_METRICS_ADDR": "0.0.0.0:70000"}, "SHIPPER_METRICS_ADDR='0.0.0.0:70000': not a"),
        ({"FLUENTD_PROMETHEUS_PORT": "-1"}, "FLUENTD_PROMETHEUS_PORT='-1': not a port number"),
        ({"SHIPPER_DE_DOT_SEPARATOR": "."}, "SHIPPER_DE_DOT_SEPARATOR='.': the separator"),
        ({"SHIPPER_ES_PASSWORD": "hunter2"},
         "SHIPPER_ES_PASSWORD=***: basic authentication also needs SHIPPER_ES_USER"),
        ({"SHIPPER_ES_USER": "u", "SHIPPER_ES_API_KEY": "k"}, "SHIPPER_ES_USER='u': set either"),
    ],
)  # fmt: skip
def test_one_error_naming_the_variable(env: dict[str, str], expected: str) -> None:
    errors = errors_of(env)
    assert len(errors) == 1, errors
    assert expected in errors[0]
    assert "hunter2" not in errors[0]


def test_client_cert_without_key_and_key_without_cert(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("PEM")
    [error] = errors_of({"SHIPPER_ES_CLIENT_CERT": str(pem)})
    assert error.startswith("SHIPPER_ES_CLIENT_CERT=") and "SHIPPER_ES_CLIENT_KEY" in error
    [error] = errors_of({"SHIPPER_ES_CLIENT_KEY": str(pem)})
    assert error.startswith("SHIPPER_ES_CLIENT_KEY=") and "SHIPPER_ES_CLIENT_CERT" in error


def test_all_errors_are_collected() -> None:
    env = {
        "SHIPPER_FLUSH_INTERVAL": "abc",
        "SHIPPER_CONCURRENCY": "zero",
        "SHIPPER_MERGE_JSON": "maybe",
        "SHIPPER_ES_INDEX": "bad?",
        "FLUENT_ELASTICSEARCH_REQUEST_TIMEOUT": "soon",
        "SHIPPER_READ_FROM": "middle",
    }
    errors = errors_of(env)
    assert sorted(e.split("=", 1)[0] for e in errors) == sorted(env)
    with pytest.raises(ConfigError, match="SHIPPER_FLUSH_INTERVAL='abc'"):
        load_settings(env)


def test_bad_flags_are_named() -> None:
    errors = errors_of({}, RunFlags(output="kafka", es_hosts=("es-0", "http://ok:9200")))
    assert len(errors) == 2
    assert errors[0].startswith("--es='es-0': not an http(s) URL")
    assert errors[1].startswith("--output='kafka': not one of")


def test_secret_values_never_appear_in_errors() -> None:
    env = {"FLUENT_ELASTICSEARCH_PASSWORD": "hunter2"}
    [error] = errors_of(env)
    assert error.startswith("FLUENT_ELASTICSEARCH_PASSWORD=***:")


@pytest.mark.parametrize(
    "word", ["true", "True", "YES", "on", "1", "false", "FALSE", "no", "Off", "0"]
)
def test_boolean_words(word: str) -> None:
    truthy = word.lower() in ("true", "yes", "on", "1")
    assert load_settings({"SHIPPER_DE_DOT": word}).de_dot is truthy


# --- notes and helpers


def test_ignored_variables_lists_fluentd_only_and_unknown_names() -> None:
    env = {
        "FLUENT_ELASTICSEARCH_SSL_VERSION": "TLSv1_2",
        "FLUENT_CONTAINER_TAIL_PARSER_TYPE": "cri",
        "FLUENT_ELASTICSEARCH_RELOAD_CONNECTIONS": "",
        "SHIPPER_FLUSH_INTERVALL": "1s",
        "SHIPPER_FLUSH_INTERVAL": "1s",
        "SHIPPER_MERGE_JSON_KEY": "",
        "FLUENT_ELASTICSEARCH_HOST": "es",
    }
    notes = ignored_variables(env)
    assert [note.split(" ", 1)[0] for note in notes] == [
        "FLUENT_ELASTICSEARCH_SSL_VERSION",
        "FLUENT_CONTAINER_TAIL_PARSER_TYPE",
        "SHIPPER_FLUSH_INTERVALL",
    ]
    assert all(len(note.split(" ", 1)[1]) > 10 for note in notes)
    assert load_settings(env).flush_interval == 1.0  # accepted, not an error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0:24231", ("0.0.0.0", 24231)),
        ("[::]:0", ("::", 0)),
        ("localhost:65535", ("localhost", 65535)),
    ],
)
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected


@pytest.mark.parametrize("text", ["24231", ":24231", "host:", "host:x", "::1:80", "h:65536"])
def test_split_host_port_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        split_host_port(text)


def test_upper_case_index_is_accepted_like_fluentd() -> None:
    # fluent-plugin-elasticsearch lower-cases the name; the index renderer does too.
    assert load_settings({"FLUENT_ELASTICSEARCH_LOGSTASH_PREFIX": "MyApp"}).es_index == (
        "MyApp-%Y.%m.%d"
    )


def test_merge_json_key_may_not_name_one_of_our_fields() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"SHIPPER_MERGE_JSON_KEY": "kubernetes"})
    assert info.value.errors[0].startswith("SHIPPER_MERGE_JSON_KEY='kubernetes'")
    with pytest.raises(ConfigError) as info:
        load_settings({"SHIPPER_MERGE_JSON_KEY": "kubernetes.app"})
    assert info.value.errors[0].startswith("SHIPPER_MERGE_JSON_KEY='kubernetes.app'")
    assert load_settings({"SHIPPER_MERGE_JSON_KEY": ""}).merge_json_key == ""


@pytest.mark.parametrize(
    ("misspelled", "suggested"),
    [
        ("SHIPPER_ES_HOST", "SHIPPER_ES_HOSTS"),
        ("SHIPPER_FLUSH_INTERVALL", "SHIPPER_FLUSH_INTERVAL"),
        ("SHIPPER_ES_APIKEY", "SHIPPER_ES_API_KEY"),
        ("SHIPPER_STATEDIR", "SHIPPER_STATE_DIR"),
    ],
)
def test_a_misspelled_variable_gets_a_suggestion(misspelled: str, suggested: str) -> None:
    assert ignored_variables({misspelled: "x"}) == [
        f"{misspelled} is not a shipper variable; did you mean {suggested}?"
    ]


def test_an_unknown_variable_far_from_any_name_gets_no_guess() -> None:
    assert ignored_variables({"SHIPPER_ZZZZZZZZZZZZZZZZZZ": "x"}) == [
        "SHIPPER_ZZZZZZZZZZZZZZZZZZ is not a shipper variable; misspelled?"
    ]


# --- credentials and secrets


def test_credentials_in_elasticsearch_urls_are_basic_auth_and_leave_the_urls() -> None:
    hosts = "https://elastic:ch%40nge%20me@es-0:9200/,https://es-1:9200"
    s = load_settings({"SHIPPER_ES_HOSTS": hosts})
    assert s.es_hosts == ("https://es-0:9200", "https://es-1:9200")
    assert (s.es_user, s.es_password) == ("elastic", "ch@nge me")
    flagged = load_settings({}, RunFlags(es_hosts=("http://u:pw@[::1]:9200/es",)))
    assert flagged.es_hosts == ("http://[::1]:9200/es",)
    assert (flagged.es_user, flagged.es_password) == ("u", "pw")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"SHIPPER_ES_HOSTS": "http://u:pw1@a,http://u:pw2@b"},
            "SHIPPER_ES_HOSTS='http://u:***@a,http://u:***@b': the URLs carry different "
            "credentials, but one user serves all hosts",
        ),
        (
            {"SHIPPER_ES_HOSTS": "http://u:secret@a", "SHIPPER_ES_USER": "v"},
            "SHIPPER_ES_HOSTS='http://u:***@a': credentials are given both in the URL and in "
            "SHIPPER_ES_USER/_PASSWORD or SHIPPER_ES_API_KEY: keep one",
        ),
        (
            {"SHIPPER_ES_HOSTS": "http://u:secret@a", "SHIPPER_ES_API_KEY": "k"},
            "SHIPPER_ES_HOSTS='http://u:***@a': credentials are given both",
        ),
        (
            {"SHIPPER_ES_HOSTS": "http://u:secret@a:x"},
            "SHIPPER_ES_HOSTS='http://u:***@a:x': 'http://u:***@a:x': bad port",
        ),
    ],
)
def test_url_credential_mistakes_are_masked(env: dict[str, str], expected: str) -> None:
    errors = errors_of(env)
    assert len(errors) == 1 and errors[0].startswith(expected), errors
    assert not any(word in errors[0] for word in ("pw1", "pw2", "secret"))


def test_keys_and_passwords_are_trimmed() -> None:
    s = load_settings({"SHIPPER_ES_USER": " elastic\n", "SHIPPER_ES_PASSWORD": "\tp w\r\n"})
    assert (s.es_user, s.es_password) == ("elastic", "p w")  # a space inside stays
    assert load_settings({"SHIPPER_ES_API_KEY": " a2V5Og==\n"}).es_api_key == "a2V5Og=="


@pytest.mark.parametrize("key", ["a2V5\nOg==", "a2V5 Og==", "a2V5Og==\x00", "clé"])
def test_an_api_key_with_whitespace_or_control_inside_is_refused_unshown(key: str) -> None:
    assert errors_of({"SHIPPER_ES_API_KEY": key}) == [
        "SHIPPER_ES_API_KEY=***: has a space, line break or non-ASCII character inside: it "
        "must be the one-word key Elasticsearch gave (its `encoded` value)"
    ]


# --- where each value came from


def sources(env: dict[str, str], flags: RunFlags | None = None, **kw: Any) -> dict[str, Any]:
    return {line.variable: (line.value, line.source) for line in explain(env, flags, **kw)}


def test_explain_names_the_variable_and_the_source_of_each_value() -> None:
    env = {
        "SHIPPER_READ_FROM": "tail",
        "FLUENT_ELASTICSEARCH_HOST": "es",
        "FLUENT_ELASTICSEARCH_PASSWORD": "pw",
        "FLUENT_ELASTICSEARCH_USER": "u",
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "FLUENT_ELASTICSEARCH_TEMPLATE_FILE": __file__,
    }
    shown = sources(env, RunFlags(state_dir="/tmp/s", once=True), terminal=True)
    assert shown["SHIPPER_READ_FROM"] == ("tail", "variable")
    assert shown["SHIPPER_STATE_DIR"] == ("/tmp/s", "flag --state-dir")
    assert shown["--once"] == (True, "flag --once")
    assert shown["SHIPPER_ES_HOSTS"] == (
        ("http://es:9200",),
        "derived: FLUENT_ELASTICSEARCH_HOST, _PORT, _SCHEME, _PATH",
    )
    assert shown["SHIPPER_ES_USER"] == ("u", "compat variable FLUENT_ELASTICSEARCH_USER")
    assert shown["SHIPPER_ES_PASSWORD"] == ("***", "compat variable FLUENT_ELASTICSEARCH_PASSWORD")
    assert shown["SHIPPER_OUTPUT"] == (
        Output("elasticsearch"),
        "derived: Elasticsearch hosts are set",
    )
    assert shown["SHIPPER_KUBE_URL"] == (
        "https://10.0.0.1:443",
        "derived: KUBERNETES_SERVICE_HOST and _PORT",
    )
    assert shown["SHIPPER_KUBERNETES (resolved)"] == (
        True,
        "derived: auto, and the API server is known from KUBERNETES_SERVICE_HOST",
    )
    assert shown["SHIPPER_ES_TEMPLATE"] == (
        "install",
        "derived: FLUENT_ELASTICSEARCH_TEMPLATE_FILE is set",
    )
    assert shown["SHIPPER_ES_TEMPLATE_NAME"] == ("shipper", "default")
    assert shown["SHIPPER_LOG_FORMAT"] == ("text", "derived: stderr is a terminal")
    assert sources({})["SHIPPER_LOG_FORMAT"] == ("json", "default")


def test_explain_covers_every_setting_with_a_variable_shipper_reads() -> None:
    shown = explain({})
    assert len(shown) == len(fields(Settings))
    known = known_variables()
    for line in shown:
        name = line.variable.removesuffix(" (resolved)")
        assert name in known or name == "--once", name


def test_errors_come_in_the_order_check_config_lists_the_variables_pairs_last(
    tmp_path: Path,
) -> None:
    pem = tmp_path / "key.pem"
    pem.write_text("PEM")
    env = {
        "SHIPPER_LOG_FORMAT": "xml",
        "SHIPPER_ES_CLIENT_KEY": str(pem),
        "SHIPPER_KUBERNETES": "on",
        "SHIPPER_FLUSH_INTERVAL": "abc",
        "SHIPPER_READ_FROM": "middle",
    }
    assert [error.split("=", 1)[0] for error in errors_of(env)] == [
        "SHIPPER_READ_FROM",
        "SHIPPER_FLUSH_INTERVAL",
        "SHIPPER_KUBERNETES",
        "SHIPPER_LOG_FORMAT",
        "SHIPPER_ES_CLIENT_KEY",
    ]
