"""The memory bound: read-but-unacknowledged bytes never exceed SHIPPER_BUFFER_MAX_BYTES.

Readers `acquire` before reading and tickets `release` when their records are
acknowledged; while the budget is spent, reading pauses and the files on disk are
the buffer.

A file with a backlog reads in large chunks and soon spends the whole budget; a file
with little to send asks for little. Small requests may go a sixteenth past the
limit, so a quiet file's line is read at once rather than after the flood's next
acknowledgement: it never waits behind the flood for memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

SMALL_REQUEST = 64 * 1024  # a read this small comes from a file with little to send
RESERVE_SHARE = 16  # small requests may use limit / RESERVE_SHARE more


class ByteBudget:
    """An asyncio byte semaphore; one request larger than the whole budget still passes alone.

    `on_full` is called each time a reader has to wait: nothing more will come until
    acknowledgements free memory, so whatever waits for more (a partial batch) should go.
    """

    def __init__(self, limit: int, on_full: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self.reserve = limit // RESERVE_SHARE
        self.used = 0
        # Held back for records waiting to become documents: reads wait until those are
        # made, or reading would take every byte acknowledgements free and starve them.
        self.reserved = 0
        self.on_full = on_full
        self._changed = asyncio.Event()

    def try_acquire(self, n: int) -> bool:
        """Take `n` bytes if they fit now beside what is reserved (a small request in the
        reserve too; any request if nothing is held at all)."""
        if self.used + self.reserved + n <= self.room(n) or self.used == 0:
            self.used += n
            return True
        return False

    def room(self, n: int) -> int:
        """The most a request of `n` bytes may bring `used` to: the limit, and for a small
        request the reserve beyond it."""
        return self.limit + (self.reserve if n <= SMALL_REQUEST else 0)

    async def acquire(self, n: int) -> None:
        """Wait until `n` bytes fit, then take them."""
        while not self.try_acquire(n):
            self._changed.clear()
            if self.on_full is not None:
                self.on_full()
            await self._changed.wait()

    async def released(self) -> None:
        """Wait until some bytes are released (for a waiter that is not a reader)."""
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
