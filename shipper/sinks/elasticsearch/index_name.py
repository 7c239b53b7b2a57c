"""SHIPPER_ES_INDEX: the index a document goes to, from its UTC time and its fields.

`%`-directives are strftime on the record's time (UTC); `{a.b.c}` inserts the value
of a document field found in its file's shared fields. A placeholder whose field is
missing, null or empty renders as the literal `unknown`, so such records still land
in one visible index (`logs-unknown-2024.05.01`) instead of a malformed name.
Placeholder values have the characters Elasticsearch forbids in index names
replaced by `_`; the whole name is lower-cased, as Elasticsearch requires.

Rendering is cached: the time part only depends on a prefix of the timestamp (the
day for `%Y.%m.%d`), so a datetime is built once per day, not once per record, and
a block of documents whose times share that prefix (nearly every block) is named
by one look-up and a few C-level passes over its times.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from shipper.record import Documents

MISSING = "unknown"
_TOKENS = re.compile(r"(\{[^{}]*\}|%.)", re.DOTALL)
_FORBIDDEN = re.compile(r'[\\/*?"<>|\s,#:]')
_DATE_DIRECTIVES = frozenset("aAbBCdDeFgGhjmuUVwWxyY%")
_HOUR_DIRECTIVES = frozenset("HIklp")
_MINUTE_DIRECTIVES = frozenset("MR")
_CACHE_LIMIT = 4096

Segment = tuple[str, Any]  # ("text", str) | ("time", strftime format) | ("field", path)


class IndexPattern:
    """One compiled SHIPPER_ES_INDEX value; `render` gives a record's index name."""

    def __init__(self, pattern: str, forbidden: re.Pattern[str] | None = None) -> None:
        """`forbidden`: characters replaced by `_` in placeholder values (default: those
        Elasticsearch forbids in index names)."""
        self.pattern = pattern
        self._forbidden = forbidden or _FORBIDDEN
        self._segments, self._wildcard, directives = _compile(pattern)
        self._prefix_len = _prefix_length(directives)  # how much of a timestamp matters
        self._has_fields = any(kind == "field" for kind, _ in self._segments)
        self._names: dict[tuple[bytes, tuple[str, ...]], str] = {}

    @property
    def wildcard(self) -> str:
        """The pattern every rendered name matches (`logstash-%Y.%m.%d` -> `logstash-*`)."""
        return self._wildcard

    def render(self, timestamp: str | bytes, fields: Mapping[str, Any]) -> str:
        """The index of a record with this UTC RFC 3339 `timestamp` and these fields."""
        key = timestamp[: self._prefix_len]
        return self._name(key.encode() if isinstance(key, str) else key, self._values(fields))

    def render_all(self, block: Documents) -> list[str]:
        """The index of each document of `block`: one look-up per distinct time prefix."""
        count = len(block)
        if not count:
            return []
        values = self._values(block.fields)
        length = self._prefix_len
        # Times sort as text: when the earliest and latest share a prefix, all do.
        first = min(block.times)[:length]
        if max(block.times)[:length] == first:
            return [self._name(first, values)] * count
        keys = list(map(itemgetter(slice(0, length)), block.times))
        names = {key: self._name(key, values) for key in set(keys)}  # a block over midnight
        return list(map(names.__getitem__, keys))

    def _values(self, fields: Mapping[str, Any]) -> tuple[str, ...]:
        """The placeholders' values in `fields`, in pattern order."""
        if not self._has_fields:
            return ()
        return tuple(
            _field_value(fields, path, self._forbidden)
            for kind, path in self._segments
            if kind == "field"
        )

    def _name(self, key: bytes, values: tuple[str, ...]) -> str:
        name = self._names.get((key, values))
        return name if name is not None else self._build(key, values)

    def _build(self, key: bytes, values: tuple[str, ...]) -> str:
        when = _parse_prefix(key)
        cacheable = when is not None
        if when is None:  # not a timestamp we understand: file it under the current time
            when = datetime.now(UTC)
        fields = iter(values)
        parts = []
        for kind, value in self._segments:
            if kind == "text":
                parts.append(value)
            elif kind == "time":
                parts.append(when.strftime(value))
            else:
                parts.append(next(fields))
        name = "".join(parts).lower()
        if cacheable:
            if len(self._names) >= _CACHE_LIMIT:
                self._names.clear()
            self._names[(key, values)] = name
        return name


@lru_cache(maxsize=32)
def compile_index_pattern(pattern: str) -> IndexPattern:
    """The compiled form of `pattern`, built once per distinct pattern."""
    return IndexPattern(pattern)


def _compile(pattern: str) -> tuple[list[Segment], str, set[str]]:
    """The segments of `pattern`, its wildcard form, and the strftime directives it uses."""
    pieces = [piece for piece in _TOKENS.split(pattern) if piece]
    segments: list[Segment] = []
    directives = {piece[1] for piece in pieces if _is_directive(piece)}
    fmt: list[str] = []
    for piece in [*pieces, "{}"]:  # a sentinel placeholder closes the last time segment
        if not _is_placeholder(piece):
            fmt.append(piece)
            continue
        if fmt:
            text = "".join(fmt)
            if any(_is_directive(p) for p in fmt):
                segments.append(("time", text))
            else:
                segments.append(("text", text.replace("%%", "%")))
            fmt.clear()
        segments.append(("field", tuple(piece[1:-1].split("."))))
    segments.pop()  # the sentinel
    dynamic = [
        i for i, piece in enumerate(pieces) if _is_directive(piece) or _is_placeholder(piece)
    ]
    if not dynamic:
        return segments, pattern.replace("%%", "%").lower(), directives
    head = "".join(pieces[: dynamic[0]]).replace("%%", "%")
    tail = "".join(pieces[dynamic[-1] + 1 :]).replace("%%", "%")
    return segments, f"{head}*{tail}".lower(), directives


def _is_placeholder(piece: str) -> bool:
    return piece.startswith("{") and piece.endswith("}")


def _is_directive(piece: str) -> bool:
    return len(piece) == 2 and piece[0] == "%" and piece != "%%"


def _prefix_length(directives: set[str]) -> int:
    if directives <= _DATE_DIRECTIVES:
        return 10  # YYYY-MM-DD
    if directives <= _DATE_DIRECTIVES | _HOUR_DIRECTIVES:
        return 13  # YYYY-MM-DDTHH
    if directives <= _DATE_DIRECTIVES | _HOUR_DIRECTIVES | _MINUTE_DIRECTIVES:
        return 16  # YYYY-MM-DDTHH:MM
    return 19  # YYYY-MM-DDTHH:MM:SS


def _parse_prefix(key: bytes) -> datetime | None:
    """`YYYY-MM-DD[THH[:MM[:SS]]]` as a UTC datetime, without a general parser."""
    try:
        return datetime(
            int(key[0:4]),
            int(key[5:7]),
            int(key[8:10]),
            int(key[11:13] or 0),
            int(key[14:16] or 0),
            int(key[17:19] or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def _field_value(
    fields: Mapping[str, Any], path: tuple[str, ...], forbidden: re.Pattern[str]
) -> str:
    value: Any = fields
    for name in path:
        if not isinstance(value, Mapping):
            return MISSING
        value = value.get(name)
    if value is None or value == "" or isinstance(value, Mapping):
        return MISSING
    return forbidden.sub("_", str(value))
