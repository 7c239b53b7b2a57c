"""Where reading a file restarts after a crash or a stop: the rule, in one place.

The rule: **the saved offset never passes an unacknowledged record, an open partial
group or an open trace.** Re-reading from the saved offset then rebuilds every record
not yet acknowledged whole, each with its same offset (hence its same id, so whatever
Elasticsearch already holds is not doubled).

Each stage that holds something back lowers the restart point of what it passes on;
only acknowledgements move the saved offset forward:

1. Decoding (`decoder_restart`): an unterminated line restarts at its start; open
   partial groups at the last line start where no group was open.
2. Trace joining (`trace_restart`): lowered to the base of any open trace, then to the
   base of any trace the point falls inside, until it falls inside none (a restart in
   the middle of a trace would make its later lines records of their own). A trace's
   base is its first line when its read held whole lines only (`whole_lines`), else
   where re-reading that read starts.
3. Encoding (`block_restart`): a read's records may go out as several blocks, one
   ticket each; only the last block carries the read's restart point, the others the
   point of the ticket before them.
4. Acknowledgement (`AckTracker`): the committed offset moves to a ticket's point only
   once that ticket and every earlier ticket of the file are acknowledged, whatever
   order the acknowledgements came in. The tail source saves the committed offsets.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

Span = tuple[int, int, int]  # a trace's first line's offset, its last line's offset, its base


def decoder_restart(line_start: int, group_restart: int | None) -> int:
    """The decoder's restart point: where its open partial groups restart (`group_restart`,
    None when none is open), else where its unterminated line starts."""
    return line_start if group_restart is None else group_restart


def whole_lines(fresh: bool, records: int, data: bytes) -> bool:
    """Whether each record of a read is one whole line, so that each record's own offset
    is a restart point: nothing was pending before the read (`fresh`) but an unterminated
    line, and the read made one record per newline."""
    return fresh and records == data.count(b"\n")


def trace_restart(
    resume: int, open_spans: Iterable[Span], closed: list[Span]
) -> tuple[int, list[Span]]:
    """The restart point `resume` lowered past open traces and the traces it falls inside,
    and the closed spans still worth keeping (later points start at or after this one,
    or at the base of a trace that reaches it: spans ending below all of those go)."""
    opened = list(open_spans)
    resume = min([resume, *(base for _, _, base in opened)])
    spans = closed + opened
    lowered = True
    while lowered:
        lowered = False
        for first, reach, base in spans:
            if first < resume <= reach:
                resume, lowered = base, True
    floor = resume
    while (low := min([floor, *(s[2] for s in closed if s[1] >= floor)])) < floor:
        floor = low
    return resume, [span for span in closed if span[1] >= floor]


def block_restart(last: bool, read_restart: int, previous: int) -> int:
    """A block's ticket's restart point: the read's for its last block, else the previous
    ticket's (the read's records after this block are not ticketed yet)."""
    return read_restart if last else previous


class Ticket:
    """Counts the unacknowledged records that came from one read of one file."""

    __slots__ = ("_tracker", "nbytes", "pending", "resume")

    def __init__(self, tracker: AckTracker, pending: int, resume: int, nbytes: int) -> None:
        self._tracker = tracker
        self.pending = pending
        self.resume = resume  # where reading must restart to reproduce all not yet acked
        self.nbytes = nbytes  # raw bytes this read held in memory (released on completion)

    def ack(self, n: int = 1) -> None:
        """Acknowledge `n` records of this ticket (delivered or dead-lettered)."""
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

    def issue(self, records: int, resume: int, nbytes: int) -> Ticket:
        """A ticket for one read; a read that produced no records completes at once."""
        ticket = Ticket(self, records, resume, nbytes)
        self._open.append(ticket)
        if records <= 0:
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
