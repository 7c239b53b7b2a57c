"""A pod's metadata as documents carry it, built once per pod version from its API object.

Only what documents need is kept (a few strings and small maps per pod), never the
whole API object: pod specs can be tens of KiB and a cluster-wide watch holds thousands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipper.settings import Settings

EXCLUDE_ANNOTATION = "shipper.io/exclude"
PARSER_ANNOTATION = "shipper.io/parser"
MULTILINE_ANNOTATION = "shipper.io/multiline"
MULTILINE_KINDS = frozenset({"java", "python", "go"})

_STATUS_LISTS = ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses")
_SPEC_LISTS = ("containers", "initContainers", "ephemeralContainers")


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """One container of a pod: from its status when it has one, else from the spec."""

    name: str
    image: str | None
    image_id: str | None
    ids: tuple[str, ...]  # current and last terminated container ids, scheme stripped


@dataclass(frozen=True, slots=True)
class PodMetadata:
    """What the API server tells about one pod, ready to be merged into its documents."""

    uid: str
    name: str
    namespace: str
    host: str | None
    pod_ip: str | None
    labels: Mapping[str, str]
    annotations: Mapping[str, str] | None
    namespace_labels: Mapping[str, str] | None
    excluded: bool
    parser: str | None
    multiline: str | None
    containers: tuple[ContainerInfo, ...] = ()

    def container(
        self, name: str, container_id: str | None
    ) -> tuple[str | None, str | None, str | None]:
        """(image, image_id, container_id) of the container that wrote a file.

        Matched by container id first (a restarted container's old file still names
        its old id, found in `lastState`), then by name. The id from the file name,
        when given, stays authoritative: a name match must not relabel an older file.
        """
        if container_id:
            for info in self.containers:
                if container_id in info.ids:
                    return info.image, info.image_id, container_id
        for info in self.containers:
            if info.name == name:
                return (
                    info.image,
                    info.image_id,
                    container_id or (info.ids[0] if info.ids else None),
                )
        return None, None, container_id

    def kubernetes_fields(self, container_name: str, container_id: str | None) -> dict[str, Any]:
        """The fields added under the document's `kubernetes` key (None and empty ones left out)."""
        image, image_id, _ = self.container(container_name, container_id)
        candidates: tuple[tuple[str, Any], ...] = (
            ("pod_id", self.uid),
            ("host", self.host),
            ("pod_ip", self.pod_ip),
            ("labels", self.labels),
            ("annotations", self.annotations),
            ("namespace_labels", self.namespace_labels),
            ("container_image", image),
            ("container_image_id", image_id),
        )
        return {key: value for key, value in candidates if value}


def de_dot(mapping: Mapping[str, Any] | None, settings: Settings) -> dict[str, str]:
    """Label or annotation keys with dots replaced, so `app` and `app.kubernetes.io/name`
    do not collide in Elasticsearch's object mapping (SPEC `SHIPPER_DE_DOT`)."""
    if not mapping:
        return {}
    if not settings.de_dot:
        return {str(k): str(v) for k, v in mapping.items()}
    sep = settings.de_dot_separator
    return {str(k).replace(".", sep): str(v) for k, v in mapping.items()}


def strip_scheme(container_id: str) -> str:
    """`containerd://<hex>` (or docker://, cri-o://) -> `<hex>`, as file names carry it."""
    return container_id.partition("://")[2] or container_id


def pod_metadata(
    pod: Mapping[str, Any], settings: Settings, namespace_labels: Mapping[str, str] | None
) -> PodMetadata:
    """Build a pod's metadata from its API object; missing fields never raise."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    raw_annotations = meta.get("annotations") or {}
    multiline = str(raw_annotations.get(MULTILINE_ANNOTATION, "")).strip().lower()
    parser = str(raw_annotations.get(PARSER_ANNOTATION, "")).strip()
    return PodMetadata(
        uid=str(meta.get("uid") or ""),
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        host=spec.get("nodeName") or None,
        pod_ip=status.get("podIP") or None,
        labels=de_dot(meta.get("labels"), settings) if settings.kube_labels else {},
        annotations=de_dot(raw_annotations, settings) if settings.kube_annotations else None,
        namespace_labels=namespace_labels if settings.kube_namespace_labels else None,
        excluded=str(raw_annotations.get(EXCLUDE_ANNOTATION, "")).strip().lower() == "true",
        parser=parser or None,
        multiline=multiline if multiline in MULTILINE_KINDS else None,
        containers=_containers(spec, status),
    )


def _containers(spec: Mapping[str, Any], status: Mapping[str, Any]) -> tuple[ContainerInfo, ...]:
    """Statuses first (they carry ids and image ids); spec entries for containers with none yet."""
    infos: list[ContainerInfo] = []
    for key in _STATUS_LISTS:
        for entry in status.get(key) or ():
            ids = (
                entry.get("containerID"),
                ((entry.get("lastState") or {}).get("terminated") or {}).get("containerID"),
            )
            infos.append(
                ContainerInfo(
                    name=str(entry.get("name") or ""),
                    image=entry.get("image") or None,
                    image_id=entry.get("imageID") or None,
                    ids=tuple(strip_scheme(i) for i in ids if i),
                )
            )
    known = {info.name for info in infos}
    for key in _SPEC_LISTS:
        for entry in spec.get(key) or ():
            if entry.get("name") not in known:
                infos.append(ContainerInfo(str(entry.get("name")), entry.get("image"), None, ()))
    return tuple(infos)
