"""A sink that writes one JSON document per line to a file descriptor (a file or stdout).

Writes happen in the sink's own daemon thread (`shipper.blocking`), so a slow reader
of stdout, a slow disk or a FIFO nobody reads never blocks the event loop nor holds the
process at exit. Documents are acknowledged only after all their bytes were written (and, for
a regular file, fsynced). Documents already end in a newline, so whatever is queued
goes out as one join of them.

A failed open, write or fsync (ENOSPC, EMFILE, a reader gone...) is one failed
attempt: said once in plain words, retried with backoff from the first byte not
written, so nothing is lost or doubled; with --once, given up after
SHIPPER_ONCE_RETRY_TIMEOUT (a document given up midway is cut off a regular file before
the next write, or its line ended elsewhere). A descriptor that refuses fsync (a
character device such as /dev/null, a pipe) is acknowledged once written.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
import time
from collections.abc import Callable
from contextlib import suppress
from itertools import chain

from shipper.blocking import BlockingThread
from shipper.net.backoff import Backoff
from shipper.observe.metrics import Metrics
from shipper.record import Documents, ack_all
from shipper.settings import SinkSettings
from shipper.sinks.failures import FailureLog, explain_write
from shipper.supervisor import Supervisor
from shipper.tasks import OwnedTasks

log = logging.getLogger("shipper.output")

# fsync refused by what the descriptor is, not by a failure: no durability to wait for
_NO_FSYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})


class LineSink:
    """Coalesces queued blocks of documents into one write per turn of its writer task.

    `opener` returns the descriptor to write to (called in the writer thread, again
    after a failure when `owns_fd`); `name` says what it is in log lines. `mend` cuts
    a torn document off the end of the descriptor's file, False where it cannot (not a
    regular file): used after a write given up midway, before the next one.
    """

    def __init__(
        self,
        opener: Callable[[], int],
        name: str,
        settings: SinkSettings,
        metrics: Metrics,
        owns_fd: bool = False,
        supervisor: Supervisor | None = None,
        mend: Callable[[int], bool] | None = None,
    ) -> None:
        self._supervisor = supervisor or Supervisor(metrics)
        self._opener = opener
        self._mend = mend
        self._torn = False  # a write given up midway left part of a document out
        self._name = name
        self._settings = settings
        self._metrics = metrics
        self._owns_fd = owns_fd
        self._fd: int | None = None
        self._fsync = True  # until the descriptor turns out not to be a regular file
        self._written = 0  # bytes of the current write already out (kept by the thread)
        self._thread = BlockingThread(f"output-{name}")
        self._queue: list[Documents] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks = OwnedTasks(f"output-{name}", self._supervisor)
        self._outstanding = 0  # documents taken by `send`, neither acked nor given up
        self._given_up = 0
        self._failing_since: float | None = None
        self._failures = FailureLog(log)

    async def start(self) -> None:
        self._tasks.start({"output-writer": self._write_loop})

    async def send(self, blocks: list[Documents]) -> None:
        blocks = [block for block in blocks if block]  # nothing to write, nothing to ack
        if blocks:
            self._outstanding += sum(map(len, blocks))
            self._queue += blocks
            self._idle.clear()
            self._wakeup.set()

    def busy(self) -> bool:
        """Never: whatever is queued is written at once."""
        return False

    async def ready(self) -> None:
        """At once (never `busy`)."""

    def flush_soon(self) -> None:
        """Nothing to do: whatever is queued is written at once."""

    async def drain(self, timeout: float | None) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return self._given_up == 0 and self._outstanding == 0

    async def close(self) -> None:
        await self._tasks.close()
        if self._owns_fd:
            self._thread.submit(self._close_fd)  # after a write still under way, if any

    @property
    def failed(self) -> int:
        """Documents given up on, or not written yet."""
        return self._given_up + self._outstanding

    @property
    def failing_since(self) -> float | None:
        return self._failing_since

    @property
    def last_failure(self) -> str | None:
        return self._failures.last

    # --- the writer

    async def _write_loop(self) -> None:
        backoff = Backoff(self._settings.retry_max_backoff)
        if self._queue:  # started again after a failure: what waits is not forgotten
            self._wakeup.set()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                data = b"".join(chain.from_iterable(block.parts() for block in batch))
                await self._deliver(batch, data, backoff)
            self._idle.set()

    async def _deliver(self, batch: list[Documents], data: bytes, backoff: Backoff) -> None:
        """Write `data` (the documents of `batch`) whole, then ack; or give it up (--once)."""
        count = sum(map(len, batch))
        self._written = 0
        while True:
            try:
                await self._thread.run(self._write, data)
                break
            except Exception as exc:  # any failure is one failed attempt
                self._metrics.output_up.set(0)
                self._failures.failed(logging.ERROR, "%s", explain_write(self._name, exc))
                if self._owns_fd:
                    await self._thread.run(self._close_fd)  # opened again on the next try
            now = time.monotonic()
            if self._failing_since is None:
                self._failing_since = now
            delay = backoff.next_delay()
            if self._settings.once:
                left = self._failing_since + self._settings.once_retry_timeout - now
                if left <= 0:
                    self._give_up(count, now - self._failing_since, data)
                    return
                delay = min(delay, left)
            self._metrics.records_retried.inc(count)
            await asyncio.sleep(delay)
        self._failing_since = None
        backoff.reset()
        self._failures.recovered(f"writing to {self._name}")
        self._outstanding -= count
        self._metrics.output_up.set(1)
        self._metrics.records_delivered.inc(count)
        self._metrics.observe_latency(batch[-1].times[-1])
        ack_all(batch)

    def _give_up(self, count: int, after: float, data: bytes) -> None:
        # part of a document went out: the next write must not go on after it
        self._torn = self._torn or data[self._written - 1 : self._written] not in (b"", b"\n")
        self._given_up += count
        self._outstanding -= count
        log.error(
            "gave up on %d records after %.1f s of failed writes (SHIPPER_ONCE_RETRY_TIMEOUT): %s",
            count,
            after,
            self._failures.last,
        )

    # --- in the writer thread

    def _write(self, data: bytes) -> None:
        """Write what of `data` is not out yet, then fsync where the descriptor allows."""
        if self._fd is None:
            self._fd = self._opener()
            self._fsync = stat.S_ISREG(os.fstat(self._fd).st_mode)
        if self._torn and not self._written:
            self._end_torn_document(self._fd)
        view = memoryview(data)
        while self._written < len(data):
            self._written += os.write(self._fd, view[self._written :])
        if self._fsync:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                if exc.errno not in _NO_FSYNC:
                    raise
                self._fsync = False
                log.info("%s takes no fsync: records count once written", self._name)

    def _end_torn_document(self, fd: int) -> None:
        """After a write given up midway: cut the torn document off a file, or else end
        its line, so the next document is never glued to it."""
        if self._mend is None or not self._mend(fd):
            view = memoryview(b"\n")
            while view:
                view = view[os.write(fd, view) :]
        self._torn = False

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with suppress(OSError):
                os.close(fd)
