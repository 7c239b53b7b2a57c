"""Blocks of documents into `_bulk` batches for the workers.

Each block's action lines are built at once, and runs of whole blocks, or slices of
them, are appended to the batch being filled; it is cut at SHIPPER_BATCH_MAX_BYTES or
_MAX_RECORDS, when it has waited SHIPPER_FLUSH_INTERVAL, or on `flush_soon`. Cut
batches wait in a `BatchQueue` for the workers. Nothing here steps through the
documents one by one in Python: a block that does not fit is cut by bisection over
prefix sums of its documents' sizes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from bisect import bisect_right
from itertools import accumulate
from operator import add

from shipper.record import Documents
from shipper.settings import SinkSettings
from shipper.sinks.elasticsearch.bulk import BulkBatch, action_lines


class BatchQueue(asyncio.Queue[BulkBatch]):
    """The batches cut for the workers; knows how many workers wait for one."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.waiting = 0  # workers waiting in `get`
        self.changed = asyncio.Event()  # set when a worker starts waiting

    async def get(self) -> BulkBatch:
        self.waiting += 1
        self.changed.set()
        try:
            return await super().get()
        finally:
            self.waiting -= 1

    def busy(self) -> bool:
        """More than one batch is queued beyond the workers waiting."""
        return self.qsize() > self.waiting

    async def until_a_worker_is_free(self) -> None:
        """Until a batch formed now would be taken by the next worker to be free: no
        more than one is queued beyond the workers waiting (that one keeps a fast
        Elasticsearch busy while the next batch is formed)."""
        while self.busy():
            self.changed.clear()
            await self.changed.wait()


class Batcher:
    """Fills one batch at a time and cuts it into `queue` (see the module docstring)."""

    def __init__(self, settings: SinkSettings, queue: BatchQueue) -> None:
        self._max_bytes = settings.batch_max_bytes
        self._max_records = settings.batch_max_records
        self._flush_interval = settings.flush_interval
        self._op_type = settings.es_op_type
        self._with_ids = settings.es_id == "auto"
        self._queue = queue
        self._filling = BulkBatch([], [], [])  # the batch documents are added to
        self._first_added = asyncio.Event()  # set when the batch being filled gets its first
        self._flush_now = asyncio.Event()

    def __bool__(self) -> bool:
        """Whether the batch being filled holds documents."""
        return bool(self._filling)

    async def add(self, block: Documents, indices: list[str]) -> None:
        """Add one block, document `i` to index `indices[i]`, cutting batches inside it
        where they fill up; waits while the queue is full."""
        actions = action_lines(block, indices, self._op_type, self._with_ids)
        count = len(block)
        nbytes = sum(map(len, actions)) + block.nbytes
        batch = self._filling
        if len(batch) + count <= self._max_records and batch.nbytes + nbytes <= self._max_bytes:
            self._fill(block, 0, count, actions, indices, nbytes)  # the usual case
        else:
            await self._add_in_runs(block, actions, indices)
        if len(self._filling) >= self._max_records:
            await self.cut()

    async def _add_in_runs(
        self, block: Documents, actions: list[bytes], indices: list[str]
    ) -> None:
        """Add a block that does not fit the batch being filled, a batch's room at a time."""
        count = len(block)
        # Body bytes before each document (prefix sums, built in C): each batch's run
        # is found by bisection instead of a Python step per document.
        before = list(accumulate(map(add, map(len, actions), block.sizes()), initial=0))
        i = 0
        while i < count:
            batch = self._filling
            # The longest run of documents that fits the batch being filled.
            end = min(count, i + self._max_records - len(batch))
            room = self._max_bytes - batch.nbytes + before[i]
            j = max(i, bisect_right(before, room, i, end + 1) - 1)
            if j == i and not batch:
                j = i + 1  # a document bigger than a whole batch goes alone
            self._fill(block, i, j, actions, indices, before[j] - before[i])
            i = j
            if i < count:
                await self.cut()

    def _fill(
        self,
        block: Documents,
        start: int,
        stop: int,
        actions: list[bytes],
        indices: list[str],
        nbytes: int,
    ) -> None:
        """Put documents `start` to `stop` of `block` (`nbytes` of body) in the batch."""
        batch = self._filling
        if not batch and start < stop:
            batch.first_added = time.monotonic()
            self._first_added.set()
        batch.add(block, start, stop, actions, indices)
        batch.nbytes += nbytes

    async def cut(self) -> None:
        """Queue the batch being filled for the workers and start a new one."""
        batch, self._filling = self._filling, BulkBatch([], [], [])
        await self._queue.put(batch)

    async def flush_on_time(self) -> None:
        """Cut a partial batch once it has waited SHIPPER_FLUSH_INTERVAL, or on `flush_soon`."""
        if self._filling:  # started again after a failure: the batch still gets cut
            self._first_added.set()
        while True:
            await self._first_added.wait()
            self._first_added.clear()
            batch = self._filling
            if not batch:
                continue
            wait = batch.first_added + self._flush_interval - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), max(wait, 0))
            if self._flush_now.is_set():
                # whatever is being filled now: `batch` may have filled up meanwhile, and
                # a `flush_soon` meant for the batch after it must not be lost
                self._flush_now.clear()
                if self._filling:
                    await self.cut()
            elif self._filling is batch:
                await self.cut()

    def flush_soon(self) -> None:
        """Nothing more can come for now: cut the batch being filled."""
        if self._filling:
            self._flush_now.set()
