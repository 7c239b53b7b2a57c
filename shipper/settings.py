"""The one typed settings object, built once at startup and passed down.

Field names follow the variables: `SHIPPER_ES_HOSTS` -> `es_hosts`. Defaults here are
the README's defaults, already parsed (seconds as float, sizes as int bytes), so tests
can build a `Settings(...)` directly; `shipper.config` builds one from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from shipper.transforms.filtering.filters import FilterRule
    from shipper.transforms.filtering.rate_limit import RateLimit
    from shipper.transforms.multiline.custom import CustomRule

ReadFrom = Literal["head", "tail"]
OnOff = Literal["auto", "on", "off"]
OpType = Literal["create", "index"]

# The journal units and node files the fluentd-elasticsearch image reads (its systemd.conf
# and kubernetes.conf), with the container runtimes it predates.
JOURNAL_UNITS = ("kubelet.service", "containerd.service", "docker.service", "crio.service")
NODE_LOG_PATHS = tuple(
    f"/var/log/{name}"
    for name in (
        "salt/minion",
        "startupscript.log",
        "docker.log",
        "etcd.log",
        "kubelet.log",
        "kube-proxy.log",
        "kube-apiserver.log",
        "kube-controller-manager.log",
        "kube-scheduler.log",
        "rescheduler.log",
        "glbc.log",
        "cluster-autoscaler.log",
    )
)


@dataclass(frozen=True, slots=True)
class Output:
    """Where documents go: `elasticsearch`, `stdout`, or `file` (with `path`);
    `distribution` is `opensearch` when SHIPPER_OUTPUT said so (else `GET /` tells)."""

    kind: Literal["elasticsearch", "stdout", "file"]
    path: str | None = None
    distribution: Literal["opensearch"] | None = None

    def __str__(self) -> str:
        if self.distribution:
            return self.distribution
        return f"file:{self.path}" if self.kind == "file" else self.kind


@dataclass(frozen=True, slots=True)
class Settings:
    # --- tail source
    paths: tuple[str, ...] = ("/var/log/containers/*.log",)
    exclude_paths: tuple[str, ...] = ()
    read_from: ReadFrom = "head"
    state_dir: str = "/var/lib/shipper"
    max_record_bytes: int = 1024 * 1024
    rotate_wait: float = 5.0
    scan_interval: float = 10.0
    pod_name: str | None = None  # POD_NAME: the agent's own pod, always excluded
    pod_namespace: str | None = None  # POD_NAMESPACE
    # --- output
    output: Output = field(default_factory=lambda: Output("stdout"))
    once: bool = False
    es_hosts: tuple[str, ...] = ()
    es_user: str | None = None
    es_password: str | None = None
    es_api_key: str | None = None
    es_ca_file: str | None = None
    es_client_cert: str | None = None
    es_client_key: str | None = None
    es_tls_verify: bool = True
    es_index: str = "logstash-%Y.%m.%d"
    es_op_type: OpType = "create"
    es_id: Literal["auto", "none"] = "auto"
    es_pipeline: str | None = None
    es_compression: Literal["none", "gzip"] = "none"
    es_template: Literal["none", "install"] = "none"
    es_template_name: str = "shipper"  # FLUENT_ELASTICSEARCH_TEMPLATE_NAME
    es_template_file: str | None = None  # FLUENT_ELASTICSEARCH_TEMPLATE_FILE
    es_template_overwrite: bool = False  # FLUENT_ELASTICSEARCH_TEMPLATE_OVERWRITE
    # --- targets: data streams, lifecycle, Amazon OpenSearch (SigV4), ECS documents
    es_data_stream: str | None = None  # replaces the daily index names when set
    es_lifecycle_policy: str | None = None  # ILM (Elasticsearch) or ISM (OpenSearch) policy
    es_template_priority: int | None = None  # None: see sinks/elasticsearch/target_template.py
    es_aws_region: str | None = None  # set: every request is signed with AWS SigV4
    es_aws_service: Literal["es", "aoss"] = "es"
    schema: Literal["fluentd", "ecs"] = "fluentd"
    batch_max_bytes: int = 5 * 1024 * 1024
    batch_max_records: int = 10000
    flush_interval: float = 1.0
    concurrency: int = 2
    buffer_max_bytes: int = 16 * 1024 * 1024
    retry_max_backoff: float = 30.0
    request_timeout: float = 30.0
    once_retry_timeout: float = 60.0
    dead_letter_max_bytes: int = 100 * 1024 * 1024
    # --- kubernetes metadata
    kubernetes: OnOff = "auto"
    kubernetes_enabled: bool = False  # `kubernetes` resolved against the environment
    kube_url: str | None = None
    kube_token_file: str = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    kube_ca_file: str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
    kube_verify_tls: bool = True  # KUBERNETES_VERIFY_SSL
    node_name: str | None = None
    kube_labels: bool = True
    kube_annotations: bool = False
    kube_namespace_labels: bool = False
    kube_max_metadata_bytes: int = 16 * 1024  # labels and annotations per document, encoded
    # --- structured logs
    merge_json: bool = False
    merge_json_key: str = "json"
    multiline: str | None = None  # java, python, go or a name of multiline_rules
    multiline_rules: tuple[CustomRule, ...] = ()
    de_dot: bool = True
    de_dot_separator: str = "_"
    # --- drop, keep, throttle
    filters: tuple[FilterRule, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()
    namespace_rate_limits: bool = False  # read namespaces' shipper.io/rate-limit
    rate_limit_interval: float = 10.0  # a file's drop marker at most this often
    # --- observability
    metrics_addr: str = "0.0.0.0:24231"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    # --- node logs: the journal and the node's own files (empty tuples turn them off)
    journal_units: tuple[str, ...] = JOURNAL_UNITS
    journal_paths: tuple[str, ...] = ("/var/log/journal", "/run/log/journal")
    journal_index: str | None = None  # None: SHIPPER_ES_INDEX
    node_log_paths: tuple[str, ...] = NODE_LOG_PATHS

    @property
    def positions_path(self) -> str:
        return f"{self.state_dir.rstrip('/')}/positions.json"

    @property
    def dead_letter_path(self) -> str:
        return f"{self.state_dir.rstrip('/')}/dead-letter.ndjson"
