"""The supervisor: a failed task is logged, counted, down for a while, then started again."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from shipper import supervisor as supervisor_module
from shipper.observe.metrics import Metrics
from shipper.supervisor import Supervisor
from shipper.tasks import OwnedTasks
from tests.sinks.support import sample
from tests.sources.support import until


async def test_a_failing_task_is_counted_reported_down_and_started_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(supervisor_module, "FIRST_DELAY", 0.2)
    metrics = Metrics()
    supervisor = Supervisor(metrics)
    runs = 0
    seen_down: list[dict[str, str]] = []

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise KeyError("labels")

    async def watch() -> None:
        while runs < 3:
            seen_down.append(dict(supervisor.down))
            await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR, "shipper.supervisor"):
        await asyncio.wait_for(asyncio.gather(supervisor.run("metadata", flaky), watch()), 5)
    assert runs == 3 and supervisor.down == {}
    assert {"metadata": "KeyError: 'labels'"} in seen_down
    assert sample(metrics, "shipper_internal_errors_total", task="metadata") == 2
    assert [r.getMessage().split(";")[0] for r in caplog.records] == [
        "metadata failed (KeyError: 'labels')"
    ] * 2
    assert caplog.records[0].exc_info is not None  # a bug: its traceback is kept


async def test_a_stop_ends_the_wait_for_a_restart() -> None:
    supervisor, stop = Supervisor(Metrics()), asyncio.Event()

    async def broken() -> None:
        raise RuntimeError("always")

    task = asyncio.create_task(supervisor.run("tail", broken, until=stop))
    await asyncio.sleep(0.05)
    assert "tail" in supervisor.down and not task.done()
    stop.set()
    await asyncio.wait_for(task, 1)
    assert supervisor.down == {}


async def test_owned_tasks_run_until_stopped_then_every_one_has_ended() -> None:
    started: list[str] = []
    ended: list[str] = []

    def forever(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            started.append(name)
            try:
                await asyncio.Event().wait()
            finally:
                ended.append(name)

        return run

    tasks = OwnedTasks("component", Supervisor(Metrics()))
    tasks.start({"a": forever("a"), "b": forever("b")})
    await until(lambda: len(started) == 2)
    assert ended == []
    await asyncio.wait_for(tasks.close(), 5)
    assert sorted(ended) == ["a", "b"]  # cancelled, and awaited before close returned


async def test_owned_tasks_without_a_supervisor_raise_the_first_failure_as_itself() -> None:
    cancelled = asyncio.Event()

    async def broken() -> None:
        await asyncio.sleep(0.01)
        raise KeyError("watch")

    async def other() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    with pytest.raises(KeyError, match="watch"):
        await asyncio.wait_for(
            OwnedTasks("kubernetes").run({"w0": broken, "w1": other}, asyncio.Event()), 5
        )
    assert cancelled.is_set()  # the other task ended with the group


async def test_owned_tasks_return_when_every_one_returned() -> None:
    runs = 0

    async def once() -> None:
        nonlocal runs
        runs += 1

    stop = asyncio.Event()  # never set
    await asyncio.wait_for(OwnedTasks("x").run({"a": once, "b": once}, stop), 5)
    assert runs == 2
