"""The typed settings, built once at startup: one part per component, each handed its own.

`Settings` is made of parts, one per component: `tail`, `sink` (the output, Elasticsearch,
targets, batching and retries: what the sinks take), `kube`, `records`, `filters`, `node`
(the journal and node files), `observe`. They follow the configuration table's modules
(`shipper/config/table/`), except where a row there is used by one other component only
(`SHIPPER_MAX_RECORD_BYTES` -> `records`, `SHIPPER_DE_DOT*` -> `kube`). Field names
follow the variables: `SHIPPER_ES_HOSTS` -> `settings.sink.es_hosts`. A value several
components use (`once`, `request_timeout`, `state_dir`, `schema`) stays in one part and
the agent passes it to the others explicitly. Defaults here are the README's, already
parsed (seconds as float, sizes as int bytes), so tests build the part they need
directly; `shipper.config` builds the whole from the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from shipper.transforms.filtering.filters import FilterRule
    from shipper.transforms.filtering.rate_limit import RateLimit
    from shipper.transforms.multiline.custom import CustomRule

ReadFrom = Literal["head", "tail"]
OnOff = Literal["auto", "on", "off"]
OpType = Literal["create", "index"]
Schema = Literal["fluentd", "ecs"]

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
class TailSettings:
    """The tail source: which files, where reading starts, how records are cut."""

    paths: tuple[str, ...] = ("/var/log/containers/*.log",)
    exclude_paths: tuple[str, ...] = ()
    read_from: ReadFrom = "head"
    state_dir: str = "/var/lib/shipper"
    rotate_wait: float = 5.0
    scan_interval: float = 10.0
    pod_name: str | None = None  # POD_NAME: the agent's own pod, always excluded
    pod_namespace: str | None = None  # POD_NAMESPACE

    @property
    def positions_path(self) -> str:
        return f"{self.state_dir.rstrip('/')}/positions.json"

    @property
    def dead_letter_path(self) -> str:
        """The sinks' dead letters live in the same state directory."""
        return f"{self.state_dir.rstrip('/')}/dead-letter.ndjson"


@dataclass(frozen=True, slots=True)
class SinkSettings:
    """Where documents go: the output, Elasticsearch, its targets, batching and retries."""

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
    schema: Schema = "fluentd"
    batch_max_bytes: int = 5 * 1024 * 1024
    batch_max_records: int = 10000
    flush_interval: float = 1.0
    concurrency: int = 2
    buffer_max_bytes: int = 16 * 1024 * 1024
    retry_max_backoff: float = 30.0
    request_timeout: float = 30.0
    once_retry_timeout: float = 60.0
    dead_letter_max_bytes: int = 100 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class KubernetesSettings:
    """The Kubernetes metadata: whether it is on, how the API server is reached, what is
    added, and how dots in label and annotation keys are replaced."""

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
    de_dot: bool = True
    de_dot_separator: str = "_"


@dataclass(frozen=True, slots=True)
class RecordSettings:
    """What is done to each record's content: its length, JSON fields, stack traces."""

    max_record_bytes: int = 1024 * 1024
    merge_json: bool = False
    merge_json_key: str = "json"
    multiline: str | None = None  # java, python, go or a name of multiline_rules
    multiline_rules: tuple[CustomRule, ...] = ()


@dataclass(frozen=True, slots=True)
class FilterSettings:
    """Which records go no further: drop and keep rules, rate limits and their markers."""

    filters: tuple[FilterRule, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()
    namespace_rate_limits: bool = False  # read namespaces' shipper.io/rate-limit
    rate_limit_interval: float = 10.0  # a file's drop marker at most this often


@dataclass(frozen=True, slots=True)
class NodeLogSettings:
    """The node's own logs: the journal and the node's files (empty tuples turn them off)."""

    journal_units: tuple[str, ...] = JOURNAL_UNITS
    journal_paths: tuple[str, ...] = ("/var/log/journal", "/run/log/journal")
    journal_index: str | None = None  # None: SHIPPER_ES_INDEX
    node_log_paths: tuple[str, ...] = NODE_LOG_PATHS


@dataclass(frozen=True, slots=True)
class ObserveSettings:
    """The agent's own metrics endpoint and log."""

    metrics_addr: str = "0.0.0.0:24231"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole: only the wiring (agent, cli) and what explains every variable
    (check-config, preflight, connect) take it; components take their part."""

    tail: TailSettings = field(default_factory=TailSettings)
    sink: SinkSettings = field(default_factory=SinkSettings)
    kube: KubernetesSettings = field(default_factory=KubernetesSettings)
    records: RecordSettings = field(default_factory=RecordSettings)
    filters: FilterSettings = field(default_factory=FilterSettings)
    node: NodeLogSettings = field(default_factory=NodeLogSettings)
    observe: ObserveSettings = field(default_factory=ObserveSettings)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Settings:
        """The whole from one value per field name, each handed to the part declaring it."""
        parts = {
            name: part(**{f.name: values[f.name] for f in fields(part)})
            for name, part in _PARTS.items()
        }
        return cls(**parts)

    def value(self, name: str) -> Any:
        """One field by its name, from whichever part holds it (check-config, defaults)."""
        return getattr(getattr(self, _PART_OF[name]), name)

    @staticmethod
    def field_names() -> list[str]:
        """Every field of every part, in the parts' order."""
        return list(_PART_OF)


# Each part's type; its attribute on `Settings` is its key.
_PARTS: dict[str, Any] = {
    "tail": TailSettings,
    "sink": SinkSettings,
    "kube": KubernetesSettings,
    "records": RecordSettings,
    "filters": FilterSettings,
    "node": NodeLogSettings,
    "observe": ObserveSettings,
}
_PART_OF = {f.name: name for name, part in _PARTS.items() for f in fields(part)}
