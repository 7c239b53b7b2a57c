"""What the provider keeps of namespaces: their labels (when wanted on documents) and
their `shipper.io/*` annotations (a namespace's rate limit), handed to their pods."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from shipper.settings import KubernetesSettings
from shipper.transforms.kubernetes.metadata import (
    MalformedObject,
    PodMetadata,
    namespace_annotations,
    namespace_labels,
)

_Labels = dict[str, str]


class Namespaces:
    """The namespaces last listed or watched; each change names the namespaces whose pods
    need their metadata redone (`relabel`)."""

    def __init__(
        self, settings: KubernetesSettings, skip: Callable[[MalformedObject], None]
    ) -> None:
        self._settings = settings
        self._skip = skip
        self._labels: dict[str, _Labels] = {}
        self._annotations: dict[str, _Labels] = {}  # shipper.io/* ones

    def _read(self, namespace: Any) -> tuple[str, _Labels, _Labels] | None:
        try:
            name, labels = namespace_labels(namespace, self._settings)
            return name, labels, namespace_annotations(namespace)
        except MalformedObject as exc:
            self._skip(exc)
            return None

    def replace(self, namespaces: list[Any]) -> list[str]:
        """A fresh list; the names of the namespaces that changed."""
        labels: dict[str, _Labels] = {}
        annotations: dict[str, _Labels] = {}
        for namespace in namespaces:
            read = self._read(namespace)
            if read is not None:
                name, labels[name], annotations[name] = read
        changed = [
            name
            for name in labels
            if self._labels.get(name) != labels[name]
            or self._annotations.get(name) != annotations[name]
        ]
        self._labels, self._annotations = labels, annotations
        return changed

    def apply(self, kind: str, namespace: Any) -> str | None:
        """A watch event; the namespace's name if its pods need redoing."""
        read = self._read(namespace)
        if read is None:
            return None
        name, labels, annotations = read
        if kind == "DELETED":
            self._labels.pop(name, None)  # its pods keep the labels they had
            self._annotations.pop(name, None)
            return None
        if self._labels.get(name) == labels and self._annotations.get(name) == annotations:
            return None
        self._labels[name], self._annotations[name] = labels, annotations
        return name

    def onto(self, meta: PodMetadata) -> PodMetadata:
        """A newly built pod's metadata with what its namespace adds."""
        labels = self._labels.get(meta.namespace)
        if labels is not None and self._settings.kube_namespace_labels:
            meta = dataclasses.replace(meta, namespace_labels=labels)
        annotations = self._annotations.get(meta.namespace)
        if annotations:
            meta = dataclasses.replace(meta, namespace_annotations=annotations)
        return meta

    def relabelled(self, meta: PodMetadata) -> PodMetadata:
        """A cached pod's metadata after its namespace changed."""
        labels = self._labels.get(meta.namespace)
        if not self._settings.kube_namespace_labels:
            labels = None
        annotations = self._annotations.get(meta.namespace) or {}
        return dataclasses.replace(meta, namespace_labels=labels, namespace_annotations=annotations)
