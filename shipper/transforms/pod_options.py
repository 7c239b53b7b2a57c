"""A file's options from its pod's `shipper.io/*` annotations, per container first.

`shipper.io/<option>-<container>` applies to that container and wins over the pod-wide
`shipper.io/<option>` (which `PodMetadata` carries parsed); the value `none` turns the
option off (a global default, or the pod-wide annotation for one container). An empty
value counts as absent.
"""

from __future__ import annotations

from shipper.transforms.kubernetes.metadata import SHIPPER_PREFIX, PodMetadata


def container_option(meta: PodMetadata | None, option: str, container: str | None) -> str | None:
    """`shipper.io/<option>-<container>`, stripped, or None when not set."""
    if meta is None or not container:
        return None
    return meta.shipper_annotations.get(f"{SHIPPER_PREFIX}{option}-{container}", "").strip() or None


def pod_option(meta: PodMetadata | None, option: str, container: str | None) -> str | None:
    """The container's annotation, else the pod-wide one (stripped), or None when not set."""
    own = container_option(meta, option, container)
    if own is not None or meta is None:
        return own
    return meta.shipper_annotations.get(SHIPPER_PREFIX + option, "").strip() or None


def excluded(meta: PodMetadata | None, container: str | None) -> bool:
    """`shipper.io/exclude-<container>` if set (`true` drops, anything else keeps), else
    the pod-wide `shipper.io/exclude`."""
    own = container_option(meta, "exclude", container)
    if own is not None:
        return own.lower() == "true"
    return meta is not None and meta.excluded
