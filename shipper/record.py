"""The record that flows through the pipeline, and its acknowledgement.

A record walks one way: bytes read from a file become a `Record` (parsed, partials
joined), then an `Event` (an encoded document with its id), which a sink delivers.
Acknowledgements walk back: a sink acks each event once it is durably written; the
event's `Ticket` counts down, and the file's `AckTracker` moves its committed
position forward only past whole tickets, in file order, whatever order acks came in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any


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


class Ticket:
    """Counts the unacknowledged events that came from one read of one file."""

    __slots__ = ("_tracker", "nbytes", "pending", "resume")

    def __init__(self, tracker: AckTracker, pending: int, resume: int, nbytes: int) -> None:
        self._tracker = tracker
        self.pending = pending
        self.resume = resume  # where reading must restart to reproduce all not yet acked
        self.nbytes = nbytes  # raw bytes this read held in memory (released on completion)

    def ack(self, n: int = 1) -> None:
        """Acknowledge `n` events of this ticket (delivered or dead-lettered)."""
        self.pending -= n
        if self.pending <= 0:
            self._tracker.completed(self)


class AckTracker:
    """Turns out-of-order acknowledgements of one file into an in-order committed offset.

    `on_commit(offset)` is called whenever the committed offset moves; `on_release(n)`
    whenever a ticket's raw bytes are no longer held (budget accounting).
    """

    __slots__ = ("_done", "_on_commit", "_on_release", "_open", "committed")

    def __init__(
        self,
        committed: int,
        on_commit: Callable[[int], None],
        on_release: Callable[[int], None],
    ) -> None:
        self.committed = committed
        self._on_commit = on_commit
        self._on_release = on_release
        self._open: deque[Ticket] = deque()
        self._done: set[int] = set()

    def issue(self, events: int, resume: int, nbytes: int) -> Ticket:
        """A ticket for one read; a read that produced no events completes at once."""
        ticket = Ticket(self, events, resume, nbytes)
        self._open.append(ticket)
        if events <= 0:
            self.completed(ticket)
        return ticket

    def completed(self, ticket: Ticket) -> None:
        self._on_release(ticket.nbytes)
        ticket.nbytes = 0
        self._done.add(id(ticket))
        moved = False
        while self._open and id(self._open[0]) in self._done:
            head = self._open.popleft()
            self._done.discard(id(head))
            if head.resume != self.committed:
                self.committed = head.resume
                moved = True
        if moved:
            self._on_commit(self.committed)


class Event:
    """An encoded document ready for a sink, and the ticket it acknowledges."""

    __slots__ = ("doc", "fields", "id", "ticket", "timestamp")

    def __init__(
        self, doc: bytes, id: str, timestamp: str, fields: Mapping[str, Any], ticket: Ticket
    ) -> None:
        self.doc = doc  # the JSON document, UTF-8, no trailing newline
        self.id = id  # deterministic id (SPEC "Delivery")
        self.timestamp = timestamp  # the document's @timestamp (UTC, RFC 3339)
        self.fields = fields  # the file's shared document fields, for index-name placeholders
        self.ticket = ticket


def ack_all(events: list[Event]) -> None:
    """Acknowledge a delivered batch, one call per ticket rather than per event."""
    if not events:
        return
    current = events[0].ticket
    count = 0
    for event in events:
        if event.ticket is not current:
            current.ack(count)
            current, count = event.ticket, 0
        count += 1
    current.ack(count)
