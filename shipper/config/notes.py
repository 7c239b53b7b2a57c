"""Notes on variables that are set but not acted on: fluentd-only ones and unknown SHIPPER_*."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from shipper.config.load import known_variables

# Variables of the fluentd-elasticsearch image that shipper accepts without acting on them.
IGNORED: dict[str, str] = {
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
    "FLUENTD_PROMETHEUS_CONF": "metrics are always served at SHIPPER_METRICS_ADDR",
    "FLUENTD_PROMETHEUS_PATH": "metrics are served at /metrics",
    "FLUENTD_CONF": "there is no fluentd configuration file",
    "FLUENTD_OPT": "there is no fluentd command line",
    "FLUENT_UID": "legacy setting of old images",
}


def ignored_variables(env: Mapping[str, str]) -> list[str]:
    """Notes on set variables shipper does not act on: fluentd-only ones and unknown SHIPPER_*.

    An unknown SHIPPER_* name gets the closest known one as a suggestion.
    """
    known = known_variables()
    candidates = sorted(known)
    notes = [f"{name} is ignored: {why}" for name, why in IGNORED.items() if env.get(name)]
    for name in sorted(env):
        if name.startswith("SHIPPER_") and name not in known:
            close = difflib.get_close_matches(name, candidates, n=1)
            hint = f"did you mean {close[0]}?" if close else "misspelled?"
            notes.append(f"{name} is not a shipper variable; {hint}")
    return notes
