"""A pod's metadata as documents carry it, built once per pod version from its API object.

Only what documents need is kept (a few strings and small maps per pod), never the
whole API object: pod specs can be tens of KiB and a cluster-wide watch holds thousands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipper.settings import KubernetesSettings
from shipper.transforms.enrichment.options import SHIPPER_PREFIX
from shipper.transforms.multiline.custom import CustomRule, multiline_value

EXCLUDE_ANNOTATION = "shipper.io/exclude"
PARSER_ANNOTATION = "shipper.io/parser"
MULTILINE_ANNOTATION = "shipper.io/multiline"

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
    shipper_annotations: Mapping[str, str] = field(default_factory=dict)  # shipper.io/*
    raw_labels: Mapping[str, str] = field(default_factory=dict)  # for filters' selectors
    namespace_annotations: Mapping[str, str] = field(default_factory=dict)  # shipper.io/*

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


class MalformedObject(ValueError):
    """An API object with a field of the wrong shape: skipped whole, never half used.

    The message names the object and the field in plain words, for the log.
    """


def de_dot(mapping: Mapping[str, str] | None, settings: KubernetesSettings) -> dict[str, str]:
    """Label or annotation keys with dots replaced, so `app` and `app.kubernetes.io/name`
    do not collide in Elasticsearch's object mapping (`SHIPPER_DE_DOT`)."""
    if not mapping:
        return {}
    if not settings.de_dot:
        return dict(mapping)
    sep = settings.de_dot_separator
    return {k.replace(".", sep): v for k, v in mapping.items()}


def strip_scheme(container_id: str) -> str:
    """`containerd://<hex>` (or docker://, cri-o://) -> `<hex>`, as file names carry it."""
    return container_id.partition("://")[2] or container_id


def pod_metadata(
    pod: Any,
    settings: KubernetesSettings,
    namespace_labels: Mapping[str, str] | None,
    multiline_rules: tuple[CustomRule, ...] = (),
) -> PodMetadata:
    """Build a pod's metadata from its API object, checking every field it reads;
    `multiline_rules` are the custom rules its multiline annotation may name.

    Optional fields may be missing or null; a field of the wrong type (labels as a
    list, a container status that is a string) raises `MalformedObject`.
    """
    meta = _metadata(pod, "pod")
    where = f"pod {meta['namespace']}/{meta['name']}"
    spec = _field(pod, "spec", dict, where) or {}
    status = _field(pod, "status", dict, where) or {}
    raw_annotations = _string_map(meta, "annotations", where + " metadata") or {}
    multiline = raw_annotations.get(MULTILINE_ANNOTATION, "")
    parser = raw_annotations.get(PARSER_ANNOTATION, "").strip()
    labels = _string_map(meta, "labels", where + " metadata")
    return PodMetadata(
        uid=meta["uid"],
        name=meta["name"],
        namespace=meta["namespace"],
        host=_field(spec, "nodeName", str, where + " spec") or None,
        pod_ip=_field(status, "podIP", str, where + " status") or None,
        labels=de_dot(labels, settings) if settings.kube_labels else {},
        annotations=de_dot(raw_annotations, settings) if settings.kube_annotations else None,
        namespace_labels=namespace_labels if settings.kube_namespace_labels else None,
        excluded=raw_annotations.get(EXCLUDE_ANNOTATION, "").strip().lower() == "true",
        parser=parser or None,
        multiline=multiline_value(multiline, multiline_rules) if multiline else None,
        containers=_containers(spec, status, where),
        shipper_annotations={
            k: v for k, v in raw_annotations.items() if k.startswith(SHIPPER_PREFIX)
        },
        raw_labels=labels or {},
    )


def namespace_labels(namespace: Any, settings: KubernetesSettings) -> tuple[str, dict[str, str]]:
    """A namespace object's name and labels (de-dotted), checked as `pod_metadata` checks."""
    meta = _metadata(namespace, "namespace", ("name",))
    labels = _string_map(meta, "labels", f"namespace {meta['name']} metadata")
    return meta["name"], de_dot(labels, settings)


def namespace_annotations(namespace: Any) -> dict[str, str]:
    """A namespace object's `shipper.io/*` annotations (its rate limit), checked."""
    meta = _metadata(namespace, "namespace", ("name",))
    where = f"namespace {meta['name']} metadata"
    annotations = _string_map(meta, "annotations", where) or {}
    return {k: v for k, v in annotations.items() if k.startswith(SHIPPER_PREFIX)}


def object_uid(obj: Any) -> str | None:
    """The uid of an API object when it has a readable one (enough to forget a deleted pod)."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    uid = meta.get("uid") if isinstance(meta, dict) else None
    return uid if isinstance(uid, str) and uid else None


def _metadata(
    obj: Any, kind: str, required: tuple[str, ...] = ("name", "namespace", "uid")
) -> dict[str, Any]:
    """The object's `metadata`, with the identifying strings it must have."""
    if not isinstance(obj, dict):
        raise MalformedObject(f"a {kind} in the answer is {_a(obj)}, not an object")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise MalformedObject(f"a {kind} has {_a(meta)} as metadata, not an object")
    for key in required:
        value = meta.get(key)
        if not isinstance(value, str) or not value:
            name = meta.get("name")
            which = f"{kind} {name}" if isinstance(name, str) and name else f"a {kind}"
            raise MalformedObject(f"{which} has {_a(value)} as metadata.{key}, not a name")
    return meta


def _field(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    """`obj[key]` if it is a `kind`; None if missing or null; else `MalformedObject`."""
    value = obj.get(key)
    if value is None or isinstance(value, kind):
        return value
    raise MalformedObject(f"{where}: {key} is {_a(value)}, not {_a(kind())}")


def _string_map(obj: Mapping[str, Any], key: str, where: str) -> dict[str, str] | None:
    """A map of strings to strings (labels, annotations), or None when missing."""
    mapping = _field(obj, key, dict, where)
    if mapping and not all(isinstance(v, str) for v in mapping.values()):
        bad = next(k for k, v in mapping.items() if not isinstance(v, str))
        raise MalformedObject(f"{where}: {key}[{bad!r}] is {_a(mapping[bad])}, not a string")
    return mapping


def _objects(obj: Mapping[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    """A list of objects (containers, container statuses); empty when missing."""
    entries = _field(obj, key, list, where) or []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise MalformedObject(f"{where}: {key}[{n}] is {_a(entry)}, not an object")
    return entries


def _a(value: Any) -> str:
    """`value`'s JSON type in words: "a list", "a string", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _containers(
    spec: Mapping[str, Any], status: Mapping[str, Any], where: str
) -> tuple[ContainerInfo, ...]:
    """Statuses first (they carry ids and image ids); spec entries for containers with none yet."""
    infos: list[ContainerInfo] = []
    for key in _STATUS_LISTS:
        for n, entry in enumerate(_objects(status, key, where + " status")):
            at = f"{where} status.{key}[{n}]"
            last = _field(entry, "lastState", dict, at) or {}
            terminated = _field(last, "terminated", dict, at + ".lastState") or {}
            ids = (
                _field(entry, "containerID", str, at),
                _field(terminated, "containerID", str, at + ".lastState.terminated"),
            )
            infos.append(
                ContainerInfo(
                    name=_field(entry, "name", str, at) or "",
                    image=_field(entry, "image", str, at) or None,
                    image_id=_field(entry, "imageID", str, at) or None,
                    ids=tuple(strip_scheme(i) for i in ids if i),
                )
            )
    known = {info.name for info in infos}
    for key in _SPEC_LISTS:
        for n, entry in enumerate(_objects(spec, key, where + " spec")):
            at = f"{where} spec.{key}[{n}]"
            name = _field(entry, "name", str, at) or ""
            if name not in known:
                infos.append(ContainerInfo(name, _field(entry, "image", str, at) or None, None, ()))
    return tuple(infos)
