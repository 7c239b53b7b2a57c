"""A file's options: what its pod's annotations ask for, else what the settings say.

The one place that decides, per file, whether its records are dropped
(`shipper.io/exclude`), parsed as JSON (`shipper.io/parser`: `json` on, any other value
off; else `SHIPPER_MERGE_JSON`) and joined into stack traces (`shipper.io/multiline`,
else `SHIPPER_MULTILINE`). A file whose pod is not known follows the settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipper.settings import Settings
from shipper.transforms.kubernetes import PodMetadata


@dataclass(frozen=True, slots=True)
class FileOptions:
    """How one file's records are treated, as its pod (or the settings) asks."""

    excluded: bool  # its records are counted and dropped
    merge_json: bool  # a `log` that is a JSON object gives its fields to the document
    multiline: str | None  # the kind of stack trace joined (`java`, `python`, `go`), or None


def file_options(settings: Settings, meta: PodMetadata | None) -> FileOptions:
    """The options of a file of the pod `meta` (None when not known)."""
    if meta is None:
        return FileOptions(False, settings.merge_json, settings.multiline)
    return FileOptions(
        excluded=meta.excluded,
        merge_json=meta.parser.lower() == "json" if meta.parser else settings.merge_json,
        multiline=meta.multiline or settings.multiline,
    )
