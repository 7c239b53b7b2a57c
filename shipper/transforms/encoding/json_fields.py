"""JSON application logs as document fields (README "JSON fields").

A record whose `log` is a JSON object gets its fields in the document, under
`SHIPPER_MERGE_JSON_KEY` (`json`), or at the top level when the key is empty; `log` is
kept as written. At the top level our own fields win: an application's `stream`,
`log` or `kubernetes` is left out of the merge (its value is still in `log`), as
Filebeat's `decode_json_fields` does without `overwrite_keys`, and so is a dotted key
that Elasticsearch would expand into one of them (`kubernetes.namespace_name`); those
are counted. Anything that is not a JSON object (plain text, arrays, scalars, invalid
JSON) stays plain text and is counted, as is an object that is too big, too deep, holds
an integer beyond 64 bits (orjson would make it a float) or cannot be encoded again: a
line can cost a failure, never the agent.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable
from itertools import repeat
from operator import itemgetter
from typing import Any

from orjson import JSONDecodeError, JSONEncodeError, dumps, loads

from shipper.observe.metrics import Metrics
from shipper.transforms.encoding.our_fields import OUR_FIELDS, names_our_field

_FIRST = itemgetter(slice(0, 1))
_HEAD = itemgetter(0)
MAX_JSON_CHARS = 256 * 1024  # longer messages stay text: their fields would double the document
MAX_JSON_DEPTH = 64  # deeper objects stay text (orjson cannot encode past 254)
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1  # what orjson reads as an exact integer
_LONG_DIGITS = re.compile(r"\d{20}|-\d{19}").search  # a number that may not fit in 64 bits


class JsonFields:
    """Turns a record's `log` into the document bytes that carry its fields."""

    __slots__ = ("_head", "_metrics")

    def __init__(self, key: str, metrics: Metrics) -> None:
        if names_our_field(key):
            raise ValueError(f"SHIPPER_MERGE_JSON_KEY={key!r} would replace our own field")
        self._head = b"," + dumps(key) + b":" if key else b""
        self._metrics = metrics

    def fields(self, log: str) -> bytes | None:
        """`,"json":{...}` (or `,"a":1,...` at the top level) to append to the document's
        head, `b""` for an object with nothing to add, None when `log` is no JSON object."""
        first = log[:1]
        if first != "{" and (first not in " \t" or log.lstrip()[:1] != "{"):
            return None
        if len(log) > MAX_JSON_CHARS:
            return None
        try:
            value = loads(log)
        except JSONDecodeError:
            return None
        if type(value) is not dict or not _fits(log, value):
            return None
        if not self._head:
            value = self._without_ours(value)
        try:
            encoded = dumps(value)
        except JSONEncodeError:
            return None
        if self._head:
            return self._head + encoded
        return b"," + encoded[1:-1] if value else b""

    def _without_ours(self, value: dict[str, Any]) -> dict[str, Any]:
        """`value` without the keys that are, or expand into, our own fields (counted)."""
        if OUR_FIELDS.isdisjoint(map(_HEAD, map(str.partition, value, repeat(".")))):
            return value
        kept = {k: v for k, v in value.items() if not names_our_field(k)}
        self._metrics.json_keys_dropped.inc(len(value) - len(kept))
        return kept

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


def _fits(log: str, value: dict[str, Any]) -> bool:
    """Whether `value` (parsed from `log`) is at most MAX_JSON_DEPTH deep and holds no
    integer orjson would have rounded. Each check looks at the object only when a
    C-level search of the text says it might fail."""
    if log.count("{") + log.count("[") > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        return False
    if _LONG_DIGITS(log) is not None:
        try:
            json.loads(log, parse_int=_int64)
        except ValueError:
            return False
    return True


def _depth(value: Any) -> int:
    """How deeply `value` nests objects and arrays (1 for a flat object), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if type(item) is dict:
            item = item.values()
        elif type(item) is not list:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            break
        stack.extend(zip(item, repeat(depth + 1)))
    return deepest


def _int64(digits: str) -> int:
    """An integer literal that orjson reads exactly, or ValueError."""
    number = int(digits)
    if not _INT64_MIN <= number <= _UINT64_MAX:
        raise ValueError(f"integer beyond 64 bits: {digits[:30]}")
    return number


def _indices(items: list[str], value: str) -> list[int]:
    """The positions of `value` in `items`, found by `list.index`."""
    found: list[int] = []
    with contextlib.suppress(ValueError):
        while True:
            found.append(items.index(value, found[-1] + 1 if found else 0))
    return found
