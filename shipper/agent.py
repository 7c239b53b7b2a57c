"""`shipper run`: build the components from the settings, run them, stop them cleanly.

Exit codes (README "Run it"): 0 when everything read was delivered or
dead-lettered (or on SIGTERM after draining), 3 when `--once` could not deliver
everything within SHIPPER_ONCE_RETRY_TIMEOUT (the cause on the last line).

Every long-lived task runs under the `Supervisor`. After SIGTERM the agent drains for
STOP_DRAIN_SECONDS at most, and a watchdog ends the process HARD_STOP_SECONDS after
the signal whatever still runs (a write stuck on a FIFO, a stuck connection).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial

from shipper import __version__
from shipper.budget import ByteBudget
from shipper.config import ignored_variables
from shipper.observe.logging import setup_logging
from shipper.observe.metrics import Metrics
from shipper.observe.progress import Progress, summary_line
from shipper.observe.server import ObserveServer
from shipper.pipeline import Pipeline
from shipper.settings import Settings
from shipper.sinks.base import Sink
from shipper.sources.journal.index import journal_indices
from shipper.sources.journal.source import JournalSource
from shipper.sources.node_files import NodeFiles, node_settings
from shipper.sources.tail.source import TailSource
from shipper.supervisor import Supervisor
from shipper.tasks import OwnedTasks
from shipper.transforms.enrichment.enrich import Enricher
from shipper.transforms.kubernetes import KubernetesMetadata

log = logging.getLogger("shipper.agent")

STOP_DRAIN_SECONDS = 20.0  # within the DaemonSet's 30 s grace period, with room to save
HARD_STOP_SECONDS = 24.0  # after a stop signal, exit whatever still runs
NOT_READY_AFTER = 60.0  # /readyz: the output failing this long makes the agent not ready
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers
_M_MMAP_THRESHOLD = -3


def build_sink(settings: Settings, metrics: Metrics, supervisor: Supervisor) -> Sink:
    if settings.sink.output.kind == "elasticsearch":
        from shipper.sinks.elasticsearch.sink import ElasticsearchSink

        return ElasticsearchSink(
            settings.sink,
            metrics,
            dead_letter_path=settings.tail.dead_letter_path,
            supervisor=supervisor,
            indices_of=journal_indices(settings.node, settings.sink),
        )
    if settings.sink.output.kind == "file":
        from shipper.sinks.file import file_sink

        assert settings.sink.output.path is not None
        return file_sink(settings.sink.output.path, settings.sink, metrics, supervisor)
    from shipper.sinks.stdout import stdout_sink

    return stdout_sink(settings.sink, metrics, supervisor)


def _fix_malloc_thresholds() -> None:
    """Keep glibc serving blocks of 1 MiB and more (the file sink's joined writes) by mmap,
    and let the heap keep up to 4 MiB free at its top.

    glibc raises its mmap threshold each time such a block is freed; later blocks then
    come from the heap, which fragments and does not shrink. A fixed threshold keeps
    them mapped and returned whole when freed (measured: peak RSS 17 MiB lower writing
    to a file; bulk bodies no longer need it, they are sent in pieces). Fixing it also
    fixes the trim threshold at 128 KiB, and each read's chunk (256 KiB) freed at the
    heap's top then gave its pages back, to fault them in again at the next read:
    160,000-195,000 page faults and 0.7-0.8 CPU-s of system time per million records,
    against 16,000 and 0.3 s with 4 MiB kept.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1024 * 1024)
        libc.mallopt(_M_TRIM_THRESHOLD, 4 * 1024 * 1024)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def run_agent(settings: Settings) -> int:
    setup_logging(settings.observe.log_level, settings.observe.log_format)
    _fix_malloc_thresholds()
    # Parsing makes a short-lived list per line (its fields), hundreds per read:
    # collecting the young generation less often saves CPU; what startup built is
    # never collected.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    return asyncio.run(Agent(settings).run())


class Agent:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.stop = asyncio.Event()
        self.supervisor = Supervisor(self.metrics)
        self._signals = 0

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second signal: exiting at once", extra={"signal": signum})
            os._exit(128 + signum)
        log.info("stopping: draining what is in flight", extra={"signal": signum})
        self.stop.set()
        watchdog = threading.Timer(HARD_STOP_SECONDS, _hard_stop, (signum,))
        watchdog.daemon = True
        watchdog.start()

    def _not_ready(self, source: TailSource, sink: Sink) -> str | None:
        """Why /readyz answers 503, or None."""
        if not source.started:
            return "tailing not started"
        for name, why in self.supervisor.down.items():
            return f"{name} is down ({why})"
        since = sink.failing_since
        if since is not None and time.monotonic() - since >= NOT_READY_AFTER:
            failing = time.monotonic() - since
            return f"the output has failed for {failing:.0f} s: {sink.last_failure}"
        return None

    async def run(self) -> int:
        settings, metrics = self.settings, self.metrics
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        supervisor = self.supervisor
        sink = build_sink(settings, metrics, supervisor)
        budget = ByteBudget(settings.sink.buffer_max_bytes, on_full=sink.flush_soon)
        kube = self._kubernetes()
        pipeline = self._pipeline(sink, Enricher(settings.kube, kube), budget)
        source = TailSource(settings.tail, pipeline, budget, metrics, once=settings.sink.once)
        node, node_sources = self._node_sources(pipeline, budget)
        # Gauges read at scrape time from what the components already know.
        metrics.buffer_bytes.set_function(lambda: budget.used)
        metrics.lag_bytes.set_function(lambda: source.lag_bytes + node.lag_bytes)
        metrics.files_watched.set_function(lambda: source.files_open + node.files_open)
        server = ObserveServer(
            settings.observe.metrics_addr, metrics, lambda: self._not_ready(source, sink)
        )
        self._announce()
        await server.start()
        await sink.start()
        started, had_positions = time.monotonic(), os.path.exists(settings.tail.positions_path)
        tasks = OwnedTasks("agent", supervisor)
        runs = self._background(server, pipeline, kube, source)
        tasks.start(runs | {name: partial(each.run, self.stop) for name, each in node_sources})
        try:
            await supervisor.run("tail", lambda: source.run(self.stop), until=self.stop)
            delivered = await self._drain(pipeline, sink)
            for each in (source, *(node_source for _, node_source in node_sources)):
                await each.save_positions()
        finally:
            await tasks.close()
            await sink.close()
            await server.close()
        failure = None if delivered else _undelivered(sink)
        if failure is None:
            log.info("shipper stopped")
        if settings.sink.once:
            seconds = time.monotonic() - started
            files = source.files_followed
            print(summary_line(metrics, files, seconds, had_positions, failure), file=sys.stderr)
            return 0 if delivered else 3
        return 0

    def _announce(self) -> None:
        """The start-up line, and the variables set but not acted on."""
        sink = self.settings.sink
        extra = {"version": __version__, "output": str(sink.output), "once": sink.once}
        log.info("shipper starting", extra=extra)
        for note in ignored_variables(os.environ):
            log.warning(note)

    def _pipeline(self, sink: Sink, enricher: Enricher, budget: ByteBudget) -> Pipeline:
        """The pipeline, told the sink's document shape and how long --once waits for it."""
        out = self.settings.sink
        once_wait = out.once_retry_timeout if out.once else None
        records, filters = self.settings.records, self.settings.filters
        return Pipeline(
            records,
            sink,
            self.metrics,
            enricher,
            budget,
            schema=out.schema,
            once_wait=once_wait,
            filters=filters,
        )

    def _kubernetes(self) -> KubernetesMetadata | None:
        """The metadata provider when SHIPPER_KUBERNETES is on; it shares the sink's timeout."""
        settings = self.settings
        if not settings.kube.kubernetes_enabled:
            return None
        return KubernetesMetadata(
            settings.kube,
            self.metrics,
            request_timeout=settings.sink.request_timeout,
            multiline_rules=settings.records.multiline_rules,
            namespace_rate_limits=settings.filters.namespace_rate_limits,
        )

    def _node_sources(
        self, pipeline: Pipeline, budget: ByteBudget
    ) -> tuple[TailSource, list[tuple[str, JournalSource | TailSource]]]:
        """Node logs: the journal and the node's own files (`run` only, not --once); the
        node files' tail source is returned either way, for the gauges."""
        settings = self.settings
        once, max_bytes = settings.sink.once, settings.records.max_record_bytes
        node_name = settings.kube.node_name
        node_files = NodeFiles(
            pipeline, self.metrics, node_name=node_name, max_record_bytes=max_bytes
        )
        node = TailSource(node_settings(settings), node_files, budget, self.metrics)
        sources: list[tuple[str, JournalSource | TailSource]] = []
        if not once and settings.node.journal_units:
            journal = JournalSource(
                settings.node,
                pipeline,
                budget,
                self.metrics,
                state_dir=settings.tail.state_dir,
                max_record_bytes=max_bytes,
            )
            sources.append(("journal", journal))
        if not once and settings.node.node_log_paths:
            sources.append(("node-files", node))
        return node, sources

    def _background(
        self,
        server: ObserveServer,
        pipeline: Pipeline,
        kube: KubernetesMetadata | None,
        source: TailSource,
    ) -> dict[str, Callable[[], Awaitable[None]]]:
        """The tasks that run beside the tail source, by name."""
        runs: dict[str, Callable[[], Awaitable[None]]] = {
            "metrics-server": server.run,
            "pipeline": pipeline.run,
        }
        if kube is not None:
            runs["kubernetes"] = lambda: kube.run(self.stop)
        if self.settings.sink.once and sys.stderr.isatty():
            files, lag = (lambda: source.files_followed), (lambda: source.lag_bytes)
            runs["progress"] = Progress(self.metrics, files, lag).run
        return runs

    async def _drain(self, pipeline: Pipeline, sink: Sink) -> bool:
        """Hand everything read to the sink and wait for its delivery: with --once as long as
        its budget needs, after a stop signal STOP_DRAIN_SECONDS at most."""
        stopping = self.stop.is_set() or not self.settings.sink.once
        deadline = time.monotonic() + STOP_DRAIN_SECONDS
        try:
            async with asyncio.timeout(STOP_DRAIN_SECONDS if stopping else None):
                await pipeline.flushed()
        except TimeoutError:
            log.error("records read were not handed to the output within %s s", STOP_DRAIN_SECONDS)
            return False
        return await sink.drain(max(0.0, deadline - time.monotonic()) if stopping else None)


def _undelivered(sink: Sink) -> str:
    """Say, as the last line of the log, that records were not delivered and why; the
    same words for --once's summary line."""
    cause = sink.last_failure or "not delivered in time"
    for handler in logging.getLogger("shipper").handlers:
        handler.flush()  # repeats held back by the log go before the last line
    log.error(
        "%d records could not be delivered, their positions were not saved: %s",
        sink.failed,
        cause,
        extra={"undelivered": sink.failed},
    )
    return f"{sink.failed} records could not be delivered: {cause}"


def _hard_stop(signum: int) -> None:
    """The watchdog: the stop did not finish in time; exit now (positions as last saved)."""
    log.error("still running %s s after the stop signal: exiting now", HARD_STOP_SECONDS)
    os._exit(128 + signum)
