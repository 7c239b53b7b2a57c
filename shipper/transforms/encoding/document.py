"""Records to documents: the fluentd-elasticsearch shape, assembled as bytes.

Everything that is the same for every record of a file (`docker`, `kubernetes`) is
serialised once per file into a suffix; per record only the timestamp, stream and
message are encoded (and, when the file's JSON parsing is on, the message's fields).
The documents stay pieces (`record.Pieces`): the suffix is shared, not copied into each,
and a document is first whole in the request body. README "The document" is the
contract for the shape.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from itertools import islice
from operator import add
from typing import Any

import orjson

from shipper.record import Documents, Pieces, Records, Ticket
from shipper.timestamps import to_utc
from shipper.transforms.encoding.json_fields import JsonFields

_OPEN = b'{"@timestamp":"'  # then the time, `","stream":"S","log":` and the message, the suffix
_TRUNCATED = b',"log_truncated":true'
_HEAD_BYTES = (
    len(b'{"@timestamp":"2024-05-01T12:00:00.123456789Z","stream":"stdout","log":""\n') + 8
)


class DocumentEncoder:
    """Encodes one file's records; rebuilt (`set_fields`) when its pod metadata changes."""

    __slots__ = ("_id_prefix", "_suffix", "fields", "json")

    def __init__(self, file_key: str, container_id: str | None, fields: Mapping[str, Any]) -> None:
        # The id is the file's hash plus the record's offset: the same record always
        # gets the same id, and two records of one file never share an offset.
        digest = hashlib.blake2b(f"{container_id or ''}|{file_key}".encode(), digest_size=8)
        self._id_prefix = digest.hexdigest() + "-"
        self.fields: Mapping[str, Any] = {}
        self.json: JsonFields | None = None  # the message's fields go in the document too
        self._suffix = b"}"
        self.set_fields(fields)

    def set_fields(self, fields: Mapping[str, Any]) -> None:
        """The document's per-file fields (`docker`, `kubernetes`, ...), encoded once."""
        self.fields = fields
        body = orjson.dumps(fields)
        self._suffix = b"," + body[1:] if len(body) > 2 else b"}"

    def estimate(self, records: Records, start: int = 0) -> int:
        """The size of the documents of rows `start` on, known before they are encoded
        (so the memory budget can be asked first); a message counts twice when its
        fields may be added."""
        texts = records.texts
        size = sum(map(len, islice(texts, start, None))) * (2 if self.json else 1)
        return size + (len(texts) - start) * (len(self._suffix) + _HEAD_BYTES)

    def block(self, records: Records, start: int, limit: int) -> tuple[int, int]:
        """Where a block of documents from row `start` ends so that it stays near `limit`
        bytes, and its estimated size."""
        rows = len(records) - start
        size = self.estimate(records, start)
        if size <= limit:
            return len(records), size
        take = max(1, rows * limit // size)
        return start + take, size * take // rows

    def encode(self, records: Records, ticket: Ticket) -> Documents:
        """The records' documents, all acknowledging `ticket`.

        Column by column, with C-level `map`s: one `orjson.dumps` per document, no Python
        step per record unless it was truncated or JSON parsing is on. The documents stay
        pieces (`Pieces`) until a request body joins them.
        """
        times, messages = self.columns(records, _TRUNCATED)
        # One new object per message, of its exact size, in place of orjson's (which
        # keeps the room it grew into: held until acknowledged, it would waste memory).
        fields = list(map(add, map(_STREAM_AND_LOG.__getitem__, records.streams), messages))
        pieces = Pieces((_OPEN, times, fields, self._suffix + b"\n"))
        return Documents(pieces, times, records.offsets, self._id_prefix, self.fields, ticket)

    def columns(self, records: Records, truncated: bytes) -> tuple[list[bytes], Iterable[bytes]]:
        """The records' UTC times, and their messages as JSON strings followed by `truncated`
        (when cut) and the message's own fields (JSON parsing on).

        The messages come lazily unless one of them changes: each orjson result is then
        freed as soon as the caller has copied it, and the next reuses its memory (all
        kept until the copies were made, they cost four times as much).
        """
        times = records.times
        if not records.utc:
            times = [t if t[-1:] == b"Z" else to_utc(t.decode()).encode() for t in times]
        messages = map(orjson.dumps, records.texts)
        if not records.truncated and self.json is None:
            return times, messages
        changed = list(messages)
        for i in records.truncated:
            changed[i] += truncated
        if self.json is not None:
            self.json.add_fields(records.texts, changed)
        return times, changed


class Prefixes(dict[bytes, bytes]):
    """`template % key` for each key, made at its first use."""

    def __init__(self, template: bytes) -> None:
        super().__init__()
        self._template = template

    def __missing__(self, key: bytes) -> bytes:
        value = self[key] = self._template % key
        return value


_STREAM_AND_LOG = Prefixes(b'","stream":"%s","log":')


def file_fields(
    namespace_name: str | None,
    pod_name: str | None,
    container_name: str | None,
    pod_id: str | None,
    container_id: str | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `docker` and `kubernetes` objects for a file: names from its path, plus metadata.

    `extra` (from the Kubernetes API) adds to `kubernetes` without replacing the names
    the path gave.
    """
    kubernetes: dict[str, Any] = {}
    for key, value in (
        ("namespace_name", namespace_name),
        ("pod_name", pod_name),
        ("container_name", container_name),
        ("pod_id", pod_id),
    ):
        if value:
            kubernetes[key] = value
    if extra:
        for key, value in extra.items():
            kubernetes.setdefault(key, value)
    fields: dict[str, Any] = {}
    if container_id:
        fields["docker"] = {"container_id": container_id}
    if kubernetes:
        fields["kubernetes"] = kubernetes
    return fields
