"""Wires the tail source to a sink: bytes -> records -> documents -> batches.

The source calls `FilePipeline.feed` synchronously with each chunk it read; the
chunk's records become one `Documents` block that waits in the outbox, in its
file's queue, and a single sender task hands the blocks to the sink one at a time,
the files taking turns (`shipper.outbox`): when the sink is the bottleneck, a quiet
file's block does not wait behind a flooding file's. Acknowledgements go back
through each block's ticket. Records stay columns all the way; only trace joining (opt-in)
walks them one by one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Coroutine, Hashable
from typing import Any

from shipper.budget import ByteBudget
from shipper.observe.metrics import Metrics
from shipper.outbox import Outbox
from shipper.record import AckTracker, Documents, Records
from shipper.settings import Settings
from shipper.sinks.base import Sink
from shipper.sources.tail.consumer import FileConsumer, FileInfo
from shipper.transforms.decoder import Decoder
from shipper.transforms.detect import make_decoder
from shipper.transforms.document import DocumentEncoder
from shipper.transforms.enrich import Enricher
from shipper.transforms.json_fields import JsonFields, json_wanted
from shipper.transforms.kubernetes import PodMetadata
from shipper.transforms.multiline import TraceJoiner, multiline_kind, rules_for
from shipper.transforms.naming import names_from_path

log = logging.getLogger("shipper.pipeline")

_PodKey = tuple[str | None, str | None]


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
        self._excluded = meta is not None and meta.excluded
        self._encoder = DocumentEncoder(
            file.key, self.names.container_id, pipeline.enricher.fields(self.names, meta)
        )
        # Reads wait here, neither joined nor ticketed, while the pod's metadata (which
        # may ask for trace joining) is looked up: a bounded time.
        self._held: list[_Read] | None = None
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
            self._encoder.set_fields(self._pipeline.enricher.fields(self.names, meta))
            self._excluded = meta.excluded
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

    def finish(self) -> None:
        before = self._decoder.resume_offset
        records = self._decoder.finish()
        self._take(_Read(records, before, self._decoder.resume_offset, 0, last=True))
        self._pipeline.forget(self)

    def _structure(self, meta: PodMetadata | None) -> None:
        """JSON parsing and trace joining as the pod's annotations (else the settings) ask."""
        pipeline = self._pipeline
        self._encoder.json = pipeline.json_fields if json_wanted(pipeline.settings, meta) else None
        kind = multiline_kind(pipeline.settings, meta)
        joiner = self._joiner
        if joiner is None:
            if kind:
                self._joiner = TraceJoiner(rules_for(kind), pipeline.settings.max_record_bytes)
        elif joiner.kind != kind:
            if not joiner.idle and self._held is None:
                self._emit(Records.of(joiner.flush()), self._decoder.resume_offset, 0)
            joiner.rules = rules_for(kind)

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
        """One ticket for `records`; reading resumes where no open trace is lost."""
        resume = decoder_resume
        if self._joiner is not None:
            resume = self._joiner.resume_offset(decoder_resume)
        ticket = self._tracker.issue(len(records), resume, nbytes)
        if not records:
            return
        self._pipeline.metrics.records_read.inc(len(records))
        if self._excluded:
            self._pipeline.metrics.dropped("excluded", len(records))
            ticket.ack(len(records))
        else:
            documents = self._encoder.encode(records, ticket)
            # The budget holds what is in memory: the documents, no longer the bytes read.
            extra = sum(map(len, documents.docs)) - nbytes
            if extra > 0:
                self._pipeline.budget.charge(extra)
                ticket.nbytes += extra
            self._pipeline.submit(self, documents)

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
        self._outbox = Outbox()
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._flushing = asyncio.Event()  # stopping: hand everything over, ready or not
        self._caught_up = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._files: defaultdict[_PodKey, set[FilePipeline]] = defaultdict(set)
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
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

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
        the sink takes it whether ready or not (it drains, within its own deadline)."""
        self._flushing.set()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._ready.set()
        await self._idle.wait()
