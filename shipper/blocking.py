"""The one way file writes leave the event loop: a daemon thread of the writer's own.

The file sink, the dead-letter file and the positions file write through a
`BlockingThread` each, so a slow disk never stalls the event loop, and a write stuck
for good (a FIFO nobody reads) holds neither the loop, nor the other writers, nor the
process's exit (the thread is a daemon). Calls run in the order they were made, one
at a time. Not `aiofiles`: its threads are not daemons, and a write stuck in one
would keep the process from exiting.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any


class BlockingThread:
    """One daemon thread that runs blocking calls in order."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._calls: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Any]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None

    async def run(self, call: Callable[..., Any], *args: Any) -> Any:
        """`call(*args)` in the thread; its result or its exception."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self.submit(call, *args, done=(loop, future))
        return await future

    def submit(self, call: Callable[..., Any], *args: Any, done: Any = None) -> None:
        """Queue `call(*args)`; `done` is the (loop, future) to settle, if any."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._thread.start()
        self._calls.put((call, args, done))

    def _serve(self) -> None:
        while True:
            call, args, done = self._calls.get()
            try:
                result, error = call(*args), None
            except BaseException as exc:  # handed to the awaiting task, which decides
                result, error = None, exc
            if done is not None:
                loop, future = done
                with suppress(RuntimeError):  # the loop is closed: nobody waits any more
                    loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
