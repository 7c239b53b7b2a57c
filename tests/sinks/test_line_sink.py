"""The stdout/file sink: one write of whole blocks, acks after the write, any writable path."""

import asyncio
import os
import threading
from pathlib import Path

import pytest

from shipper.observe.metrics import Metrics
from shipper.record import Documents
from shipper.settings import Output, SinkSettings
from shipper.sinks.file import file_sink
from shipper.sinks.line_sink import LineSink
from tests.sinks.support import Acks, sample


def _settings(tmp_path: Path, **overrides: object) -> SinkSettings:
    values: dict = {"output": Output("stdout")}
    values |= {"retry_max_backoff": 0.05, "once_retry_timeout": 0.5, **overrides}
    return SinkSettings(**values)


def _body(blocks: list[Documents]) -> bytes:
    return b"".join(doc for block in blocks for doc in block.docs)


async def _delivered(sink: LineSink, blocks: list[Documents]) -> bool:
    await sink.start()
    try:
        await sink.send([blocks[0], blocks[0].slice(0, 0), *blocks[1:]])  # empty: nothing to do
        return await sink.drain(5)
    finally:
        await sink.close()


async def test_writes_every_document_once_then_acks(tmp_path: Path) -> None:
    metrics, acks = Metrics(), Acks()
    blocks = acks.events(25)
    out = tmp_path / "sub" / "out.ndjson"
    assert await _delivered(file_sink(str(out), _settings(tmp_path), metrics), blocks)
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 26
    assert out.read_bytes() == _body(blocks)
    assert acks.committed == 2500 and all(block.ticket.pending == 0 for block in blocks)
    assert sample(metrics, "shipper_records_delivered_total") == 25
    assert sample(metrics, "shipper_delivery_latency_seconds_count") == 1
    assert sample(metrics, "shipper_output_up") == 1


@pytest.mark.parametrize("path", ["/dev/null", "fifo"])
async def test_a_device_or_a_fifo_takes_records_without_fsync(tmp_path: Path, path: str) -> None:
    metrics, acks = Metrics(), Acks()
    blocks = acks.events(30)
    got = bytearray()
    if path == "fifo":
        path = str(tmp_path / "fifo")
        os.mkfifo(path)

        def read() -> None:
            with open(path, "rb") as fifo:
                got.extend(fifo.read())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
    assert await _delivered(file_sink(path, _settings(tmp_path), metrics), blocks)
    assert acks.committed == 3000 and sample(metrics, "shipper_records_delivered_total") == 30
    if path.endswith("fifo"):
        reader.join(5)
        assert bytes(got) == _body(blocks)


async def test_a_failed_write_acks_nothing_and_gives_up_with_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics, acks = Metrics(), Acks()
    blocks = acks.events(15)
    sink = file_sink("/dev/full", _settings(tmp_path, once=True), metrics)
    await sink.start()
    try:
        await sink.send(blocks)
        assert not await sink.drain(5)
        assert sink.failed == 15
        await sink.send(acks.events(1, start=15))  # never raises
    finally:
        await sink.close()
    assert acks.commits == [] and [block.ticket.pending for block in blocks] == [10, 5]
    assert sample(metrics, "shipper_output_up") == 0
    assert sample(metrics, "shipper_records_retried_total") >= 15
    assert (
        sink.last_failure == "cannot write /dev/full: no space left on the device: free some space"
    )
    said = [r.getMessage() for r in caplog.records if "no space left" in r.getMessage()]
    assert set(said[:-1]) == {sink.last_failure}  # each failed attempt, then giving up
    assert said[-1].startswith("gave up on 15 records") and said[-1].endswith(sink.last_failure)


async def test_a_failure_is_retried_from_the_first_byte_not_written(tmp_path: Path) -> None:
    """The file cannot be opened at first (a directory is in its way): nothing is lost or
    doubled once it can."""
    metrics, acks = Metrics(), Acks()
    blocks = acks.events(20)
    out = tmp_path / "out.ndjson"
    out.mkdir()
    sink = file_sink(str(out), _settings(tmp_path), metrics)
    await sink.start()
    try:
        await sink.send(blocks)
        for _ in range(200):
            if sample(metrics, "shipper_records_retried_total") >= 40:
                break
            await asyncio.sleep(0.01)
        assert sink.failing_since is not None and acks.commits == []
        out.rmdir()
        assert await sink.drain(5)
        assert sink.failing_since is None
    finally:
        await sink.close()
    assert out.read_bytes() == _body(blocks)
    assert acks.committed == 2000


async def test_a_document_torn_by_a_kill_is_cut_before_the_first_write(tmp_path: Path) -> None:
    """A kill -9 in the middle of a write left part of a document at the file's end: the
    next process starts its documents on a line of their own, never after that part."""
    metrics, acks = Metrics(), Acks()
    blocks = acks.events(3)
    whole = b'{"log":"a"}\n{"log":"b"}\n'
    out = tmp_path / "out.ndjson"
    out.write_bytes(whole + b'{"log":"c","kuber')
    assert await _delivered(file_sink(str(out), _settings(tmp_path), metrics), blocks)
    assert out.read_bytes() == whole + _body(blocks)
    out.write_bytes(b'{"log":"torn with no newline before it')
    again = Acks().events(2)
    assert await _delivered(file_sink(str(out), _settings(tmp_path), metrics), again)
    assert out.read_bytes() == _body(again)
