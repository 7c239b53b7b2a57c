"""SHIPPER_ES_DATA_STREAM: documents go to a data stream instead of daily indices.

The name follows Elastic's data stream naming scheme, `<type>-<dataset>-<namespace>`
(`logs-kubernetes-default`). `{a.b.c}` placeholders insert a document field, as in
SHIPPER_ES_INDEX (`logs-kubernetes-{kubernetes.namespace_name}`); their values are
sanitised so every rendered name is a valid one of three parts: lower case, and the
characters index names forbid, and `-` (which would add a part), become `_`. A missing
field renders as `unknown`. There are no strftime directives: the data stream rolls over
its backing indices itself (`.ds-<name>-<date>-000001`, ...), and takes only `create`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from shipper.settings import Settings
from shipper.sinks.elasticsearch.index_name import IndexPattern, compile_index_pattern

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_FIELD_PATH = re.compile(r"[^.\s{}]+(?:\.[^.\s{}]+)*")
_LITERAL = re.compile(r"[a-z0-9_.+]*")  # a part's literal text (lower case, no `-`)
_VALUE_FORBIDDEN = re.compile(r'[\\/*?"<>|\s,#:\-]')
MAX_NAME_BYTES = 100  # the naming scheme's limit (an index name may have 255)
EXAMPLE = "logs-kubernetes-{kubernetes.namespace_name}"


def parse_data_stream(text: str) -> str:
    """Check a SHIPPER_ES_DATA_STREAM value; ValueError says what is wrong."""
    name = text.strip()
    for match in _PLACEHOLDER.finditer(name):
        if not _FIELD_PATH.fullmatch(match[0][1:-1]):
            raise ValueError(f"bad placeholder {match[0]} (example: {EXAMPLE})")
    literal = _PLACEHOLDER.sub("x", name)
    if "{" in literal or "}" in literal:
        raise ValueError(f"unbalanced {{ or }} (example: {EXAMPLE})")
    if "%" in literal:
        raise ValueError(
            f"a data stream has no dates in its name: it rolls over by itself (example: {EXAMPLE})"
        )
    parts = literal.split("-")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not <type>-<dataset>-<namespace> (example: {EXAMPLE})")
    if not all(_LITERAL.fullmatch(part) for part in parts) or parts[0].startswith((".", "_")):
        raise ValueError(
            "use lower case letters, digits and _ in each part (example: logs-kubernetes-default)"
        )
    if len(literal.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"longer than {MAX_NAME_BYTES} bytes")
    return name


@lru_cache(maxsize=8)
def compile_data_stream(name: str) -> IndexPattern:
    """The compiled SHIPPER_ES_DATA_STREAM value; its `wildcard` covers every name it renders."""
    return IndexPattern(name, forbidden=_VALUE_FORBIDDEN)


def target_pattern(settings: Settings) -> IndexPattern:
    """What names each document's target: the data stream, else SHIPPER_ES_INDEX."""
    if settings.es_data_stream:
        return compile_data_stream(settings.es_data_stream)
    return compile_index_pattern(settings.es_index)
