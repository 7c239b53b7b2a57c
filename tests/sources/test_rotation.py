"""Rotation, truncation and deletion: every byte fed exactly once, no fd kept forever."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tests.sources.support import (
    Kubelet,
    RecordingConsumer,
    Tail,
    TailFactory,
    append,
    lines,
    until,
)


def kubelet_paths(kubelet: Kubelet) -> dict[str, object]:
    return {"paths": (str(kubelet.containers / "*.log"),)}


def fed_lines(tail: Tail) -> list[bytes]:
    return tail.consumer.all_data().splitlines()


def open_deleted_fds(under: Path) -> list[str]:
    """Deleted files under `under` that this process still holds open."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return [t for t in targets if t.startswith(str(under)) and t.endswith("(deleted)")]


async def test_rotation_while_writing_loses_and_doubles_nothing(
    tails: TailFactory, kubelet: Kubelet
) -> None:
    real, _link = kubelet.container("default", "web")
    tail = await tails.start(**kubelet_paths(kubelet))
    written: list[bytes] = []
    for rotation in range(5):
        for batch in range(5):
            data = lines(f"r{rotation}", batch * 100, 100)
            append(real, data)
            written.extend(data.splitlines())
            await asyncio.sleep(0.002)  # the writer's pace; the source reads in between
        # kubelet rotates every 10 s at most: the source has seen the file by then
        await until(lambda: len(tail.consumer.opened(real)) == rotation + 1)  # noqa: B023
        rotated = kubelet.rotate(real, f"20240501-12000{rotation}")  # older ones gzipped
        late = lines(f"late{rotation}", 0, 20)  # the runtime writes to the old file briefly
        append(rotated, late)
        written.extend(late.splitlines())
    await until(lambda: len(fed_lines(tail)) >= len(written), timeout=10)
    assert sorted(fed_lines(tail)) == sorted(written)
    assert len(set(fed_lines(tail))) == len(written)
    assert tail.metric("shipper_rotations_total") == 5
    # the rotated files are drained, finished and closed; only the live 0.log stays open
    await until(lambda: tail.source.files_open == 1, timeout=5)
    assert sum(not f.finished for f in tail.consumer.files) <= 1
    assert not open_deleted_fds(tails.root)


async def test_several_rotations_between_two_scans(tails: TailFactory, kubelet: Kubelet) -> None:
    real, link = kubelet.container("default", "web")
    real.write_bytes(lines("A", 0, 10))
    tail = await tails.start(**kubelet_paths(kubelet))
    await until(lambda: len(fed_lines(tail)) == 10)
    # No await from here on: the source cannot scan between these steps.
    append(real, lines("A", 10, 10))
    kubelet.rotate(real, "20240501-120000")
    real.write_bytes(lines("B", 0, 10))
    b_rotated = kubelet.rotate(real, "20240501-120001")  # also gzips+deletes A's rotation
    real.write_bytes(lines("C", 0, 10))
    expected = lines("A", 0, 20) + lines("B", 0, 10) + lines("C", 0, 10)
    await until(lambda: sorted(fed_lines(tail)) == sorted(expected.splitlines()))
    assert tail.consumer.fed(b_rotated) == lines("B", 0, 10)  # found although never matched
    assert {f.info.link for f in tail.consumer.files} == {str(link)}  # same container id
    await until(lambda: tail.source.files_open == 1)


async def test_old_file_gzipped_and_deleted_while_still_being_read(
    tails: TailFactory, kubelet: Kubelet
) -> None:
    real, _link = kubelet.container("default", "web")
    a_data = lines("A", 0, 10_000)  # 400 KB, far more than the budget
    real.write_bytes(a_data)
    consumer = RecordingConsumer(hold=True)
    tail = await tails.start(consumer, budget=32 * 1024, **kubelet_paths(kubelet))
    await until(lambda: consumer.total > 0)
    kubelet.rotate(real, "20240501-120000")
    real.write_bytes(lines("B", 0, 100))
    kubelet.rotate(real, "20240501-120001")  # A's rotated file: gzipped and deleted
    real.write_bytes(lines("C", 0, 100))
    assert not list(real.parent.glob("0.log.20240501-120000"))
    consumer.release()
    expected = a_data + lines("B", 0, 100) + lines("C", 0, 100)
    await until(lambda: sorted(fed_lines(tail)) == sorted(expected.splitlines()), timeout=10)
    await until(lambda: tail.source.files_open == 1)
    assert not open_deleted_fds(tails.root)


async def test_truncation_restarts_at_zero_as_new_content(tails: TailFactory) -> None:
    path = tails.logs / "copytruncate.log"
    path.write_bytes(lines("old", 0, 100))
    tail = await tails.start()
    await until(lambda: tail.consumer.fed(path) == lines("old", 0, 100))
    with open(path, "wb") as fh:  # truncate, then the writer goes on
        fh.write(lines("new", 0, 5))
    await until(lambda: len(tail.consumer.opened(path)) == 2)
    first, second = tail.consumer.opened(path)
    await until(lambda: second.data == lines("new", 0, 5))
    assert first.finished and second.start == 0
    assert first.info.key != second.info.key  # new content, new record ids
    assert tail.metric("shipper_truncations_total") == 1
    await until(lambda: tail.saved_offset(path) == len(lines("new", 0, 5)))


async def test_truncation_rewritten_past_the_old_offset_is_still_noticed(
    tails: TailFactory,
) -> None:
    path = tails.logs / "copytruncate.log"
    path.write_bytes(lines("old", 0, 1000))
    tail = await tails.start()
    await until(lambda: tail.consumer.fed(path) == lines("old", 0, 1000))
    with open(path, "wb") as fh:  # copytruncate, then a burst before the source looks again
        fh.write(lines("new", 0, 2000))
    await until(lambda: len(tail.consumer.opened(path)) == 2)
    first, second = tail.consumer.opened(path)
    await until(lambda: second.data == lines("new", 0, 2000))  # nothing skipped
    assert first.finished and second.start == 0
    assert tail.metric("shipper_truncations_total") == 1


async def test_a_busy_file_rewritten_past_its_offset_is_still_noticed(tails: TailFactory) -> None:
    """Looks at a growing file compare its first bytes with those found last time; a
    copytruncate between two looks changes them."""
    path = tails.logs / "busy.log"
    path.write_bytes(lines("old", 0, 100))
    tail = await tails.start()
    for i in range(5):  # the file grows at every look, its start unchanged
        append(path, lines(f"g{i}", 0, 50))
        await until(lambda: tail.consumer.fed(path).endswith(lines(f"g{i}", 0, 50)))  # noqa: B023
    with open(path, "wb") as fh:  # copytruncate, then a burst before the source looks again
        fh.write(lines("new", 0, 2000))
    await until(lambda: len(tail.consumer.opened(path)) == 2)
    first, second = tail.consumer.opened(path)
    await until(lambda: second.data == lines("new", 0, 2000))
    assert first.finished and second.start == 0
    assert tail.metric("shipper_truncations_total") == 1


async def test_a_file_that_only_grows_is_never_taken_for_truncated(tails: TailFactory) -> None:
    path = tails.logs / "growing.log"
    path.write_bytes(b"short\n")  # a fingerprint of 6 bytes, lengthened as the file grows
    tail = await tails.start()
    for i in range(20):
        append(path, lines(f"g{i}", 0, 50))
        await until(lambda: tail.consumer.fed(path).endswith(lines(f"g{i}", 0, 50)))  # noqa: B023
    assert len(tail.consumer.opened(path)) == 1
    assert tail.metric("shipper_truncations_total") == 0


async def test_truncation_to_identical_content_still_gets_a_new_key(tails: TailFactory) -> None:
    path = tails.logs / "same.log"
    path.write_bytes(b"same first line\nmore\n")
    tail = await tails.start()
    await until(lambda: len(tail.consumer.fed(path)) == 21)
    path.write_bytes(b"same first line\n")
    await until(lambda: len(tail.consumer.opened(path)) == 2)
    first, second = tail.consumer.opened(path)
    assert first.info.key != second.info.key


async def test_deleted_file_is_drained_then_closed(tails: TailFactory) -> None:
    path = tails.logs / "deleted.log"
    data = lines("d", 0, 5_000)
    path.write_bytes(data)
    consumer = RecordingConsumer(hold=True)
    tail = await tails.start(consumer, budget=32 * 1024)
    await until(lambda: consumer.total > 0)
    path.unlink()
    consumer.release()
    await until(lambda: consumer.fed(path) == data)
    await until(lambda: tail.source.files_open == 0)
    [recorded] = consumer.opened(path)
    assert recorded.finished
    assert not open_deleted_fds(tails.root)


async def test_a_file_is_let_go_only_after_rotate_wait_without_growth(
    tails: TailFactory, kubelet: Kubelet
) -> None:
    real, _link = kubelet.container("default", "web")
    real.write_bytes(lines("A", 0, 3))
    tail = await tails.start(rotate_wait=1.0, **kubelet_paths(kubelet))
    await until(lambda: len(fed_lines(tail)) == 3)
    rotated = kubelet.rotate(real, "20240501-120000")
    await until(lambda: tail.metric("shipper_rotations_total") == 1)
    append(rotated, lines("A", 3, 2))  # the runtime still writes to the old fd briefly
    old = tail.consumer.files[0]
    await until(lambda: old.data == lines("A", 0, 5))
    assert not old.finished and tail.source.files_open == 2
    await until(lambda: old.finished, timeout=3)
    assert tail.source.files_open == 1


async def test_rotation_is_noticed_by_events_in_the_link_target_directory(
    tails: TailFactory, kubelet: Kubelet
) -> None:
    real, _link = kubelet.container("default", "web")
    real.write_bytes(lines("A", 0, 3))
    tail = await tails.start(scan_interval=60.0, **kubelet_paths(kubelet))
    await until(lambda: len(fed_lines(tail)) == 3)
    kubelet.rotate(real, "20240501-120000")  # nothing changes in the link directory
    real.write_bytes(lines("B", 0, 3))
    await until(lambda: tail.consumer.fed(real).endswith(lines("B", 0, 3)), timeout=3)
    assert tail.metric("shipper_rotations_total") == 1
