"""Lookups waiting for a pod: futures by (namespace, name), woken when the pod comes."""

from __future__ import annotations

import asyncio
from typing import Any

PodKey = tuple[str, str]  # (namespace, name)


class Waiters:
    """The futures of lookups waiting for pods; a lookup forgets its own when it ends."""

    def __init__(self) -> None:
        self._waiting: dict[PodKey, list[asyncio.Future[None]]] = {}

    def add(self, key: PodKey) -> asyncio.Future[None]:
        """A future set once `key`'s pod may have come (or everyone should look again)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        return future

    def forget(self, key: PodKey, future: asyncio.Future[Any]) -> None:
        waiters = self._waiting.get(key)
        if waiters and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._waiting[key]

    def wake(self, keys: list[PodKey]) -> None:
        for key in keys:
            for future in self._waiting.pop(key, ()):
                if not future.done():
                    future.set_result(None)

    def wake_all(self) -> None:
        self.wake(list(self._waiting))
