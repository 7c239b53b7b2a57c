"""Reading: growth, fairness between files, the byte budget, read_from, --once, polling."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

from shipper.sources.tail import watch
from shipper.sources.tail.source import IDLE_WAIT
from tests.sources.support import RecordingConsumer, TailFactory, append, lines, until


async def test_growing_file_is_fed_in_order_exactly_once(tails: TailFactory) -> None:
    path = tails.logs / "app.log"
    path.write_bytes(lines("a", 0, 10))
    tail = await tails.start()
    expected = lines("a", 0, 10)
    await until(lambda: tail.consumer.fed(path) == expected)
    for batch in range(1, 6):
        more = lines("a", batch * 10, 10)
        append(path, more)
        expected += more
        await until(lambda: tail.consumer.fed(path) == expected)  # noqa: B023
    assert len(tail.consumer.opened(path)) == 1
    assert tail.metric("shipper_read_bytes_total") == len(expected)
    await until(lambda: tail.source.lag_bytes == 0)
    assert tail.source.files_open == 1


async def test_new_file_after_startup_is_read_from_its_start(tails: TailFactory) -> None:
    tail = await tails.start()
    path = tails.logs / "late.log"
    path.write_bytes(lines("late", 0, 5))
    await until(lambda: tail.consumer.fed(path) == lines("late", 0, 5))
    assert tail.consumer.opened(path)[0].start == 0


async def test_a_flooding_file_does_not_starve_a_quiet_one(tails: TailFactory) -> None:
    flood = tails.logs / "a-flood.log"  # sorted first: read first in each round
    quiet = tails.logs / "b-quiet.log"
    flood.write_bytes(lines("flood", 0, 200_000, width=60))  # ~12 MiB
    quiet.write_bytes(b"one quiet line\n")
    tail = await tails.start(budget=64 << 20)
    await until(lambda: tail.consumer.fed(quiet) == b"one quiet line\n")
    flood_before_quiet = 0
    for path, nbytes in tail.consumer.feeds:
        if path == str(quiet):
            break
        flood_before_quiet += nbytes
    assert flood_before_quiet <= 1 << 20  # one round's share, not the whole flood
    await until(lambda: len(tail.consumer.fed(flood)) == flood.stat().st_size, timeout=10)


async def test_the_end_of_a_backlog_is_announced_once_and_steady_writes_never(
    tails: TailFactory,
) -> None:
    path = tails.logs / "app.log"
    backlog = lines("old", 0, 60_000)  # 2.4 MB: more than one round reads of a file
    path.write_bytes(backlog)
    tail = await tails.start()
    await until(lambda: tail.consumer.caught_up_at == [len(backlog)])
    for batch in range(5):  # each write is read whole in one round: nothing to announce
        append(path, lines("new", batch * 10, 10))
        await until(
            lambda: tail.source.lag_bytes == 0 and tail.consumer.total == path.stat().st_size
        )
    assert tail.consumer.caught_up_at == [len(backlog)]


async def test_spent_budget_pauses_reading_until_acks_free_it(tails: TailFactory) -> None:
    path = tails.logs / "big.log"
    data = lines("b", 0, 20_000)  # 800 KB
    path.write_bytes(data)
    consumer = RecordingConsumer(hold=True)
    tail = await tails.start(consumer, budget=64 * 1024)
    await until(lambda: tail.budget.used >= 60 * 1024)
    held = consumer.total
    await asyncio.sleep(0.3)  # a few rounds: reading must stay paused
    assert consumer.total == held <= 64 * 1024
    assert tail.budget.used <= 64 * 1024
    consumer.release()
    await until(lambda: consumer.fed(path) == data)
    await until(lambda: tail.budget.used == 0)


async def test_files_take_turns_when_the_budget_is_tight(tails: TailFactory) -> None:
    a, b = tails.logs / "a.log", tails.logs / "b.log"
    for path in (a, b):
        path.write_bytes(lines(path.stem, 0, 50_000))  # 2 MB each
    consumer = RecordingConsumer(hold=True)
    tail = await tails.start(consumer, budget=256 * 1024)
    while consumer.total < 1536 * 1024:
        await until(lambda: tail.budget.used == 256 * 1024)
        await asyncio.sleep(IDLE_WAIT * 1.5)  # acks come slowly: reading pauses mid-round
        before = consumer.total
        consumer.ack()
        await until(lambda: consumer.total > before)  # noqa: B023
    assert len(consumer.fed(a)) >= 512 * 1024 and len(consumer.fed(b)) >= 512 * 1024
    # while reading is paused the lag still counts every byte on disk not read
    written = a.stat().st_size + b.stat().st_size
    await until(lambda: tail.source.lag_bytes == written - consumer.total)


async def test_read_from_tail_skips_existing_content_only(tails: TailFactory) -> None:
    old = tails.logs / "old.log"
    old.write_bytes(lines("old", 0, 100))
    tail = await tails.start(read_from="tail")
    append(old, lines("new", 0, 3))
    new_file = tails.logs / "new.log"
    new_file.write_bytes(lines("fresh", 0, 3))
    await until(lambda: tail.consumer.fed(old) == lines("new", 0, 3))
    await until(lambda: tail.consumer.fed(new_file) == lines("fresh", 0, 3))
    assert tail.consumer.opened(old)[0].start == len(lines("old", 0, 100))


async def test_once_reads_everything_then_returns(tails: TailFactory) -> None:
    a, b, empty = tails.logs / "a.log", tails.logs / "b.log", tails.logs / "empty.log"
    a.write_bytes(lines("a", 0, 50_000))
    b.write_bytes(b"complete\nunterminated")
    empty.touch()
    tail = await tails.start(once=True, budget=256 * 1024)
    assert tail.task is not None
    await asyncio.wait_for(tail.task, 10)
    assert tail.consumer.fed(a) == a.read_bytes()
    assert tail.consumer.fed(b) == b"complete\nunterminated"
    assert all(f.finished for f in tail.consumer.files)
    assert len(tail.consumer.files) == 2
    assert tail.source.files_open == 0
    assert {item["offset"] for item in tail.saved()} == {0, a.stat().st_size, b.stat().st_size}


async def test_once_keys_a_lone_unterminated_line(tails: TailFactory) -> None:
    path = tails.logs / "short.log"
    path.write_bytes(b"no newline")
    tail = await tails.start(once=True)
    assert tail.task is not None
    await asyncio.wait_for(tail.task, 5)
    [recorded] = tail.consumer.opened(path)
    assert recorded.data == b"no newline" and recorded.finished


async def test_without_file_events_polling_still_finds_new_files(
    tails: TailFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_inotify() -> object:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(watch, "Inotify", no_inotify)
    caplog.set_level(logging.WARNING, logger="shipper.tail")
    tail = await tails.start(scan_interval=60.0)
    path = tails.logs / "polled.log"
    path.write_bytes(b"found by polling\n")
    await until(lambda: tail.consumer.fed(path) == b"found by polling\n", timeout=4)
    assert "polling" in caplog.text


async def test_unreadable_file_is_warned_once_and_skipped(
    tails: TailFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tails.logs / "secret.log"
    secret.write_bytes(b"hidden\n")
    ok = tails.logs / "ok.log"
    ok.write_bytes(b"visible\n")
    real_open = os.open

    def denying_open(path: str, flags: int, *args: int, **kwargs: int) -> int:
        if str(path) == str(secret):  # as root, chmod 0 would not deny anything
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", denying_open)
    caplog.set_level(logging.WARNING, logger="shipper.tail")
    tail = await tails.start(scan_interval=0.05)
    await until(lambda: tail.consumer.fed(ok) == b"visible\n")
    await asyncio.sleep(0.3)  # several rescans at this interval
    warnings = [r for r in caplog.records if "secret.log" in r.getMessage()]
    assert len(warnings) == 1
    assert not tail.consumer.opened(secret) and tail.source.files_open == 1


async def test_file_events_find_new_files_between_rescans(tails: TailFactory) -> None:
    tail = await tails.start(scan_interval=60.0)
    path = tails.logs / "new.log"
    path.write_bytes(b"noticed\n")
    await until(lambda: tail.consumer.fed(path) == b"noticed\n", timeout=3)


async def test_stop_closes_files_without_finishing_a_line_being_written(
    tails: TailFactory,
) -> None:
    path = tails.logs / "app.log"
    path.write_bytes(b"whole line\nhalf a li")
    tail = await tails.start()
    await until(lambda: tail.consumer.fed(path) == b"whole line\nhalf a li")
    await tail.close()
    [recorded] = tail.consumer.opened(path)
    assert not recorded.finished  # finishing would ship "half a li" as a record of its own
    assert tail.source.files_open == 0
    assert not any(
        os.path.realpath(f"/proc/self/fd/{fd}").startswith(str(tails.root))
        for fd in os.listdir("/proc/self/fd")
    )
