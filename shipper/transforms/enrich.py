"""A file's document fields: names from its path, metadata from the Kubernetes API.

Records of a file whose pod is not known yet wait at most `METADATA_WAIT` seconds
for it (SPEC "Kubernetes metadata": never hold records back beyond a short bound),
then go with the names from the path.
"""

from __future__ import annotations

from typing import Any

from shipper.settings import Settings
from shipper.transforms.document import file_fields
from shipper.transforms.kubernetes import KubernetesMetadata, PodMetadata
from shipper.transforms.naming import FileNames

METADATA_WAIT = 2.0


class Enricher:
    """Builds per-file document fields; the one place that knows both names and pods."""

    def __init__(self, settings: Settings, kube: KubernetesMetadata | None) -> None:
        self._node = settings.node_name
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
        container_id = names.container_id
        extra: dict[str, Any] = {}
        if meta is not None:
            extra = meta.kubernetes_fields(names.container_name or "", container_id)
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
