"""A sink that writes one JSON document per line to a binary stream.

Writes happen in a worker thread so a slow reader of stdout (or a slow disk)
never blocks the event loop; documents are acknowledged only after their bytes
were flushed (and, for files, fsynced). Documents already end in a newline, so
whatever is queued goes out as one join of them.
"""

from __future__ import annotations

import asyncio
import os
from itertools import chain
from typing import BinaryIO

from shipper.observe.metrics import Metrics
from shipper.record import Documents, ack_all


class LineSink:
    """Coalesces queued blocks of documents into one write per turn of its writer task."""

    def __init__(
        self, stream: BinaryIO, metrics: Metrics, fsync: bool = False, owns_stream: bool = False
    ) -> None:
        self._stream = stream
        self._owns_stream = owns_stream
        self._metrics = metrics
        self._fsync = fsync
        self._queue: list[Documents] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._write_loop(), name="line-sink")

    async def send(self, blocks: list[Documents]) -> None:
        if self._error is not None:
            raise self._error
        blocks = [block for block in blocks if block]  # nothing to write, nothing to ack
        if blocks:
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
        return self._error is None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._owns_stream:
            self._stream.close()

    @property
    def failed(self) -> int:
        return sum(map(len, self._queue))

    def _write(self, data: bytes) -> None:
        self._stream.write(data)
        self._stream.flush()
        if self._fsync:
            os.fsync(self._stream.fileno())

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                data = b"".join(chain.from_iterable(block.docs for block in batch))
                try:
                    await asyncio.to_thread(self._write, data)
                except OSError as exc:
                    # Unacknowledged: positions stay put and the records are read again.
                    self._queue[:0] = batch  # what `failed` counts
                    self._error = exc
                    self._metrics.output_up.set(0)
                    self._idle.set()
                    raise
                self._metrics.output_up.set(1)
                self._metrics.records_delivered.inc(sum(map(len, batch)))
                self._metrics.observe_latency(batch[-1].times[-1])
                ack_all(batch)
            self._idle.set()
