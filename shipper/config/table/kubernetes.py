"""The Kubernetes metadata: whether it is on, how the API server is reached, what is added."""

from __future__ import annotations

from shipper.config.derived import kubernetes as derived
from shipper.config.parsers import boolean, existing_file, size_at_least, text
from shipper.config.table.variable import Variable

KUBERNETES = (
    Variable(
        "SHIPPER_KUBERNETES",
        "kubernetes",
        "`auto` (on when `KUBERNETES_SERVICE_HOST` or a URL is set), `on`, `off`",
        default="auto",
        resolve=derived.mode,
    ),
    Variable(
        "SHIPPER_KUBERNETES (resolved)",
        "kubernetes_enabled",
        "`SHIPPER_KUBERNETES` resolved against the environment",
        resolve=derived.enabled,
    ),
    Variable(
        "SHIPPER_KUBE_URL",
        "kube_url",
        "API server; unset, `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`. "
        "The `/api` suffix of `FLUENT_FILTER_KUBERNETES_URL` is dropped",
        compat=(*derived.KUBE_URL_NAMES[1:], "KUBERNETES_SERVICE_PORT"),
        resolve=derived.url,
    ),
    Variable(
        "SHIPPER_KUBE_TOKEN_FILE",
        "kube_token_file",
        "re-read every minute and after a 401 (bound tokens rotate); the line break at its "
        "end is dropped. Missing at startup: a warning",
        text,
        default="/var/run/secrets/kubernetes.io/serviceaccount/token",
    ),
    Variable(
        "SHIPPER_KUBE_CA_FILE",
        "kube_ca_file",
        "PEM CA of the API server",
        existing_file,
        default="/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
        compat=("KUBERNETES_CA_FILE",),
    ),
    Variable(
        "SHIPPER_KUBE_TLS_VERIFY",
        "kube_verify_tls",
        "verify the API server's certificate",
        boolean,
        default="true",
        compat=("KUBERNETES_VERIFY_SSL",),
    ),
    Variable(
        "NODE_NAME",
        "node_name",
        "this node, from the downward API; only its pods are watched. Missing: a startup "
        "warning, and every pod of the cluster is watched",
        text,
        compat=("K8S_NODE_NAME",),
    ),
    Variable(
        "SHIPPER_KUBE_LABELS",
        "kube_labels",
        "include pod labels (the compat name is inverted: it skips them)",
        default="true",
        compat=(derived.SKIP_LABELS,),
        resolve=derived.labels,
    ),
    Variable(
        "SHIPPER_KUBE_ANNOTATIONS",
        "kube_annotations",
        "include pod annotations",
        boolean,
        default="false",
    ),
    Variable(
        "SHIPPER_KUBE_NAMESPACE_LABELS",
        "kube_namespace_labels",
        "add `kubernetes.namespace_labels` (one more watch, of namespaces)",
        boolean,
        default="false",
    ),
    Variable(
        "SHIPPER_KUBE_MAX_METADATA_BYTES",
        "kube_max_metadata_bytes",
        "at least `1KiB`: labels, annotations and namespace labels per document, encoded; "
        "past it they are trimmed (see Kubernetes metadata)",
        size_at_least("1KiB"),
        default="16KiB",
    ),
)
