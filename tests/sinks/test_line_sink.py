"""The stdout/file sink: one write of whole blocks, acks after the write, any writable path."""

import asyncio
import os
import threading
from pathlib import Path

import orjson
import pytest

from shipper.observe.metrics import Metrics
from shipper.record import Documents
from shipper.settings import Output, SinkSettings
from shipper.sinks.file import file_sink
from shipper.sinks.line_sink import LineSink
from tests.sinks.support import Acks, run_with_file_size_limit, sample


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


async def test_after_a_write_given_up_midway_the_next_document_starts_a_line() -> None:
    """--once gives up on a write that got part of a document out (a full pipe that is
    never read from here); once the pipe is read again, the next document must not be
    glued to that part: its line is ended first."""
    acks = Acks()
    padded = {"pad": "x" * 5000}
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # a full pipe refuses the rest: a partial write
    settings = _settings(Path(), once=True, once_retry_timeout=0.3)
    sink = LineSink(lambda: write_end, "a pipe", settings, Metrics())
    try:
        await sink.start()
        await sink.send(acks.events(30, doc=padded))  # 150 KB: more than the pipe holds
        assert not await sink.drain(5)  # given up
        got = b""
        while chunk := _read_some(read_end):
            got += chunk
        assert got and not got.endswith(b"\n")  # part of a document went out
        later = acks.events(2, start=30)
        await sink.send(later)
        await sink.drain(5)  # False all the same: the 30 given up stay given up
        assert [block.ticket.pending for block in later] == [0]  # written, then acked
        got += _read_some(read_end)
    finally:
        await sink.close()
        os.close(read_end)
        os.close(write_end)
    *earlier, torn, first, second, end = got.split(b"\n")
    assert end == b"" and [first + b"\n", second + b"\n"] == _body(later).splitlines(True)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(torn)
    assert all(orjson.loads(line)["pad"] for line in earlier)


def _read_some(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1 << 20)
    except BlockingIOError:
        return b""


_GIVING_UP_WRITER = """
import asyncio, resource, sys
from shipper.observe.metrics import Metrics
from shipper.settings import Output, SinkSettings
from shipper.sinks.file import file_sink
from tests.sinks.support import Acks

async def main(path):
    acks = Acks()
    settings = SinkSettings(
        output=Output("stdout"), retry_max_backoff=0.05, once=True, once_retry_timeout=0.3
    )
    sink = file_sink(path, settings, Metrics())
    await sink.start()
    await sink.send(acks.events(30, doc={"pad": "x" * 5000}))  # 150 KB
    await sink.drain(5)  # given up: the file may grow no further
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)  # room again
    later = acks.events(2, start=30)
    await sink.send(later)
    await sink.drain(5)
    await sink.close()
    print(sum(block.ticket.pending for block in later))

asyncio.run(main(sys.argv[1]))
"""


def test_a_document_a_write_given_up_left_in_a_file_is_cut_before_the_next(
    tmp_path: Path,
) -> None:
    """--once gives up on a write the file size limit stopped 70,000 bytes in (as a full
    disk would), mid-document; when the next documents can be written, that part is cut
    off first: every line of the file is a whole document."""
    out = tmp_path / "out.ndjson"

    done = run_with_file_size_limit(_GIVING_UP_WRITER, str(out), limit=70_000)
    assert done.stdout.split() == ["0"], done.stderr  # the later documents were acked
    assert "gave up on 30 records" in done.stderr
    assert "cut short by a write given up" in done.stderr
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert out.read_bytes().endswith(b"\n")
    assert [doc["log"] for doc in docs[-2:]] == ["line 30", "line 31"]
    assert [doc["log"] for doc in docs[:-2]] == [f"line {n}" for n in range(len(docs) - 2)]
    assert len(docs) - 2 == 70_000 // len(_body(Acks().events(1, doc={"pad": "x" * 5000})))
