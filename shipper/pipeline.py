"""Wires the tail source to a sink: bytes -> records -> documents -> batches.

The source calls `FilePipeline.feed` synchronously with each chunk it read; the
records become events that wait in one outbox, which a single sender task hands
to the sink whole. Acknowledgements go back through each event's ticket.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Coroutine
from typing import Any

from shipper.observe.metrics import Metrics
from shipper.record import AckTracker, Event, Record, Ticket
from shipper.settings import Settings
from shipper.sinks.base import Sink
from shipper.sources.tail.consumer import FileConsumer, FileInfo
from shipper.transforms.decoder import Decoder
from shipper.transforms.detect import make_decoder
from shipper.transforms.document import DocumentEncoder
from shipper.transforms.enrich import Enricher
from shipper.transforms.kubernetes import PodMetadata
from shipper.transforms.naming import names_from_path

log = logging.getLogger("shipper.pipeline")

_PodKey = tuple[str | None, str | None]


class FilePipeline:
    """One followed file: its decoder, its document encoder and its tracker."""

    def __init__(self, pipeline: Pipeline, file: FileInfo, tracker: AckTracker) -> None:
        self._pipeline = pipeline
        self.file = file
        self._tracker = tracker
        self._decoder = pipeline.new_decoder()
        self.names = names_from_path(file.path, file.link)
        meta = pipeline.enricher.known(self.names)
        self._excluded = False
        self._encoder = DocumentEncoder(
            file.key, self.names.container_id, pipeline.enricher.fields(self.names, meta)
        )
        self.apply(meta)
        # Records wait here (bounded in time) while the pod's metadata is looked up.
        self._held: list[tuple[list[Record], Ticket]] | None = None
        if pipeline.enricher.must_wait(self.names):
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

    def feed(self, data: bytes, start: int) -> None:
        self._emit(self._decoder.feed(data, start), len(data))

    def flush_idle(self, now: float) -> None:
        records = self._decoder.flush_idle(now)
        if records:
            self._emit(records, 0)

    def finish(self) -> None:
        self._emit(self._decoder.finish(), 0)
        self._pipeline.forget(self)

    def restart(self) -> None:
        # What was pending belonged to the old content; the file starts over at 0.
        self._decoder = self._pipeline.new_decoder()

    def _emit(self, records: list[Record], nbytes: int) -> None:
        ticket = self._tracker.issue(len(records), self._decoder.resume_offset, nbytes)
        if not records:
            return
        self._pipeline.metrics.records_read.inc(len(records))
        if self._held is not None:
            self._held.append((records, ticket))
        else:
            self._ship(records, ticket)

    def _ship(self, records: list[Record], ticket: Ticket) -> None:
        if self._excluded:
            self._pipeline.metrics.dropped("excluded", len(records))
            ticket.ack(len(records))
        else:
            self._pipeline.submit(self._encoder.encode(records, ticket))

    async def _await_metadata(self) -> None:
        try:
            self.apply(await self._pipeline.enricher.lookup(self.names))
        finally:
            held, self._held = self._held or [], None
            for records, ticket in held:
                self._ship(records, ticket)


class Pipeline:
    """The consumer the tail source feeds; owns the outbox and the task that empties it."""

    def __init__(self, settings: Settings, sink: Sink, metrics: Metrics, enricher: Enricher):
        self.settings = settings
        self.sink = sink
        self.metrics = metrics
        self.enricher = enricher
        self._outbox: list[Event] = []
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
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

    def submit(self, events: list[Event]) -> None:
        self._outbox.extend(events)
        self._idle.clear()
        self._ready.set()

    async def run(self) -> None:
        """Hand the outbox to the sink, whole, until cancelled."""
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._outbox:
                    events, self._outbox = self._outbox, []
                    await self.sink.send(events)
                if not self._tasks:
                    self._idle.set()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def flushed(self) -> None:
        """Wait until everything submitted (held records included) was handed to the sink."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._ready.set()
        await self._idle.wait()
