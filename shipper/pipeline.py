"""Wires the tail source to a sink: bytes -> records -> documents -> batches.

The source calls `FilePipeline.feed` (`shipper.file_pipeline`) synchronously with each
chunk it read; the chunk's records become `Documents` blocks (`shipper.block_encoding`)
that wait in the outbox, in their file's queue, and a single sender task hands the
blocks to the sink one at a time, the files taking turns (`shipper.outbox`): when the
sink is the bottleneck, a quiet file's block does not wait behind a flooding file's.
Acknowledgements go back through each block's ticket. Records stay columns all the way;
only trace joining (opt-in) walks them one by one.

Records are encoded a block at a time, each only once the byte budget has room for its
estimated size; records that do not fit wait for acknowledgements to free memory
(`Pipeline.encode`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Coroutine, Hashable
from typing import Any

from shipper.budget import ByteBudget
from shipper.file_pipeline import FilePipeline, PodKey
from shipper.observe.metrics import Metrics
from shipper.outbox import Outbox
from shipper.record import Documents
from shipper.restart import AckTracker
from shipper.settings import FilterSettings, RecordSettings, Schema
from shipper.sinks.base import Sink
from shipper.sources.tail.consumer import FileConsumer, FileInfo
from shipper.transforms.decoding.decoder import Decoder
from shipper.transforms.decoding.detect import make_decoder
from shipper.transforms.encoding.json_fields import JsonFields
from shipper.transforms.enrichment.enrich import Enricher
from shipper.transforms.filtering.rate_limit import RateLimiter
from shipper.transforms.kubernetes import PodMetadata

log = logging.getLogger("shipper.pipeline")

MAX_BLOCK_BYTES = 1024 * 1024  # documents encoded at once at most (estimated), and a
MIN_BLOCK_BYTES = 64 * 1024  # quarter of the budget if that is less, but not under this
BUDGET_RETRY = 0.2  # seconds: records waiting for the budget look again at least this often


class Pipeline:
    """The consumer the tail source feeds; owns the outbox and the task that empties it."""

    def __init__(
        self,
        settings: RecordSettings,
        sink: Sink,
        metrics: Metrics,
        enricher: Enricher,
        budget: ByteBudget,
        *,
        schema: Schema = "fluentd",
        once_wait: float | None = None,
        filters: FilterSettings | None = None,
    ) -> None:
        """From the sink's settings: `schema`, the shape of the documents it takes;
        `once_wait`, with --once only, how long waiting records wait for it to move
        (SHIPPER_ONCE_RETRY_TIMEOUT). `filters`: the drop and keep rules and rate limits
        (default: none)."""
        self.settings = settings
        self.filters = filters = filters or FilterSettings()
        self.schema = schema
        self._once_wait = once_wait
        self.budget = budget
        self.sink = sink
        self.metrics = metrics
        self.enricher = enricher
        self.json_fields = JsonFields(settings.merge_json_key, metrics)
        self.limiter = RateLimiter(
            filters.rate_limits, metrics, interval=filters.rate_limit_interval
        )
        self._outbox = Outbox()
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._flushing = asyncio.Event()  # stopping: hand everything over, ready or not
        self._caught_up = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._files: defaultdict[PodKey, set[FilePipeline]] = defaultdict(set)
        self.block_bytes = max(MIN_BLOCK_BYTES, min(MAX_BLOCK_BYTES, budget.limit // 4))
        self.unencoded = 0  # budget bytes held by records waiting to be encoded
        self._unencoded_docs = 0  # the estimated size of their documents
        self._waiting: dict[FilePipeline, None] = {}  # files with records waiting, in order
        self._encoder: asyncio.Task[None] | None = None  # encodes the waiting records
        self._moved = 0.0  # clock reading when the waiting records last changed
        if enricher.kube is not None:
            enricher.kube.subscribe(self._pod_changed)

    def new_decoder(self) -> Decoder:
        return make_decoder(self.settings.max_record_bytes, self.metrics)

    def open(self, file: FileInfo, tracker: AckTracker) -> FileConsumer:
        consumer = FilePipeline(self, file, tracker)
        self._files[consumer.pod_key].add(consumer)
        return consumer

    def forget(self, consumer: FilePipeline) -> None:
        files = self._files.get(consumer.pod_key)
        if files is not None:
            files.discard(consumer)
            if not files:
                del self._files[consumer.pod_key]

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a per-file background step; the pipeline owns and cancels it."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("pipeline step failed", exc_info=task.exception())

    def waits(self, raw: int, estimate: int) -> None:
        """Records waiting to be encoded changed by `raw` bytes read and `estimate` bytes
        of documents to be: reads leave room for those documents."""
        self.unencoded += raw
        self._unencoded_docs += estimate
        self.budget.reserved = max(0, self._unencoded_docs - self.unencoded)
        self._moved = time.monotonic()

    def has_room(self, size: int) -> bool:
        """Whether `size` more bytes of documents may be made now: they fit the budget,
        or the budget holds nothing but records waiting to be encoded (else none would
        ever be: one block may then go over, as one read larger than the budget does)."""
        budget = self.budget
        return budget.used + size <= budget.room(size) or budget.used <= self.unencoded

    def encode(self, consumer: FilePipeline) -> None:
        """Encode `consumer`'s waiting records now if the budget has room, else as
        acknowledgements free it, files in the order they started waiting (a small
        block of a quiet file fits the budget's reserve and does not wait for a flood's)."""
        if consumer in self._waiting or consumer.encode_some():
            return
        self._waiting[consumer] = None
        if self._encoder is None or self._encoder.done():
            self._encoder = asyncio.create_task(self._encode_waiting(), name="encoder")
            self._encoder.add_done_callback(self._task_done)

    async def _encode_waiting(self) -> None:
        while self._waiting:
            for consumer in [c for c in self._waiting if c.encode_some()]:
                del self._waiting[consumer]
            if not self._waiting:
                return
            if self.budget.on_full is not None:
                self.budget.on_full()  # what waits for more (a partial batch) should go
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.budget.released(), BUDGET_RETRY)

    def _pod_changed(self, meta: PodMetadata) -> None:
        for consumer in self._files.get((meta.namespace, meta.name), ()):
            consumer.apply(meta)

    def caught_up(self) -> None:
        """A backlog ran out: once what waits is handed over, the sink sends it at once
        rather than after the flush interval."""
        self._caught_up = True
        self._ready.set()

    def submit(self, file: Hashable, documents: Documents) -> None:
        """Queue a file's (or a journal's) block for the sink, after its earlier blocks."""
        self._outbox.put(file, documents)
        self._idle.clear()
        self._ready.set()

    async def run(self) -> None:
        """Hand the outbox to the sink, a block at a time and the files in turn, until
        cancelled. Each block is chosen only once the sink is ready for it, so a block
        submitted meanwhile by a quiet file goes out first."""
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._outbox:
                    await self._sink_ready()
                    await self.sink.send([self._outbox.pop()])
                if self._caught_up:
                    self._caught_up = False
                    self.sink.flush_soon()
                if not self._tasks:
                    self._idle.set()
        finally:
            tasks = [*self._tasks, *([self._encoder] if self._encoder else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _sink_ready(self) -> None:
        """Until the sink is ready for a block (`Sink.ready`), or the pipeline is stopping."""
        if self._flushing.is_set() or not self.sink.busy():
            return
        ready = asyncio.ensure_future(self.sink.ready())
        flushing = asyncio.ensure_future(self._flushing.wait())
        try:
            await asyncio.wait([ready, flushing], return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            flushing.cancel()

    async def flushed(self) -> None:
        """Wait until everything submitted (held records included) was handed to the sink;
        the sink takes it whether ready or not (it drains, within its own deadline).

        Records waiting for the budget are waited for only with --once, and only while
        acknowledgements still free it (for up to SHIPPER_ONCE_RETRY_TIMEOUT without):
        a stalled output keeps them, unacknowledged, for the exit status to tell. A
        stopping agent encodes them at once (a read's last block moves its position:
        without it the blocks already delivered would be sent again after a restart).
        """
        self._flushing.set()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._once_wait is None:  # stopping: what was read goes out whole, as before
            for consumer in list(self._waiting):
                consumer.encode_some(force=True)
            self._waiting.clear()
        encoder = self._encoder
        while (
            self._once_wait is not None
            and encoder is not None
            and not encoder.done()
            and time.monotonic() - self._moved < self._once_wait
        ):
            await asyncio.wait([encoder], timeout=BUDGET_RETRY)
        self._ready.set()
        await self._idle.wait()
