"""Wires the tail source to a sink: bytes -> records -> documents -> batches.

The source calls `FilePipeline.feed` synchronously with each chunk it read; the
records become events that wait in one outbox, which a single sender task hands
to the sink whole. Acknowledgements go back through each event's ticket.
"""

from __future__ import annotations

import asyncio

from shipper.observe.metrics import Metrics
from shipper.record import AckTracker, Event, Record
from shipper.settings import Settings
from shipper.sinks.base import Sink
from shipper.sources.tail.consumer import FileConsumer, FileInfo
from shipper.transforms.decoder import Decoder
from shipper.transforms.detect import make_decoder
from shipper.transforms.document import DocumentEncoder, file_fields
from shipper.transforms.naming import names_from_path


class FilePipeline:
    """One followed file: its decoder, its document encoder and its tracker."""

    def __init__(self, pipeline: Pipeline, file: FileInfo, tracker: AckTracker) -> None:
        self._pipeline = pipeline
        self.file = file
        self._tracker = tracker
        self._decoder = pipeline.new_decoder()
        names = names_from_path(file.path, file.link)
        self.names = names
        fields = file_fields(
            names.namespace_name,
            names.pod_name,
            names.container_name,
            names.pod_id,
            names.container_id,
        )
        self._encoder = DocumentEncoder(file.key, names.container_id, fields)

    def feed(self, data: bytes, start: int) -> None:
        self._emit(self._decoder.feed(data, start), len(data))

    def flush_idle(self, now: float) -> None:
        records = self._decoder.flush_idle(now)
        if records:
            self._emit(records, 0)

    def finish(self) -> None:
        self._emit(self._decoder.finish(), 0)

    def restart(self) -> None:
        # What was pending belonged to the old content; the file starts over at 0.
        self._decoder = self._pipeline.new_decoder()

    def _emit(self, records: list[Record], nbytes: int) -> None:
        ticket = self._tracker.issue(len(records), self._decoder.resume_offset, nbytes)
        if records:
            self._pipeline.metrics.records_read.inc(len(records))
            self._pipeline.submit(self._encoder.encode(records, ticket))


class Pipeline:
    """The consumer the tail source feeds; owns the outbox and the task that empties it."""

    def __init__(self, settings: Settings, sink: Sink, metrics: Metrics) -> None:
        self.settings = settings
        self.sink = sink
        self.metrics = metrics
        self._outbox: list[Event] = []
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def new_decoder(self) -> Decoder:
        return make_decoder(self.settings.max_record_bytes, self.metrics)

    def open(self, file: FileInfo, tracker: AckTracker) -> FileConsumer:
        return FilePipeline(self, file, tracker)

    def submit(self, events: list[Event]) -> None:
        self._outbox.extend(events)
        self._idle.clear()
        self._ready.set()

    async def run(self) -> None:
        """Hand the outbox to the sink, whole, until cancelled."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._outbox:
                events, self._outbox = self._outbox, []
                await self.sink.send(events)
            self._idle.set()

    async def flushed(self) -> None:
        """Wait until everything submitted was handed to the sink."""
        await self._idle.wait()
