"""The supervisor: a failed task is logged, counted, down for a while, then started again."""

import asyncio
import logging

import pytest

from shipper import supervisor as supervisor_module
from shipper.observe.metrics import Metrics
from shipper.supervisor import Supervisor
from tests.sinks.support import sample


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
