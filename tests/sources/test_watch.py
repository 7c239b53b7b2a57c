"""The tail source's file watcher, on real inotify: new entries ask for a rescan, writes
cost no event at all, lost events ask for one too, and without inotify the source polls."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import select
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipper.sources.tail import watch
from shipper.sources.tail.inotify import IN_CREATE, IN_Q_OVERFLOW, Event, Inotify, parse
from shipper.sources.tail.watch import Watcher

DEADLINE = 5.0


class Calls:
    """Counts the watcher's calls for a rescan."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1

    async def reach(self, count: int) -> None:
        """Until `count` calls were made (DEADLINE at most)."""
        async with asyncio.timeout(DEADLINE):
            while self.count < count:
                await asyncio.sleep(0.01)


def read_when_ready(inotify: Inotify) -> list[Event]:
    ready, _, _ = select.select([inotify.fd], [], [], DEADLINE)
    assert ready, "no event came"
    return inotify.read()


def test_writes_to_watched_files_make_no_event_and_a_new_file_does(tmp_path: Path) -> None:
    busy = tmp_path / "0.log"
    busy.write_bytes(b"")
    inotify = Inotify()
    try:
        wd = inotify.add(str(tmp_path))
        with busy.open("ab", buffering=0) as out:
            for n in range(1000):
                out.write(b"line %d\n" % n)
        os.truncate(busy, 0)
        (tmp_path / "1.log").write_bytes(b"x\n")
        assert read_when_ready(inotify) == [Event(wd, IN_CREATE, "1.log")]
    finally:
        inotify.close()


def test_a_full_queue_reports_its_overflow(tmp_path: Path) -> None:
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    inotify = Inotify()
    try:
        inotify.add(str(tmp_path))
        for n in range(limit + 10):
            (tmp_path / f"{n}.tmp").touch()
        events = read_when_ready(inotify)
        assert len(events) == limit + 1
        assert events[-1].wd == -1 and events[-1].mask & IN_Q_OVERFLOW
    finally:
        inotify.close()


names = st.text(
    st.characters(blacklist_characters="\0/", blacklist_categories=("Cs",)), max_size=40
)


@given(st.lists(st.tuples(st.integers(-1, 2**31 - 1), st.integers(0, 2**32 - 1), names)))
def test_parse_reads_back_each_packed_event(events: list[tuple[int, int, str]]) -> None:
    data = b""
    for wd, mask, name in events:
        raw = os.fsencode(name)
        padded = raw + b"\0" * (-len(raw) % 16 or (16 if raw else 0))
        data += struct.pack("iIII", wd, mask, 0, len(padded)) + padded
    assert parse(data) == [Event(*event) for event in events]


async def test_new_files_ask_for_a_rescan_a_burst_for_one(tmp_path: Path) -> None:
    calls = Calls()
    watcher = Watcher(calls)
    watcher.watch([str(tmp_path)])
    try:
        assert not watcher.polling
        for n in range(3):
            (tmp_path / f"{n}.log").write_bytes(b"x\n")
        await calls.reach(1)
        os.rename(tmp_path / "0.log", tmp_path / "0.log.20261205-120000")  # a rotation
        await calls.reach(2)
        (tmp_path / "link.log").symlink_to(tmp_path / "1.log")
        await calls.reach(3)
        assert calls.count == 3
    finally:
        watcher.close()


async def test_a_directory_created_under_a_root_is_watched_at_once(tmp_path: Path) -> None:
    calls = Calls()
    watcher = Watcher(calls)
    watcher.watch([str(tmp_path)])
    try:
        pod = tmp_path / "ns_pod_uid" / "app"
        pod.mkdir(parents=True)
        await calls.reach(1)
        assert watcher.watched == {str(tmp_path), str(pod.parent), str(pod)}
        (pod / "0.log").write_bytes(b"x\n")
        await calls.reach(2)
    finally:
        watcher.close()


async def test_compressed_copies_temporaries_and_writes_ask_for_nothing(tmp_path: Path) -> None:
    (tmp_path / "0.log").write_bytes(b"")
    calls = Calls()
    watcher = Watcher(calls, group=0.0)
    watcher.watch([str(tmp_path)])
    try:
        (tmp_path / "0.log.20261205-120000.gz").write_bytes(b"gz")
        (tmp_path / "0.log.20261205-120000.tmp").write_bytes(b"tmp")
        with (tmp_path / "0.log").open("ab", buffering=0) as out:
            out.write(b"more\n")
        with pytest.raises(TimeoutError):  # a negative: it can only be waited out
            async with asyncio.timeout(0.5):
                await calls.reach(1)
        assert calls.count == 0
    finally:
        watcher.close()


async def test_lost_events_ask_for_a_rescan(tmp_path: Path) -> None:
    """Only temporaries are created, too many to queue: the overflow alone asks."""
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    calls = Calls()
    watcher = Watcher(calls)
    watcher.watch([str(tmp_path)])
    try:
        for n in range(limit + 10):  # the loop does not run meanwhile: none is read
            (tmp_path / f"{n}.tmp").touch()
        await calls.reach(1)
    finally:
        watcher.close()


async def test_roots_follow_the_files_and_deleted_directories_are_forgotten(
    tmp_path: Path,
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "sub").mkdir(parents=True)
    b.mkdir()
    watcher = Watcher(Calls())
    try:
        watcher.watch([str(a), str(b)])
        assert watcher.watched == {str(a), str(a / "sub"), str(b)}
        watcher.watch([str(b)])
        assert watcher.watched == {str(b)}
        watcher.watch([str(a), str(b)])
        b.rmdir()
        async with asyncio.timeout(DEADLINE):
            while str(b) in watcher.watched:
                await asyncio.sleep(0.01)
        assert watcher.watched == {str(a), str(a / "sub")}
    finally:
        watcher.close()


async def test_without_inotify_the_source_polls_and_tries_again_for_new_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    starts: list[None] = []

    def no_inotify() -> Inotify:
        starts.append(None)
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE), "inotify_init1")

    monkeypatch.setattr(watch, "Inotify", no_inotify)
    calls = Calls()
    watcher = Watcher(calls)
    with caplog.at_level(logging.WARNING, "shipper.tail"):
        watcher.watch([str(tmp_path)])
    assert watcher.polling and calls.count == 1
    assert "file-system events unavailable" in caplog.text and "Too many open files" in caplog.text
    watcher.watch([str(tmp_path)])
    assert len(starts) == 1  # the same roots: rescans go on, no new attempt
    watcher.watch([str(tmp_path), str(tmp_path / "other")])
    assert len(starts) == 2 and watcher.polling
    watcher.close()
