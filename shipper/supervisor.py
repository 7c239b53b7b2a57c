"""Keeps the agent's long-lived tasks running: a task that dies is logged, counted and
started again with backoff, never left dead in silence.

Each task (sink workers, the pipeline's sender, the tail source, Kubernetes metadata,
the metrics server) expects to run until cancelled or until it returns; the component
that starts tasks owns them in an `OwnedTasks` (`shipper.tasks`). An exception
is a bug or a failure its own retries did not cover: it counts in
`shipper_internal_errors_total{task}`, and the task is down (so /readyz answers 503)
until it is started again, after an exponential backoff with full jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from shipper.net.backoff import Backoff
from shipper.observe.metrics import Metrics

log = logging.getLogger("shipper.supervisor")

FIRST_DELAY = 1.0  # seconds: the ceiling of the first restart's delay
MAX_DELAY = 30.0
STABLE_AFTER = 60.0  # a task that ran this long starts its backoff afresh when it fails


class Supervisor:
    """Runs tasks, restarts the ones that fail; `down` names those waiting to restart."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self.down: dict[str, str] = {}  # task name -> why it is down

    async def run(
        self, name: str, run: Callable[[], Awaitable[None]], until: asyncio.Event | None = None
    ) -> None:
        """Await `run()` until it returns, starting it again after each failure; not once
        `until` is set (the agent is stopping: what stops by it need not start again)."""
        backoff = Backoff(MAX_DELAY, base=FIRST_DELAY)
        while True:
            started = time.monotonic()
            try:
                await run()
                return
            except Exception as exc:  # any failure: the task is restarted, not lost
                if time.monotonic() - started >= STABLE_AFTER:
                    backoff.reset()
                delay = backoff.next_delay()
                why = f"{type(exc).__name__}: {exc}"
                self.down[name] = why
                self._metrics.internal_errors.labels(task=name).inc()
                log.error(
                    "%s failed (%s); starting it again in %.1f s",
                    name,
                    why,
                    delay,
                    # a bug needs its traceback; an OSError (a port in use...) is its message
                    exc_info=None if isinstance(exc, OSError) else exc,
                )
            try:
                if until is None:
                    await asyncio.sleep(delay)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(until.wait(), delay)
                    if until.is_set():
                        return
            finally:
                self.down.pop(name, None)
