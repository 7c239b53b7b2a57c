"""JSON application logs as document fields (SPEC "Structured application logs").

A record whose `log` is a JSON object gets its fields in the document, under
`SHIPPER_MERGE_JSON_KEY` (`json`), or at the top level when the key is empty; `log` is
kept as written. At the top level our own fields win: an application's `stream`,
`log` or `kubernetes` is left out of the merge (its value is still in `log`), as
Filebeat's `decode_json_fields` does without `overwrite_keys`. Anything that is not
a JSON object (plain text, arrays, scalars, invalid JSON) stays plain text and is counted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from operator import itemgetter

from orjson import JSONDecodeError, dumps, loads

from shipper.observe.metrics import Metrics
from shipper.settings import Settings
from shipper.transforms.kubernetes import PodMetadata

# Every top-level field a document of ours may carry (see DocumentEncoder).
OUR_FIELDS = frozenset({"@timestamp", "stream", "log", "log_truncated", "docker", "kubernetes"})
_FIRST = itemgetter(slice(0, 1))


def json_wanted(settings: Settings, meta: PodMetadata | None) -> bool:
    """The pod's `shipper.io/parser` annotation decides (`json` on, any other value off),
    else `SHIPPER_MERGE_JSON`."""
    if meta is not None and meta.parser:
        return meta.parser.lower() == "json"
    return settings.merge_json


class JsonFields:
    """Turns a record's `log` into the document bytes that carry its fields."""

    __slots__ = ("_head", "_metrics")

    def __init__(self, key: str, metrics: Metrics) -> None:
        if key in OUR_FIELDS:
            raise ValueError(f"SHIPPER_MERGE_JSON_KEY={key!r} would replace our own field")
        self._head = b"," + dumps(key) + b":" if key else b""
        self._metrics = metrics

    def fields(self, log: str) -> bytes | None:
        """`,"json":{...}` (or `,"a":1,...` at the top level) to append to the document's
        head, `b""` for an object with nothing to add, None when `log` is no JSON object."""
        first = log[:1]
        if first != "{" and (first not in " \t" or log.lstrip()[:1] != "{"):
            return None
        try:
            value = loads(log)
        except JSONDecodeError:
            return None
        if type(value) is not dict:
            return None
        if self._head:
            return self._head + dumps(value)
        if not OUR_FIELDS.isdisjoint(value):
            value = {k: v for k, v in value.items() if k not in OUR_FIELDS}
        return b"," + dumps(value)[1:-1] if value else b""

    def add_fields(self, texts: list[str], messages: list[bytes]) -> None:
        """Append to `messages[i]` the fields of `texts[i]`; count the texts that had none.

        Only a text beginning with `{`, or with a blank (rare), can be an object (see
        `fields`): those are found by C-level searches, so plain lines are never looked
        at one by one.
        """
        firsts = list(map(_FIRST, texts))
        candidates: Iterable[int] = range(len(texts))
        if " " not in firsts and "\t" not in firsts:
            candidates = _indices(firsts, "{")
        parsed = 0
        for i in candidates:
            fields = self.fields(texts[i])
            if fields is not None:
                messages[i] += fields
                parsed += 1
        if parsed < len(texts):
            self._metrics.json_parse_failures.inc(len(texts) - parsed)


def _indices(items: list[str], value: str) -> list[int]:
    """The positions of `value` in `items`, found by `list.index`."""
    found: list[int] = []
    with contextlib.suppress(ValueError):
        while True:
            found.append(items.index(value, found[-1] + 1 if found else 0))
    return found
