"""One followed file's part of the pipeline: bytes -> records -> (traces) -> blocks.

The tail source calls `feed` synchronously with each chunk it read; the chunk's
records are joined into traces if the pod asks for it, then wait in the file's
`Backlog` to be encoded a block at a time. Each stage passes on the point where
reading must restart to reproduce what it holds back (`shipper.restart`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipper.block_encoding import Backlog
from shipper.record import Records
from shipper.restart import AckTracker, whole_lines
from shipper.sources.tail.consumer import FileInfo
from shipper.transforms.encoding.ecs import new_encoder
from shipper.transforms.enrichment.enrich import TRUNCATED_KEY
from shipper.transforms.enrichment.naming import names_from_path
from shipper.transforms.enrichment.options import FileOptions, file_options
from shipper.transforms.filtering.filters import FileFilter, file_filter
from shipper.transforms.filtering.rate_limit import FileLimit, namespace_limit
from shipper.transforms.kubernetes import PodMetadata
from shipper.transforms.multiline.joiner import TraceJoiner, rules_for

if TYPE_CHECKING:
    from shipper.pipeline import Pipeline

PodKey = tuple[str | None, str | None]


class _Read:
    """One decoder call's records, kept until they are joined into traces and shipped."""

    __slots__ = ("after", "before", "data", "fresh", "last", "nbytes", "records")

    def __init__(
        self,
        records: Records,
        before: int,
        after: int,
        nbytes: int,
        data: bytes = b"",
        fresh: bool = False,
        last: bool = False,
    ) -> None:
        self.records = records
        self.before = before  # the decoder's restart point before the call
        self.after = after  # and after it
        self.nbytes = nbytes
        self.data = data  # the bytes fed, if any
        self.fresh = fresh  # nothing was pending before the call but an unterminated line
        self.last = last  # the file's end: open traces go out after these records

    def exact(self) -> bool:
        """Each record is one whole line, so each record's offset is a restart point."""
        return whole_lines(self.fresh, len(self.records), self.data)


class FilePipeline:
    """One followed file: its decoder, trace joiner, document encoder and backlog."""

    def __init__(self, pipeline: Pipeline, info: FileInfo, tracker: AckTracker) -> None:
        self._pipeline = pipeline
        self.info = info
        self._decoder = pipeline.new_decoder()
        self._line_start: int | None = None  # where the file's unterminated line starts
        self._joiner: TraceJoiner | None = None
        self._filter: FileFilter | None = None  # drop and keep rules, if any cover the file
        self._limit: FileLimit | None = None  # its rate limit, if any
        self.names = names_from_path(info.path, info.link)
        meta = pipeline.enricher.known(self.names)
        self._encoder = new_encoder(
            pipeline.schema, info, self.names.container_id, self._fields(meta)
        )
        # Reads wait here, neither joined nor ticketed, while the pod's metadata (which
        # may ask for trace joining) is looked up: a bounded time.
        self._held: list[_Read] | None = None
        self._backlog = Backlog(pipeline, self, self._encoder, tracker)
        self._configure(meta)
        if meta is None and pipeline.enricher.can_know(self.names):
            self._held = []
            pipeline.spawn(self._await_metadata())

    @property
    def pod_key(self) -> PodKey:
        return self.names.namespace_name, self.names.pod_name

    def apply(self, meta: PodMetadata | None) -> None:
        """Use this pod metadata from now on (documents already encoded keep theirs)."""
        if meta is not None:
            self._encoder.set_fields(self._fields(meta))
            self._configure(meta)

    def feed(self, data: bytes, start: int) -> None:
        decoder = self._decoder
        if self._line_start is None:  # a fresh decoder: nothing before `start` is pending
            before = self._line_start = start
        else:
            before = decoder.resume_offset
        fresh = before == self._line_start
        records = decoder.feed(data, start)
        newline = data.rfind(b"\n")
        if newline >= 0:
            self._line_start = start + newline + 1
        self._take(_Read(records, before, decoder.resume_offset, len(data), data, fresh))

    def flush_idle(self, now: float) -> None:
        if self._decoder.holds_partials:  # a quiet file's look costs nothing more
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

    def encode_some(self, force: bool = False) -> bool:
        """Encode waiting records as the budget allows (`Backlog.encode_some`)."""
        return self._backlog.encode_some(force)

    def _fields(self, meta: PodMetadata | None) -> dict[str, Any]:
        """The documents' per-file fields, counting a trim of the pod's metadata."""
        fields = self._pipeline.enricher.fields(self.names, meta)
        if TRUNCATED_KEY in fields.get("kubernetes", ()):
            self._pipeline.metrics.kubernetes_metadata_truncated.inc()
        return fields

    def _configure(self, meta: PodMetadata | None) -> None:
        """Exclusion, JSON parsing, trace joining, filters and rate limit as the file's
        options (its pod's annotations, else the settings) say."""
        pipeline = self._pipeline
        settings = pipeline.settings
        names = self.names
        container = names.container_name
        options = file_options(settings, meta, container)
        self._excluded = options.excluded
        self._encoder.json = pipeline.json_fields if options.merge_json else None
        self._join(options)
        namespace = names.namespace_name
        self._filter = file_filter(
            pipeline.filters.filters, namespace, container, meta, pipeline.metrics
        )
        self._limit = pipeline.limiter.file_limit(
            namespace, names.pod_name, container, namespace_limit(meta), self._limit
        )

    def _join(self, options: FileOptions) -> None:
        """Trace joining as the options say: a joiner whose kind changes flushes first."""
        kind = options.multiline
        custom = self._pipeline.settings.multiline_rules
        joiner = self._joiner
        if joiner is None:
            if kind:
                rules = rules_for(kind, custom)
                self._joiner = TraceJoiner(rules, self._pipeline.settings.max_record_bytes)
        elif joiner.kind != kind:
            if not joiner.idle and self._held is None:
                self._emit(Records.of(joiner.flush()), self._decoder.resume_offset, 0)
            joiner.rules = rules_for(kind, custom)

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
        """Records to ticket and encode, in file order; reading restarts where no open
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
            self._backlog.drop(records, resume, nbytes)
            return
        self._backlog.add(records, resume, nbytes, self._excluded)
        self._pipeline.encode(self)

    async def _await_metadata(self) -> None:
        try:
            self.apply(await self._pipeline.enricher.lookup(self.names))
        finally:
            held, self._held = self._held or [], None
            for read in held:
                self._take(read)
