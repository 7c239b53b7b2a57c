"""Noticing new files quickly: file-system events (watchfiles, inotify), polling as fallback.

Events only trigger a rescan; they are never trusted to be complete (inotify queues
overflow, and its limits are shared by every container on the node). Growth of files
already open is found by `fstat` every round, not here. When the watcher cannot start
or fails, `polling` turns True and the source rescans on a short interval instead.

Starting a watcher sets an inotify watch on every directory under its roots, and the roots
change with every pod that comes or goes (its directory is one). So while pods churn, a
watcher is started again at most once every RESTART_GAP: the roots that changed sooner
wait for it (`retry_at`, when the source scans again), and a rotation in a pod directory
that new is found by that scan, at most RESTART_GAP late.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence

from watchfiles import Change, awatch

from shipper.sources.tail.scan import never_read

log = logging.getLogger("shipper.tail")

DEBOUNCE_MS = 300  # a burst of events is reported at most this late
STEP_MS = 50
RESTART_GAP = 2.0  # seconds between two starts of the watcher when the roots keep changing


def _is_new_file(change: Change, path: str) -> bool:
    """Only additions matter (a rename reports its new name as added); writes do not."""
    return change == Change.added and not never_read(path)


class Watcher:
    """Calls `on_change` when files appear under the watched directories."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._roots: tuple[str, ...] | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = -math.inf
        self.retry_at = math.inf  # when to call `watch` again: roots changed too soon
        self.polling = True

    async def watch(self, roots: Sequence[str], now: float) -> None:
        """Watch exactly `roots` from now on (restarting the watcher if they changed; if
        it started less than RESTART_GAP ago, not before `retry_at`)."""
        wanted = tuple(roots)
        self.retry_at = math.inf
        if wanted == self._roots:
            return
        if self._task is not None and not self.polling and now < self._started + RESTART_GAP:
            self.retry_at = self._started + RESTART_GAP
            return
        await self.close()
        self._started = now
        self._roots = wanted
        if not wanted:
            self.polling = True
            return
        self._stop = asyncio.Event()
        self.polling = False
        self._task = asyncio.create_task(self._run(wanted, self._stop), name="tail-watch")

    async def close(self) -> None:
        """Stop the watcher thread and wait for it."""
        self._roots = None  # a `watch` after this starts a watcher again
        if self._task is None:
            return
        self._stop.set()
        task, self._task = self._task, None
        await task

    async def _run(self, roots: tuple[str, ...], stop: asyncio.Event) -> None:
        try:
            async for _changes in awatch(
                *roots,
                watch_filter=_is_new_file,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=stop,
                recursive=True,
                ignore_permission_denied=True,
            ):
                self._on_change()
        except Exception as exc:  # inotify limits, a root that vanished: rescans take over
            log.warning("file watcher failed (%s); falling back to polling the globs", exc)
            self.polling = True
            self._on_change()
