"""Rotated files kubelet gzipped (and deleted) before they were read to their end: read from
their `.gz` copies at the saved offset, under their old identity; history never re-shipped;
what is really gone counted."""

from __future__ import annotations

import gzip
import logging
import os
import tracemalloc
from pathlib import Path

import orjson
import pytest

from shipper.sources.tail.readers import GzipReader
from shipper.sources.tail.rotations import Rotation, live_path, rotations
from tests.sources.support import (
    Kubelet,
    RecordingConsumer,
    Tail,
    TailFactory,
    append,
    lines,
    until,
)


def test_rotations_are_listed_oldest_first_plain_before_its_gz(tmp_path: Path) -> None:
    for name in (
        "0.log",
        "0.log.20240501-120500",
        "0.log.20240501-120000.gz",
        "0.log.20240501-120500.gz",  # between kubelet's rename and its delete
        "0.log.20240501-120900.tmp",
        "0.log.20240501-121000.gz.tmp",
        "0.log.x",
        "1.log.20240501-110000",
    ):
        (tmp_path / name).touch()
    live = str(tmp_path / "0.log")
    assert rotations(live) == [
        Rotation(f"{live}.20240501-120000.gz", "20240501-120000", True),
        Rotation(f"{live}.20240501-120500", "20240501-120500", False),
        Rotation(f"{live}.20240501-120500.gz", "20240501-120500", True),
    ]
    assert live_path(f"{live}.20240501-120000.gz") == live
    assert live_path(f"{live}.20240501-120000") == live
    assert live_path(live) == live


def test_gzip_reader_reads_the_plain_stream_from_any_offset(tmp_path: Path) -> None:
    plain = lines("a", 0, 5000)  # about 200 KB
    path = tmp_path / "0.log.20240501-120000.gz"
    path.write_bytes(gzip.compress(plain))
    reader = GzipReader(os.open(path, os.O_RDONLY))
    try:
        assert reader.head() == plain[:1024]
        assert reader.stat() == (len(plain), False)
        assert reader.read(100, 150_000) == plain[150_000:150_100]
        assert reader.read(10**6, 150_100) == plain[150_100:]
        assert reader.read(10, 0) == plain[:10]  # back to the start: decompressed again
        path.unlink()
        assert reader.stat() == (len(plain), True)  # still read from the open descriptor
    finally:
        reader.close()


def test_decompression_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "0.log.20240501-120000.gz"
    with gzip.open(path, "wb", compresslevel=1) as out:
        for i in range(200):
            out.write(lines(f"chunk{i}", 0, 6000))  # about 48 MB in all
    reader = GzipReader(os.open(path, os.O_RDONLY))
    size, _deleted = reader.stat()
    tracemalloc.start()
    try:
        offset = 30_000_000  # a resume deep inside the stream
        while data := reader.read(256 * 1024, offset):
            offset += len(data)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        reader.close()
    assert offset == size > 40_000_000
    assert peak < 4 * 1024 * 1024  # one read and the decompressor's buffers, not the file


def test_a_damaged_copy_reads_as_an_io_error(tmp_path: Path) -> None:
    path = tmp_path / "0.log.20240501-120000.gz"
    path.write_bytes(gzip.compress(lines("a", 0, 5000))[:4000])  # cut short
    reader = GzipReader(os.open(path, os.O_RDONLY))
    try:
        with pytest.raises(OSError, match="damaged compressed copy"):
            reader.read(10**6, 1024)
    finally:
        reader.close()


async def test_restart_resumes_inside_the_gz_copy_with_the_same_ids(
    tails: TailFactory, kubelet: Kubelet
) -> None:
    real, _link = kubelet.container("default", "web")
    real.write_bytes(lines("A", 0, 100))
    paths = (str(kubelet.containers / "*.log"),)
    first = await tails.start(RecordingConsumer(hold=True), paths=paths)
    await until(lambda: first.consumer.fed(real) == lines("A", 0, 100))
    await first.close()  # nothing acknowledged: the saved position stays at 0...
    acked = len(lines("A", 0, 40))
    # ...but say the first 40 lines were (one read is one ticket: set the position by hand)
    saved = first.saved()
    saved[0]["offset"] = acked
    _write_positions(tails, saved)
    # while the agent is down: A is rotated, then gzipped and deleted at the next rotation
    append(real, lines("A", 100, 20))
    a_copy = kubelet.rotate(real, "20240501-120000")
    real.write_bytes(lines("B", 0, 10))
    kubelet.rotate(real, "20240501-120100")  # gzips A's copy and deletes the plain one
    real.write_bytes(lines("C", 0, 10))
    assert not a_copy.exists() and a_copy.with_name(a_copy.name + ".gz").exists()

    second = await tails.start(paths=paths)
    gz = str(a_copy) + ".gz"
    await until(lambda: second.consumer.fed(gz) == lines("A", 40, 80), what="A from its gz")
    [resumed] = second.consumer.opened(gz)
    assert resumed.start == acked
    assert resumed.info.key == first.consumer.files[0].info.key  # the ids A's records had
    await until(lambda: second.consumer.fed(real) == lines("C", 0, 10))
    await until(lambda: second.consumer.fed(real.with_name("0.log.20240501-120100")) != b"")
    assert second.consumer.fed(real.with_name("0.log.20240501-120100")) == lines("B", 0, 10)
    assert second.metric("shipper_compressed_read_bytes_total") == len(lines("A", 40, 80))
    assert _lost(second) == 0


async def test_history_no_position_leads_to_is_never_shipped_again(
    tails: TailFactory, kubelet: Kubelet
) -> None:
    real, _link = kubelet.container("default", "web")
    old = real.with_name("0.log.20240501-110000")
    old.write_bytes(lines("history", 0, 10))
    Kubelet.compress(old)
    real.write_bytes(lines("A", 0, 10))
    paths = (str(kubelet.containers / "*.log"),)
    first = await tails.start(paths=paths)  # first start: plain copies only, never a .gz
    await until(lambda: first.saved_offset(real) == real.stat().st_size)
    await first.close()
    append(real, lines("A", 10, 5))
    kubelet.rotate(real, "20240501-120000")
    real.write_bytes(lines("B", 0, 5))
    kubelet.rotate(real, "20240501-120100")  # A's copy gzipped: its last 5 lines unread
    real.write_bytes(lines("C", 0, 5))

    second = await tails.start(paths=paths)
    await until(lambda: second.consumer.fed(real) == lines("C", 0, 5))
    await until(lambda: b"A 00000014" in second.consumer.all_data())
    await until(lambda: b"B 00000004" in second.consumer.all_data())
    everything = first.consumer.all_data() + second.consumer.all_data()
    assert b"history" not in everything
    assert sorted(everything.splitlines()) == sorted(
        (lines("A", 0, 15) + lines("B", 0, 5) + lines("C", 0, 5)).splitlines()
    )


async def test_a_copy_gzipped_before_it_was_opened_is_read_while_running(
    tails: TailFactory, kubelet: Kubelet
) -> None:
    real, _link = kubelet.container("default", "web")
    real.write_bytes(lines("A", 0, 10))
    tail = await tails.start(paths=(str(kubelet.containers / "*.log"),))
    await until(lambda: tail.consumer.fed(real) == lines("A", 0, 10))
    # Between two looks of the source (no await in between): A rotates, B is written and
    # rotated, A's copy is gzipped, then B's: B was never opened, and only its .gz is left.
    kubelet.rotate(real, "20240501-120000")
    real.write_bytes(lines("B", 0, 10))
    b_copy = kubelet.rotate(real, "20240501-120100")
    Kubelet.compress(b_copy)
    real.write_bytes(lines("C", 0, 10))
    await until(lambda: tail.consumer.fed(real) == lines("A", 0, 10) + lines("C", 0, 10))
    await until(lambda: tail.consumer.fed(str(b_copy) + ".gz") == lines("B", 0, 10))
    assert sorted(tail.consumer.all_data().splitlines()) == sorted(
        (lines("A", 0, 10) + lines("B", 0, 10) + lines("C", 0, 10)).splitlines()
    )


async def test_a_drained_file_gzipped_later_is_not_read_again(
    tails: TailFactory, kubelet: Kubelet
) -> None:
    real, _link = kubelet.container("default", "web")
    real.write_bytes(lines("A", 0, 10))
    consumer = RecordingConsumer(hold=True)  # acknowledgements still to come
    tail = await tails.start(consumer, paths=(str(kubelet.containers / "*.log"),))
    await until(lambda: consumer.fed(real) == lines("A", 0, 10))
    a_copy = kubelet.rotate(real, "20240501-120000")
    real.write_bytes(lines("B", 0, 10))
    await until(lambda: consumer.fed(real) == lines("A", 0, 10) + lines("B", 0, 10))
    await until(lambda: tail.source.files_open == 1, what="A let go, drained")
    kubelet.rotate(real, "20240501-120100")  # gzips A's copy: its position is not at the end
    real.write_bytes(lines("C", 0, 10))
    await until(lambda: b"C 00000009" in consumer.all_data())
    await until(lambda: tail.source.files_open == 1, what="B let go")
    assert consumer.opened(str(a_copy) + ".gz") == []
    assert len(consumer.all_data().splitlines()) == 30
    consumer.release()


async def test_an_empty_files_position_never_claims_another_files_gz_copy(
    tails: TailFactory, kubelet: Kubelet
) -> None:
    # A position saved while its file was empty has an empty fingerprint: it says nothing
    # about content, so it must not be taken for the origin of B's .gz copy (read again
    # under A's identity, B's records would get new ids: every one of them doubled).
    real, _link = kubelet.container("default", "web")
    paths = (str(kubelet.containers / "*.log"),)
    first = await tails.start(paths=paths)
    a_copy = kubelet.rotate(real, "20240501-120000")  # A rotated away still empty
    real.write_bytes(lines("B", 0, 50))
    await until(lambda: first.consumer.fed(real) == lines("B", 0, 50))
    await until(lambda: first.source.files_open == 1, what="A let go, drained")
    await first.close()
    empty = [item for item in first.saved() if item["fp_len"] == 0]
    assert [item["ino"] for item in empty] == [a_copy.stat().st_ino]
    assert first.saved_offset(real) == real.stat().st_size
    # while the agent is down: B rotated, C written, then B's copy gzipped and deleted
    b_copy = real.with_name("0.log.20240501-120100")
    real.rename(b_copy)
    real.write_bytes(lines("C", 0, 10))
    gz = Kubelet.compress(b_copy)

    second = await tails.start(paths=paths)
    await until(lambda: second.consumer.fed(real) == lines("C", 0, 10))
    await second.close()
    assert second.consumer.opened(gz) == []
    assert _ids_per_line(first.consumer, second.consumer) == {
        line: 1 for line in (lines("B", 0, 50) + lines("C", 0, 10)).splitlines()
    }


async def test_what_kubelet_deleted_unread_is_counted_once_and_named(
    tails: TailFactory, kubelet: Kubelet, caplog: pytest.LogCaptureFixture
) -> None:
    real, _link = kubelet.container("shop", "web")
    real.write_bytes(lines("A", 0, 100))
    paths = (str(kubelet.containers / "*.log"),)
    first = await tails.start(RecordingConsumer(hold=True), paths=paths)
    await until(lambda: first.consumer.fed(real) == lines("A", 0, 100))
    await first.close()  # nothing acknowledged: all 100 lines after the saved position
    for stamp in ("20240501-120000", "20240501-120100", "20240501-120200"):
        kubelet.rotate(real, stamp)
    for copy in real.parent.glob("0.log.*"):  # kubelet's retention deleted every copy
        copy.unlink()
    caplog.set_level(logging.WARNING, logger="shipper.tail")
    second = await tails.start(paths=paths)
    lost = len(lines("A", 0, 100))
    assert _lost(second) == lost
    [warning] = [r.getMessage() for r in caplog.records if "deleted" in r.getMessage()]
    assert "namespace shop, pod web, container app" in warning and f"{lost} bytes" in warning
    await second.close()
    third = await tails.start(paths=paths)
    assert _lost(third) == 0


def _lost(tail: Tail) -> float:
    value = tail.metrics.registry.get_sample_value(
        "shipper_lost_bytes_total", {"reason": "rotated_away"}
    )
    return value or 0.0


def _ids_per_line(*consumers: RecordingConsumer) -> dict[bytes, int]:
    """How many distinct record ids (file key, offset) each line fed was read under."""
    ids: dict[bytes, set[tuple[str, int]]] = {}
    for consumer in consumers:
        for f in consumer.files:
            offset = f.start or 0
            for line in bytes(f.data).splitlines(keepends=True):
                ids.setdefault(line.rstrip(b"\n"), set()).add((f.info.key, offset))
                offset += len(line)
    return {line: len(each) for line, each in ids.items()}


def _write_positions(tails: TailFactory, files: list[dict[str, object]]) -> None:
    path = tails.state_dir / "positions.json"
    path.write_bytes(orjson.dumps({"version": 1, "files": files}))
