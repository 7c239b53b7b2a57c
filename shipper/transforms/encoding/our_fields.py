"""The top-level fields our documents carry, which an application's JSON may not replace.

Its own module, free of imports, so that configuration checks (`SHIPPER_MERGE_JSON_KEY`)
read it without loading the pipeline and its HTTP clients.
"""

from __future__ import annotations

# Every top-level field a document of ours may carry (see DocumentEncoder).
OUR_FIELDS = frozenset({"@timestamp", "stream", "log", "log_truncated", "docker", "kubernetes"})
# Every top-level field of an ECS document of ours (SHIPPER_SCHEMA=ecs, see
# shipper.transforms.encoding.ecs): SHIPPER_MERGE_JSON_KEY may name none of them.
ECS_FIELDS = frozenset(
    {"@timestamp", "message", "log", "tags", "container", "kubernetes", "host", "ecs"}
)


def names_our_field(key: str) -> bool:
    """Whether `key`, as a top-level field, is or expands into one of ours (Elasticsearch
    reads `kubernetes.pod_name` as the field `pod_name` of the object `kubernetes`)."""
    return key.partition(".")[0] in OUR_FIELDS
