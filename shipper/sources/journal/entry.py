"""Journal entries (`journalctl --output=json` lines) to documents shaped as the
fluentd-elasticsearch image's `systemd.conf` makes them.

That image reads the journal with `fields_strip_underscores true`: every data field comes
without its leading underscores (`_SYSTEMD_UNIT` -> `SYSTEMD_UNIT`, `_PID` -> `PID`,
`MESSAGE`, `PRIORITY`), and the entry's time is `__REALTIME_TIMESTAMP`, which becomes
`@timestamp`. journalctl's own address fields (`__CURSOR`, `__MONOTONIC_TIMESTAMP`,
`__SEQNUM`...) are not data fields and are left out, as the image leaves them out.

journalctl writes a value that is not printable UTF-8 as an array of its bytes, and a field
set more than once as an array of its values. Bytes that are UTF-8 (control characters and
all) become text; bytes that are not become text with U+FFFD in place of what does not
decode, and the exact bytes go beside it in base64 under `<FIELD>_BASE64`, so nothing
is lost and the document always encodes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

JsonValue = Any


class EntryError(ValueError):
    """A line journalctl wrote that is not a journal entry (cut short, or without a cursor)."""


class Entry:
    """One encoded entry: its document, its `@timestamp`, its id and its cursor."""

    __slots__ = ("cursor", "doc", "doc_id", "time")

    def __init__(self, doc: bytes, time: bytes, doc_id: str, cursor: str) -> None:
        self.doc = doc  # JSON, ending in b"\n"
        self.time = time  # RFC 3339 UTC, ASCII
        self.doc_id = doc_id
        self.cursor = cursor


def encode_entry(line: bytes) -> Entry:
    """The document of one journalctl JSON line, or EntryError."""
    try:
        fields = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise EntryError(f"not JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise EntryError("not a JSON object")
    cursor = fields.get("__CURSOR")
    if not isinstance(cursor, str) or not cursor:
        raise EntryError("no __CURSOR")
    time = realtime(fields.get("__REALTIME_TIMESTAMP"))
    doc: dict[str, JsonValue] = {"@timestamp": time}
    for name, value in fields.items():
        if name.startswith("__"):
            continue
        key = name.lstrip("_") or name
        if isinstance(value, list):
            value = _bytes_or_values(doc, key, value)
        doc[key] = value
    return Entry(orjson.dumps(doc) + b"\n", time.encode(), entry_id(cursor), cursor)


def realtime(value: object) -> str:
    """`__REALTIME_TIMESTAMP` (microseconds since the epoch, as text) as RFC 3339 UTC."""
    if not isinstance(value, str) or not value.isdigit():
        raise EntryError(f"bad __REALTIME_TIMESTAMP {value!r}")
    seconds, micros = divmod(int(value), 1_000_000)
    return f"{_second(seconds)}{micros:06d}Z"


@functools.lru_cache(maxsize=8)
def _second(seconds: int) -> str:
    """`YYYY-MM-DDThh:mm:ss.` of a second: entries come many to a second."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.")


def entry_id(cursor: str) -> str:
    """The document id of the entry at `cursor`: a hash of its boot id, monotonic and
    realtime timestamps and content hash (`b=`, `m=`, `t=`, `x=`).

    The file-specific parts (`s=` seqnum id, `i=` seqnum) are left out: journald's copy of
    an entry from /run/log/journal into /var/log/journal at boot keeps the others, so an
    entry read in both directories gets one id and is stored once.
    """
    _, found, rest = cursor.partition(";b=")  # systemd writes s=;i=;b=;m=;t=;x= in order
    basis = f"b={rest}" if found else cursor
    return "j" + hashlib.blake2b(basis.encode(), digest_size=12).hexdigest()


def _bytes_or_values(doc: dict[str, JsonValue], key: str, value: list[Any]) -> JsonValue:
    """A field journalctl wrote as an array: bytes (ints), or several values of one field."""
    if all(isinstance(b, int) for b in value):
        return _text(doc, key, value)
    return [_text(doc, key, v) if isinstance(v, list) else v for v in value]


def _text(doc: dict[str, JsonValue], key: str, octets: list[int]) -> str:
    try:
        data = bytes(octets)
    except (ValueError, TypeError):
        raise EntryError(f"{key}: not bytes") from None
    try:
        return data.decode()
    except UnicodeDecodeError:
        doc[f"{key}_BASE64"] = base64.b64encode(data).decode()
        return data.decode("utf-8", "replace")
