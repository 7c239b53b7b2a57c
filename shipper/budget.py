"""The memory bound: read-but-unacknowledged bytes never exceed SHIPPER_BUFFER_MAX_BYTES.

Readers `acquire` before reading and tickets `release` when their events are
acknowledged; while the budget is spent, reading pauses and the files on disk are
the buffer.
"""

from __future__ import annotations

import asyncio


class ByteBudget:
    """An asyncio byte semaphore; one request larger than the whole budget still passes alone."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._changed = asyncio.Event()

    def try_acquire(self, n: int) -> bool:
        """Take `n` bytes if they fit now (or if nothing is held at all)."""
        if self.used + n <= self.limit or self.used == 0:
            self.used += n
            return True
        return False

    async def acquire(self, n: int) -> None:
        """Wait until `n` bytes fit, then take them."""
        while not self.try_acquire(n):
            self._changed.clear()
            await self._changed.wait()

    def charge(self, n: int) -> None:
        """Count `n` more bytes held now, without waiting: the next `acquire` waits instead."""
        self.used += n

    def release(self, n: int) -> None:
        if n <= 0:
            return
        self.used -= n
        if self.used < 0:
            raise RuntimeError("byte budget released more than it held")
        self._changed.set()
