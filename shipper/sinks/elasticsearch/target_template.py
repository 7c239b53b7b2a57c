"""The default index template, fitted to its target: engine, data stream, schema, priority.

Labels and annotations hold any keys, dotted ones included (`app` beside
`app.kubernetes.io/name` is refused by an object mapping). They are mapped as one field
that takes any object: `flattened` on Elasticsearch, `flat_object` on OpenSearch 2.7+,
and on older OpenSearch an object with `enabled: false` (kept in `_source`, not
indexed): no key can ever cause a mapping rejection there.

Elasticsearch ships a `logs-*-*` template (priority 100) that makes such names data
streams. Ours never takes over names it does not own: when its pattern covers every
`logs-*-*` name (`logs-*`), its priority is put below the built-in's unless
SHIPPER_ES_TEMPLATE_PRIORITY says otherwise; a data stream's own pattern
(`logs-kubernetes-*`) gets the usual 200.

SHIPPER_ES_LIFECYCLE_POLICY names an ILM policy in the template (`index.lifecycle.name`).
OpenSearch attaches ISM policies by the policy's own `ism_template` instead (index
templates no longer can): there the template is left without it and a warning says how.
"""

from __future__ import annotations

import fnmatch
import logging
from typing import Any

from shipper.settings import Settings
from shipper.sinks.elasticsearch.distribution import Cluster

log = logging.getLogger("shipper.elasticsearch")
PRIORITY = 200
BUILTIN_LOGS_PRIORITY = 100  # Elasticsearch's own `logs-*-*` template
BELOW_BUILTIN = BUILTIN_LOGS_PRIORITY - 1  # equal priorities with overlapping patterns fail
# A name only a wildcard of ours can match: a pattern matching it matches all of logs-*-*.
_ANY_LOGS_NAME = "logs-\x00-\x00"
_KEYWORD = {"type": "keyword"}


def keys_field(cluster: Cluster | None) -> dict[str, Any]:
    """The mapping of an object with arbitrary keys (labels, annotations) on `cluster`."""
    if cluster is None or cluster.distribution == "elasticsearch":
        return {"type": "flattened"}
    if cluster.flat_object:
        return {"type": "flat_object"}
    return {"type": "object", "enabled": False}


def covers_builtin_logs(patterns: list[str]) -> bool:
    """Whether one of `patterns` matches every name Elasticsearch's `logs-*-*` matches."""
    return any(fnmatch.fnmatchcase(_ANY_LOGS_NAME, pattern) for pattern in patterns)


def priority(settings: Settings, patterns: list[str]) -> int:
    """SHIPPER_ES_TEMPLATE_PRIORITY, else 200, or 99 when ours would shadow `logs-*-*`."""
    if settings.es_template_priority is not None:
        return settings.es_template_priority
    if covers_builtin_logs(patterns):
        log.warning(
            "the index template's pattern %s covers Elasticsearch's built-in logs-*-*: it gets "
            "priority %d so the built-in keeps its names (SHIPPER_ES_TEMPLATE_PRIORITY to change)",
            patterns,
            BELOW_BUILTIN,
        )
        return BELOW_BUILTIN
    return PRIORITY


def ecs_properties(keys: dict[str, Any]) -> dict[str, Any]:
    """Mappings of the ECS document (shipper.transforms.encoding.ecs), types as ECS defines them."""

    def obj(**properties: Any) -> dict[str, Any]:
        return {"properties": properties}

    return {
        "@timestamp": {"type": "date_nanos"},
        "message": {"type": "match_only_text"},
        "log": obj(iostream=_KEYWORD, file=obj(path=_KEYWORD), flags=_KEYWORD),
        "container": obj(
            id=_KEYWORD, name=_KEYWORD, image=obj(name=_KEYWORD, hash=obj(all=_KEYWORD))
        ),
        "kubernetes": obj(
            namespace=_KEYWORD,
            pod=obj(name=_KEYWORD, uid=_KEYWORD, ip={"type": "ip"}),
            node=obj(name=_KEYWORD),
            container=obj(name=_KEYWORD),
            labels=keys,
            annotations=keys,
            namespace_labels=keys,
        ),
        "host": obj(name=_KEYWORD),
        "ecs": obj(version=_KEYWORD),
    }


def fit(body: dict[str, Any], settings: Settings, cluster: Cluster | None) -> dict[str, Any]:
    """`body` (the default template) fitted to the target; changed in place and returned."""
    keys = keys_field(cluster)
    mappings = body["template"]["mappings"]
    if settings.schema == "ecs":
        properties = ecs_properties(keys)
        if cluster is None or cluster.distribution == "opensearch" or cluster.version < (7, 14):
            properties["message"] = {"type": "text"}  # match_only_text: Elasticsearch 7.14+
        mappings["properties"] = properties
    else:
        kubernetes = mappings["properties"]["kubernetes"]["properties"]
        kubernetes.update(labels=keys, annotations=keys, namespace_labels=keys)
    body["priority"] = priority(settings, body["index_patterns"])
    if settings.es_data_stream:
        body["data_stream"] = {}
    policy = settings.es_lifecycle_policy
    if policy and cluster is not None and cluster.distribution == "opensearch":
        log.warning(
            "SHIPPER_ES_LIFECYCLE_POLICY=%s: OpenSearch no longer takes an ISM policy from an "
            "index template; give the policy an ism_template with index_patterns %s instead",
            policy,
            body["index_patterns"],
        )
    elif policy:
        # As Elasticsearch gives settings back (nested, strings): the digest then matches.
        body["template"]["settings"] = {"index": {"lifecycle": {"name": policy}}}
    return body
