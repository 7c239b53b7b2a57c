"""A file's options: what its pod's annotations ask for, else what the settings say.

The one place that decides, per file, whether its records are dropped
(`shipper.io/exclude`), parsed as JSON (`shipper.io/parser`: `json` on, any other value
off; else `SHIPPER_MERGE_JSON`), joined into stack traces (`shipper.io/multiline`, else
`SHIPPER_MULTILINE`) and filtered by the pod's own rules (`shipper.io/drop`,
`shipper.io/keep`). A file whose pod is not known follows the settings.

Each annotation has a per-container form, `shipper.io/<option>-<container>`, which wins
over the pod-wide `shipper.io/<option>` for that container; the value `none` turns the
option off (a global default, or the pod-wide annotation for one container). An empty
value counts as absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipper.settings import RecordSettings
from shipper.transforms.multiline.custom import NONE, multiline_value

if TYPE_CHECKING:  # at run time the config's parsers import this module without the API client
    from shipper.transforms.kubernetes.metadata import PodMetadata

SHIPPER_PREFIX = "shipper.io/"  # the annotations a pod's metadata keeps as written


@dataclass(frozen=True, slots=True)
class FileOptions:
    """How one file's records are treated, as its pod (or the settings) asks."""

    excluded: bool  # its records are counted and dropped
    merge_json: bool  # a `log` that is a JSON object gives its fields to the document
    multiline: str | None  # the kind of stack trace joined (`java`, a custom rule...), or None


def file_options(
    settings: RecordSettings, meta: PodMetadata | None, container: str | None = None
) -> FileOptions:
    """The options of a file of the container `container` of the pod `meta` (None when
    not known)."""
    if meta is None:
        return FileOptions(False, settings.merge_json, _off(settings.multiline))
    parser = container_option(meta, "parser", container) or meta.parser
    own = container_option(meta, "multiline", container)
    multiline = own and multiline_value(own, settings.multiline_rules)
    return FileOptions(
        excluded=_excluded(meta, container),
        merge_json=parser.lower() == "json" if parser else settings.merge_json,
        multiline=_off(multiline or meta.multiline or settings.multiline),
    )


def container_option(meta: PodMetadata | None, option: str, container: str | None) -> str | None:
    """`shipper.io/<option>-<container>`, stripped, or None when not set."""
    if meta is None or not container:
        return None
    return meta.shipper_annotations.get(f"{SHIPPER_PREFIX}{option}-{container}", "").strip() or None


def pod_option(meta: PodMetadata | None, option: str, container: str | None) -> str | None:
    """The container's annotation, else the pod-wide one (stripped); None when not set
    or `none`."""
    own = container_option(meta, option, container)
    if own is None and meta is not None:
        own = meta.shipper_annotations.get(SHIPPER_PREFIX + option, "").strip() or None
    return None if own is None or own.lower() == NONE else own


def _excluded(meta: PodMetadata, container: str | None) -> bool:
    """`shipper.io/exclude-<container>` if set (`true` drops, anything else keeps), else
    the pod-wide `shipper.io/exclude`."""
    own = container_option(meta, "exclude", container)
    if own is not None:
        return own.lower() == "true"
    return meta.excluded


def _off(kind: str | None) -> str | None:
    return None if kind == NONE else kind
