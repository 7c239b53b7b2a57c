"""The records that flow through the pipeline, and their acknowledgement.

Records walk one way, as columns rather than one object each: bytes read from a
file become `Records` (parsed, partials joined), then `Documents` (encoded, with
their ids), which a sink delivers. Acknowledgements walk back: a sink acks documents
once they are durably written; their `Ticket` counts down, and the file's
`AckTracker` moves its committed position forward only past whole tickets, in file
order, whatever order acks came in (`shipper.restart`: where reading restarts).
`Record` is one row, for the per-record steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from operator import add, itemgetter
from typing import Any

# The acknowledgement side lives with the restart rule; importable from here too.
from shipper.restart import AckTracker as AckTracker
from shipper.restart import Ticket as Ticket


class Record:
    """One log record as parsed from a file, partials already joined.

    `offset` is the byte offset of the record's first line in its file: with the
    file's identity it makes the record's deterministic id.
    """

    __slots__ = ("log", "offset", "stream", "time", "truncated")

    def __init__(
        self, time: str, stream: str, log: str, offset: int, truncated: bool = False
    ) -> None:
        self.time = time  # RFC 3339 as written in the line (any offset, 0-9 fraction digits)
        self.stream = stream  # "stdout" | "stderr" (or "unknown" for a malformed line shipped raw)
        self.log = log  # message without its trailing newline; invalid UTF-8 replaced
        self.offset = offset
        self.truncated = truncated

    def __repr__(self) -> str:
        return (
            f"Record(time={self.time!r}, stream={self.stream!r}, log={self.log[:60]!r}, "
            f"offset={self.offset}, truncated={self.truncated})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return (self.time, self.stream, self.log, self.offset, self.truncated) == (
            other.time,
            other.stream,
            other.log,
            other.offset,
            other.truncated,
        )

    __hash__ = None  # type: ignore[assignment]


class Records:
    """Records of one decoder call, as columns: the hot path builds no object per record.

    Row `i` is `times[i]`, `streams[i]`, `texts[i]`, `offsets[i]`; `truncated` lists
    the rows whose text was cut at max_record_bytes. `utc` is true while every time
    ends in `Z` (then no time needs converting for `@timestamp`).
    """

    __slots__ = ("offsets", "streams", "texts", "times", "truncated", "utc")

    def __init__(self) -> None:
        self.times: list[bytes] = []  # RFC 3339 as written, ASCII
        self.streams: list[bytes] = []  # b"stdout" | b"stderr" | b"unknown"
        self.texts: list[str] = []
        self.offsets: list[int] = []
        self.truncated: list[int] = []
        self.utc = True

    @classmethod
    def of(cls, rows: Iterable[Record]) -> Records:
        records = cls()
        for row in rows:
            records.append(row)
        return records

    def __len__(self) -> int:
        return len(self.texts)

    def __iter__(self) -> Iterator[Record]:
        """The rows as `Record`s (for the per-record steps: traces, tests)."""
        cut = set(self.truncated)
        for i, (time, stream, text, offset) in enumerate(
            zip(self.times, self.streams, self.texts, self.offsets, strict=True)
        ):
            yield Record(time.decode(), stream.decode(), text, offset, i in cut)

    def append(self, record: Record) -> None:
        if record.truncated:
            self.truncated.append(len(self.texts))
        if record.time[-1:] != "Z":
            self.utc = False
        self.times.append(record.time.encode())
        self.streams.append(record.stream.encode())
        self.texts.append(record.log)
        self.offsets.append(record.offset)

    def add_columns(
        self,
        times: Sequence[bytes],
        streams: Sequence[bytes],
        texts: Sequence[str],
        offsets: Sequence[int],
    ) -> None:
        """Whole untruncated rows, every time ending in `Z` (the parsers' fast path)."""
        self.times += times
        self.streams += streams
        self.texts += texts
        self.offsets += offsets

    def slice(self, start: int, stop: int) -> Records:
        """Rows `start` to `stop` (0 <= start <= stop <= len) as records of their own."""
        part = Records()
        part.times = self.times[start:stop]
        part.streams = self.streams[start:stop]
        part.texts = self.texts[start:stop]
        part.offsets = self.offsets[start:stop]
        part.truncated = [i - start for i in self.truncated if start <= i < stop]
        part.utc = self.utc
        return part

    def extend(self, other: Records) -> None:
        base = len(self.texts)
        self.truncated += [base + i for i in other.truncated]
        self.utc = self.utc and other.utc
        self.add_columns(other.times, other.streams, other.texts, other.offsets)


class Pieces(tuple[list[bytes] | bytes, ...]):
    """Documents as the pieces they are joined from: columns (one item per document) and
    constants between them. Document `i` is each column's item `i` and the constants, in
    order. The encoder makes no document object: a body joins the pieces directly."""


class Documents:
    """The encoded documents of one read of one file, as columns, acknowledging one ticket.

    The unit a sink receives: it cuts batches with `slice` and acks with `ack`, so
    nothing is built per document between the encoder and the request body.
    A document's id is `id_prefix` plus its record's offset in hex, unless `ids`
    gives them outright (replayed documents).
    """

    __slots__ = (
        "_count",
        "_nbytes",
        "fields",
        "id_prefix",
        "ids",
        "offsets",
        "pieces",
        "ticket",
        "times",
    )

    def __init__(
        self,
        docs: list[bytes] | Pieces,
        times: list[bytes],
        offsets: list[int],
        id_prefix: str,
        fields: Mapping[str, Any],
        ticket: Ticket,
        ids: list[str] | None = None,
    ) -> None:
        # JSON documents, UTF-8, each ending in b"\n": whole, or as `Pieces`
        self.pieces = docs if isinstance(docs, Pieces) else Pieces((docs,))
        self.times = times  # each document's @timestamp, RFC 3339 UTC, ASCII
        self.offsets = offsets  # each record's file offset
        self.id_prefix = id_prefix
        self.fields = fields  # the file's shared document fields, for index-name placeholders
        self.ticket = ticket
        self.ids = ids
        self._count = next(len(piece) for piece in self.pieces if isinstance(piece, list))
        self._nbytes = -1

    def __len__(self) -> int:
        return self._count

    @property
    def docs(self) -> list[bytes]:
        """Each document whole (built here when the documents are kept as pieces)."""
        pieces = self.pieces
        if len(pieces) == 1 and isinstance(pieces[0], list):
            return pieces[0]
        return list(map(b"".join, zip(*self._columns(), strict=True)))

    @property
    def nbytes(self) -> int:
        """The documents' size in bytes."""
        if self._nbytes < 0:
            count = len(self)
            self._nbytes = sum(
                sum(map(len, piece)) if isinstance(piece, list) else len(piece) * count
                for piece in self.pieces
            )
        return self._nbytes

    def sizes(self) -> list[int]:
        """Each document's size in bytes."""
        sizes = [0] * len(self)
        for column in self._columns():
            sizes = list(map(add, sizes, map(len, column)))
        return sizes

    def parts(self, lead: list[bytes] | None = None) -> list[bytes]:
        """The documents' pieces in order, each document after `lead[i]` if given: joined,
        they are the documents (with their action lines) one after another."""
        count = len(self)
        pieces: list[list[bytes] | bytes] = [*([lead] if lead is not None else []), *self.pieces]
        width = len(pieces)
        parts: list[bytes] = [b""] * (width * count)
        for k, piece in enumerate(pieces):
            parts[k::width] = piece if isinstance(piece, list) else repeat(piece, count)
        return parts

    def id_list(self) -> list[str]:
        """Each document's id."""
        if self.ids is not None:
            return self.ids
        return [f"{self.id_prefix}{offset:x}" for offset in self.offsets]

    def slice(self, start: int, stop: int) -> Documents:
        """Documents `start` to `stop` (same file, same ticket)."""
        return self._with(itemgetter(slice(start, stop)))

    def pick(self, positions: Sequence[int]) -> Documents:
        """The documents at `positions` (same file, same ticket)."""
        return self._with(lambda column: [column[i] for i in positions])

    def ack(self) -> None:
        """Acknowledge every document here (delivered or dead-lettered)."""
        if self._count:
            self.ticket.ack(self._count)

    def _with(self, rows: Callable[[list[Any]], list[Any]]) -> Documents:
        """These documents' `rows` (same file, same ticket)."""
        return Documents(
            Pieces(rows(p) if isinstance(p, list) else p for p in self.pieces),
            rows(self.times),
            rows(self.offsets),
            self.id_prefix,
            self.fields,
            self.ticket,
            None if self.ids is None else rows(self.ids),
        )

    def _columns(self) -> Iterator[Iterable[bytes]]:
        """Each piece as a column (a constant repeated)."""
        count = len(self)
        for piece in self.pieces:
            yield piece if isinstance(piece, list) else repeat(piece, count)


def ack_all(blocks: Iterable[Documents]) -> None:
    """Acknowledge every document of `blocks`."""
    for block in blocks:
        block.ack()
