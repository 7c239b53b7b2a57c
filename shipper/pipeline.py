"""Wires the tail source to a sink: bytes -> records -> documents -> batches.

The source calls `FilePipeline.feed` synchronously with each chunk it read; the
chunk's records become `Documents` blocks that wait in the outbox, in their file's
queue, and a single sender task hands the blocks to the sink one at a time, the
files taking turns (`shipper.outbox`): when the sink is the bottleneck, a quiet
file's block does not wait behind a flooding file's. Acknowledgements go back
through each block's ticket. Records stay columns all the way; only trace joining (opt-in)
walks them one by one.

Documents can be far larger than the bytes they came from (a pod's metadata is
repeated in each), so records are encoded a block at a time, each only once the byte
budget has room for its estimated size; records that do not fit wait, ticketed, for
acknowledgements to free memory (`Pipeline.encode`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Coroutine
from typing import Any

from shipper.budget import SMALL_REQUEST, ByteBudget
from shipper.observe.metrics import Metrics
from shipper.outbox import Outbox
from shipper.record import AckTracker, Documents, Records
from shipper.settings import Settings
from shipper.sinks.base import Sink
from shipper.sources.tail.consumer import FileConsumer, FileInfo
from shipper.transforms.decoder import Decoder
from shipper.transforms.detect import make_decoder
from shipper.transforms.document import DocumentEncoder
from shipper.transforms.enrich import TRUNCATED_KEY, Enricher
from shipper.transforms.filters import FileFilter, file_filter
from shipper.transforms.json_fields import JsonFields, json_wanted
from shipper.transforms.kubernetes import PodMetadata
from shipper.transforms.multiline import TraceJoiner, multiline_kind, rules_for
from shipper.transforms.naming import names_from_path
from shipper.transforms.pod_options import excluded
from shipper.transforms.rate_limit import FileLimit, RateLimiter, namespace_limit

log = logging.getLogger("shipper.pipeline")

_PodKey = tuple[str | None, str | None]
MAX_BLOCK_BYTES = 1024 * 1024  # documents encoded at once at most (estimated), and a
MIN_BLOCK_BYTES = 64 * 1024  # quarter of the budget if that is less, but not under this
BUDGET_RETRY = 0.2  # seconds: records waiting for the budget look again at least this often


class _Read:
    """One decoder call's records, kept until they are joined into traces and shipped."""

    __slots__ = ("after", "before", "clean", "data", "last", "nbytes", "records")

    def __init__(
        self,
        records: Records,
        before: int,
        after: int,
        nbytes: int,
        data: bytes = b"",
        clean: bool = False,
        last: bool = False,
    ) -> None:
        self.records = records
        self.before = before  # the decoder's resume offset before the call
        self.after = after  # and after it
        self.nbytes = nbytes
        self.data = data  # the bytes fed, if any
        self.clean = clean  # nothing was pending before the call but an unterminated line
        self.last = last  # the file's end: open traces go out after these records

    def exact(self) -> bool:
        """Each record is one whole line, so each record's offset is a restart point."""
        return self.clean and len(self.records) == self.data.count(b"\n")


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


class FilePipeline:
    """One followed file: its decoder, trace joiner, document encoder and tracker."""

    def __init__(self, pipeline: Pipeline, file: FileInfo, tracker: AckTracker) -> None:
        self._pipeline = pipeline
        self.file = file
        self._tracker = tracker
        self._decoder = pipeline.new_decoder()
        self._line_start: int | None = None  # where the file's unterminated line starts
        self._joiner: TraceJoiner | None = None
        self.names = names_from_path(file.path, file.link)
        meta = pipeline.enricher.known(self.names)
        self._excluded = excluded(meta, self.names.container_name)
        self._filter: FileFilter | None = None  # drop and keep rules, if any cover the file
        self._limit: FileLimit | None = None  # its rate limit, if any
        self._encoder = DocumentEncoder(file.key, self.names.container_id, self._fields(meta))
        # Reads wait here, neither joined nor ticketed, while the pod's metadata (which
        # may ask for trace joining) is looked up: a bounded time.
        self._held: list[_Read] | None = None
        self._backlog: deque[_Pending] = deque()  # in file order
        self._issued = tracker.committed  # the resume offset of the last ticket issued
        self._structure(meta)
        if meta is None and pipeline.enricher.can_know(self.names):
            self._held = []
            pipeline.spawn(self._await_metadata())

    @property
    def pod_key(self) -> _PodKey:
        return self.names.namespace_name, self.names.pod_name

    def apply(self, meta: PodMetadata | None) -> None:
        """Use this pod metadata from now on (documents already encoded keep theirs)."""
        if meta is not None:
            self._encoder.set_fields(self._fields(meta))
            self._excluded = excluded(meta, self.names.container_name)
            self._structure(meta)

    def feed(self, data: bytes, start: int) -> None:
        decoder = self._decoder
        if self._line_start is None:  # a fresh decoder: nothing before `start` is pending
            before = self._line_start = start
        else:
            before = decoder.resume_offset
        clean = before == self._line_start
        records = decoder.feed(data, start)
        newline = data.rfind(b"\n")
        if newline >= 0:
            self._line_start = start + newline + 1
        self._take(_Read(records, before, decoder.resume_offset, len(data), data, clean))

    def flush_idle(self, now: float) -> None:
        before = self._decoder.resume_offset
        records = self._decoder.flush_idle(now)
        if records:
            self._take(_Read(records, before, self._decoder.resume_offset, 0))
        if self._joiner is not None and self._held is None:
            joined = self._joiner.flush_idle(now)
            if joined:
                self._emit(Records.of(joined), self._decoder.resume_offset, 0)
        if self._limit is not None and self._limit.due(now) and self._held is None:
            self._emit(Records(), self._decoder.resume_offset, 0)  # the marker of drops

    def finish(self) -> None:
        before = self._decoder.resume_offset
        records = self._decoder.finish()
        self._take(_Read(records, before, self._decoder.resume_offset, 0, last=True))
        self._pipeline.forget(self)

    def _fields(self, meta: PodMetadata | None) -> dict[str, Any]:
        """The documents' per-file fields, counting a trim of the pod's metadata."""
        fields = self._pipeline.enricher.fields(self.names, meta)
        if TRUNCATED_KEY in fields.get("kubernetes", ()):
            self._pipeline.metrics.kubernetes_metadata_truncated.inc()
        return fields

    def _structure(self, meta: PodMetadata | None) -> None:
        """JSON parsing and trace joining as the pod's annotations (else the settings) ask."""
        pipeline = self._pipeline
        settings = pipeline.settings
        names = self.names
        container = names.container_name
        self._encoder.json = (
            pipeline.json_fields if json_wanted(settings, meta, container) else None
        )
        kind = multiline_kind(settings, meta, container)
        joiner = self._joiner
        if joiner is None:
            if kind:
                rules = rules_for(kind, settings.multiline_rules)
                self._joiner = TraceJoiner(rules, settings.max_record_bytes)
        elif joiner.kind != kind:
            if not joiner.idle and self._held is None:
                self._emit(Records.of(joiner.flush()), self._decoder.resume_offset, 0)
            joiner.rules = rules_for(kind, settings.multiline_rules)
        namespace = names.namespace_name
        self._filter = file_filter(settings.filters, namespace, container, meta, pipeline.metrics)
        self._limit = pipeline.limiter.file_limit(
            namespace, names.pod_name, container, namespace_limit(meta), self._limit
        )

    def _take(self, read: _Read) -> None:
        if self._held is not None:
            self._held.append(read)
            return
        records = read.records
        joiner = self._joiner
        if joiner is not None and not joiner.passes(records.texts):
            rows = joiner.join(list(records), read.before, read.exact)
            if read.last:
                rows += joiner.flush()
            records = Records.of(rows)
        self._emit(records, read.after, read.nbytes)

    def _emit(self, records: Records, decoder_resume: int, nbytes: int) -> None:
        """Records to ticket and encode, in file order; reading resumes where no open
        trace is lost."""
        resume = decoder_resume
        if self._joiner is not None:
            resume = self._joiner.resume_offset(decoder_resume)
        if records:
            self._pipeline.metrics.records_read.inc(len(records))
        if self._filter is not None and records and not self._excluded:
            records = self._filter.apply(records)
        if self._limit is not None and not self._excluded:
            records = self._limit.apply(records)
        if not self._backlog and (not records or self._excluded):
            self._drop(records, resume, nbytes)
            return
        estimate = 0 if self._excluded else self._encoder.estimate(records)
        self._backlog.append(_Pending(records, resume, nbytes, self._excluded, estimate))
        self._pipeline.waits(nbytes, estimate)
        self._pipeline.encode(self)

    def _drop(self, records: Records, resume: int, nbytes: int) -> None:
        """A ticket for records that need no document (none, or an excluded pod's)."""
        ticket = self._tracker.issue(len(records), resume, nbytes)
        self._issued = resume
        if records:
            self._pipeline.metrics.dropped("excluded", len(records))
            ticket.ack(len(records))

    def encode_some(self, force: bool = False) -> bool:
        """Encode waiting records, a block at a time, while the budget has room for each
        block's estimated size; True when none are left waiting.

        Each block gets its own ticket, so memory is freed as each block is acknowledged.
        Only the read's last block moves the position on (the others resume where the
        ticket before them does) and holds the bytes read, which its records occupy
        until then.
        """
        pipeline = self._pipeline
        encoder = self._encoder
        while self._backlog:
            pending = self._backlog[0]
            records = pending.records
            if pending.excluded or not records:
                self._backlog.popleft()
                pipeline.waits(-pending.raw, -pending.estimate)
                self._drop(records, pending.resume, pending.raw)
                continue
            stop, estimate = encoder.block(records, pending.done, pipeline.block_bytes)
            last = stop == len(records)
            if not force and not pipeline.has_room(estimate - pending.raw if last else estimate):
                return False
            whole = pending.done == 0 and stop == len(records)
            part = records if whole else records.slice(pending.done, stop)
            pending.done = stop
            ticket = self._tracker.issue(
                len(part), pending.resume if last else self._issued, pending.raw if last else 0
            )
            if last:
                self._backlog.popleft()
                pipeline.waits(-pending.raw, -pending.estimate)
                self._issued = pending.resume
            else:
                estimate = min(estimate, pending.estimate)
                pending.estimate -= estimate
                pipeline.waits(0, -estimate)
            documents = encoder.encode(part, ticket)
            # The budget holds what is in memory: the documents, and the bytes read until
            # their last records are encoded (then the larger of the two, as one read's).
            size = sum(map(len, documents.docs))
            extra = size - min(size, pending.raw) if last else size
            if extra > 0:
                pipeline.budget.charge(extra)
                ticket.nbytes += extra
            pipeline.submit(self, documents)
        return True

    async def _await_metadata(self) -> None:
        try:
            self.apply(await self._pipeline.enricher.lookup(self.names))
        finally:
            held, self._held = self._held or [], None
            for read in held:
                self._take(read)


class Pipeline:
    """The consumer the tail source feeds; owns the outbox and the task that empties it."""

    def __init__(
        self,
        settings: Settings,
        sink: Sink,
        metrics: Metrics,
        enricher: Enricher,
        budget: ByteBudget,
    ) -> None:
        self.settings = settings
        self.budget = budget
        self.sink = sink
        self.metrics = metrics
        self.enricher = enricher
        self.json_fields = JsonFields(settings.merge_json_key, metrics)
        self.limiter = RateLimiter(
            settings.rate_limits, metrics, interval=settings.rate_limit_interval
        )
        self._outbox = Outbox()
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._flushing = asyncio.Event()  # stopping: hand everything over, ready or not
        self._caught_up = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._files: defaultdict[_PodKey, set[FilePipeline]] = defaultdict(set)
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
        room = budget.limit + (budget.reserve if size <= SMALL_REQUEST else 0)
        return budget.used + size <= room or budget.used <= self.unencoded

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

    def submit(self, file: FilePipeline, documents: Documents) -> None:
        """Queue a file's block for the sink, after that file's earlier blocks."""
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
        if not self.settings.once:  # stopping: what was read goes out whole, as before
            for consumer in list(self._waiting):
                consumer.encode_some(force=True)
            self._waiting.clear()
        encoder = self._encoder
        while (
            self.settings.once
            and encoder is not None
            and not encoder.done()
            and time.monotonic() - self._moved < self.settings.once_retry_timeout
        ):
            await asyncio.wait([encoder], timeout=BUDGET_RETRY)
        self._ready.set()
        await self._idle.wait()
