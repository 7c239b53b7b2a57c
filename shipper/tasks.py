"""Owned tasks: what a component starts runs in one asyncio.TaskGroup, and ends with it.

One shape for every component that starts tasks (the agent, the sinks' workers, the
Kubernetes metadata watches): `start` the tasks, or `run(stop)` them in the caller's
task, until `stop` is set; `close` stops them and waits until every one has ended.
Under a `Supervisor`, a task that fails is started again with backoff; without one, the
first failure ends the others and is raised as itself (not as an exception group).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported at run time: transforms use this module too
    from shipper.supervisor import Supervisor

log = logging.getLogger("shipper.supervisor")

Runs = Mapping[str, Callable[[], Awaitable[None]]]  # task name -> what it runs


class OwnedTasks:
    """The tasks one component owns; `name` names the task that holds their group."""

    def __init__(self, name: str, supervisor: Supervisor | None = None) -> None:
        self._name = name
        self._supervisor = supervisor
        self._stop = asyncio.Event()
        self._group: asyncio.Task[None] | None = None

    def start(self, runs: Runs) -> None:
        """Run `runs` in the background until `close`."""
        self._stop.clear()
        self._group = asyncio.create_task(self.run(runs, self._stop), name=self._name)

    async def run(self, runs: Runs, stop: asyncio.Event) -> None:
        """Run `runs` in one TaskGroup until every one has returned or `stop` is set (then
        what still runs is cancelled)."""
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._one(n, r), name=n) for n, r in runs.items()]
                stopping = group.create_task(stop.wait(), name=f"{self._name}-stop")
                stopping.add_done_callback(lambda _: [task.cancel() for task in tasks])
                for task in tasks:
                    task.add_done_callback(
                        lambda _: stopping.cancel() if all(t.done() for t in tasks) else None
                    )
                if not tasks:
                    stopping.cancel()
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None

    async def close(self) -> None:
        """Stop the tasks `start` started and wait until each has ended."""
        self._stop.set()
        group, self._group = self._group, None
        if group is not None:
            [result] = await asyncio.gather(group, return_exceptions=True)
            if isinstance(result, Exception):
                log.error("%s had failed: %r", self._name, result)

    async def _one(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        if self._supervisor is None:
            await run()
        else:
            await self._supervisor.run(name, run)
