"""A file's document fields: names from its path, metadata from the Kubernetes API.

Records of a file whose pod is not known yet wait at most `METADATA_WAIT` seconds
for it (records are never held back beyond a short bound: README "Kubernetes
metadata"), then go with the names from the path.

Every document repeats its pod's metadata, so one pod's labels and annotations must
not multiply memory: past `SHIPPER_KUBE_MAX_METADATA_BYTES` they are trimmed, the same
way every time, and the document says so (`kubernetes.metadata_truncated`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from shipper.settings import Settings
from shipper.transforms.encoding.document import file_fields
from shipper.transforms.enrichment.naming import FileNames
from shipper.transforms.kubernetes import KubernetesMetadata, PodMetadata

METADATA_WAIT = 2.0
TRUNCATED_KEY = "metadata_truncated"
_MAPS = ("labels", "annotations", "namespace_labels")  # trimmed, in this order


class Enricher:
    """Builds per-file document fields; the one place that knows both names and pods."""

    def __init__(self, settings: Settings, kube: KubernetesMetadata | None) -> None:
        self._node = settings.node_name
        self._max_metadata = settings.kube_max_metadata_bytes
        self.kube = kube

    def can_know(self, names: FileNames) -> bool:
        """True when the API could know this file's pod (metadata on, names parsed)."""
        return self.kube is not None and bool(names.namespace_name and names.pod_name)

    def known(self, names: FileNames) -> PodMetadata | None:
        """The pod's metadata if the cache has it now."""
        if self.kube is None or not self.can_know(names):
            return None
        return self.kube.get(names.namespace_name or "", names.pod_name or "", names.pod_id)

    async def lookup(self, names: FileNames) -> PodMetadata | None:
        """The pod's metadata, waiting at most METADATA_WAIT for it."""
        if self.kube is None or not self.can_know(names):
            return None
        return await self.kube.lookup(
            names.namespace_name or "", names.pod_name or "", names.pod_id, timeout=METADATA_WAIT
        )

    def fields(self, names: FileNames, meta: PodMetadata | None) -> dict[str, Any]:
        """The file's `docker` and `kubernetes` objects; the latter carries
        `metadata_truncated: true` when labels or annotations were trimmed."""
        container_id = names.container_id
        extra: dict[str, Any] = {}
        if meta is not None:
            extra = meta.kubernetes_fields(names.container_name or "", container_id)
            extra = capped(extra, self._max_metadata)
            container_id = container_id or meta.container(names.container_name or "", None)[2]
        if self._node:
            extra.setdefault("host", self._node)
        return file_fields(
            names.namespace_name,
            names.pod_name,
            names.container_name,
            names.pod_id,
            container_id,
            extra,
        )


def capped(fields: Mapping[str, Any], limit: int) -> dict[str, Any]:
    """`fields` whose labels, annotations and namespace labels fit `limit` encoded bytes
    with the other fields, marked `metadata_truncated` when some were left out.

    Deterministic: the maps are filled in `_MAPS` order, each by sorted key, and an
    entry that does not fit is skipped (a smaller one after it may still fit).
    """
    fixed = {key: value for key, value in fields.items() if key not in _MAPS}
    maps = {key: fields[key] for key in _MAPS if key in fields}
    if len(orjson.dumps(fields)) <= limit:
        return dict(fields)
    room = limit - len(orjson.dumps(fixed)) - len(f',"{TRUNCATED_KEY}":true')
    out = dict(fixed)
    for name, mapping in maps.items():
        room -= len(name) + 6  # ,"name":{}
        kept: dict[str, Any] = {}
        for key in sorted(mapping):
            size = len(orjson.dumps(key)) + len(orjson.dumps(mapping[key])) + 2  # :,
            if size <= room:
                kept[key] = mapping[key]
                room -= size
        if kept:
            out[name] = kept
    out[TRUNCATED_KEY] = True
    return out
