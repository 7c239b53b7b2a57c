"""A file's records waiting to be ticketed and encoded, a block at a time under the budget.

Documents can be far larger than the bytes they came from (a pod's metadata is
repeated in each), so records are encoded a block at a time, each only once the byte
budget has room for its estimated size; records that do not fit wait here, in file
order, for acknowledgements to free memory (`Pipeline.encode` tries again).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from shipper.record import Records
from shipper.restart import AckTracker, block_restart
from shipper.transforms.encoding.document import DocumentEncoder

if TYPE_CHECKING:
    from shipper.file_pipeline import FilePipeline
    from shipper.pipeline import Pipeline


class _Pending:
    """Records not yet (all) ticketed and encoded: they wait for room in the byte budget."""

    __slots__ = ("done", "estimate", "excluded", "raw", "records", "resume")

    def __init__(
        self, records: Records, resume: int, raw: int, excluded: bool, estimate: int
    ) -> None:
        self.records = records
        self.resume = resume  # where reading restarts once all of them are acknowledged
        self.raw = raw  # the bytes read for them, held in the budget
        self.excluded = excluded  # their pod's records are dropped
        self.estimate = estimate  # the size of their documents not made yet
        self.done = 0  # rows encoded so far


class Backlog:
    """One file's waiting records; each block encoded gets its own ticket."""

    def __init__(
        self,
        pipeline: Pipeline,
        owner: FilePipeline,
        encoder: DocumentEncoder,
        tracker: AckTracker,
    ) -> None:
        self._pipeline = pipeline
        self._owner = owner  # the file whose outbox queue the blocks go to
        self._encoder = encoder
        self._tracker = tracker
        self._waiting: deque[_Pending] = deque()  # in file order
        self._issued = tracker.committed  # the restart point of the last ticket issued

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def add(self, records: Records, resume: int, nbytes: int, excluded: bool) -> None:
        """Records to ticket and encode after those already waiting."""
        estimate = 0 if excluded else self._encoder.estimate(records)
        self._waiting.append(_Pending(records, resume, nbytes, excluded, estimate))
        self._pipeline.waits(nbytes, estimate)

    def drop(self, records: Records, resume: int, nbytes: int) -> None:
        """A ticket for records that need no document (none, or an excluded pod's)."""
        ticket = self._tracker.issue(len(records), resume, nbytes)
        self._issued = resume
        if records:
            self._pipeline.metrics.dropped("excluded", len(records))
            ticket.ack(len(records))

    def encode_some(self, force: bool = False) -> bool:
        """Encode waiting records, a block at a time, while the budget has room for each
        block's estimated size (or regardless, when `force`d); True when none are left.

        Each block gets its own ticket, so memory is freed as each block is acknowledged.
        Only the read's last block moves the position on (`block_restart`) and holds the
        bytes read, which its records occupy until then.
        """
        pipeline = self._pipeline
        while self._waiting:
            pending = self._waiting[0]
            records = pending.records
            if pending.excluded or not records:
                self._waiting.popleft()
                pipeline.waits(-pending.raw, -pending.estimate)
                self.drop(records, pending.resume, pending.raw)
                continue
            stop, estimate = self._encoder.block(records, pending.done, pipeline.block_bytes)
            last = stop == len(records)
            if not force and not pipeline.has_room(estimate - pending.raw if last else estimate):
                return False
            self._encode_block(pending, stop, estimate, last)
        return True

    def _encode_block(self, pending: _Pending, stop: int, estimate: int, last: bool) -> None:
        """Ticket, encode and submit rows `pending.done` to `stop` of the first waiting read."""
        pipeline = self._pipeline
        records = pending.records
        whole = pending.done == 0 and last
        part = records if whole else records.slice(pending.done, stop)
        pending.done = stop
        resume = block_restart(last, pending.resume, self._issued)
        ticket = self._tracker.issue(len(part), resume, pending.raw if last else 0)
        if last:
            self._waiting.popleft()
            pipeline.waits(-pending.raw, -pending.estimate)
            self._issued = pending.resume
        else:
            estimate = min(estimate, pending.estimate)
            pending.estimate -= estimate
            pipeline.waits(0, -estimate)
        documents = self._encoder.encode(part, ticket)
        # The budget holds what is in memory: the documents, and the bytes read until
        # their last records are encoded (then the larger of the two, as one read's).
        size = documents.nbytes
        extra = size - min(size, pending.raw) if last else size
        if extra > 0:
            pipeline.budget.charge(extra)
            ticket.nbytes += extra
        pipeline.submit(self._owner, documents)
