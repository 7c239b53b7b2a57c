from pathlib import Path

import orjson
import pytest

from shipper.observe.metrics import Metrics
from shipper.sinks.dead_letter import DeadLetterFile, decode_entry, encode_entry
from shipper.sinks.elasticsearch.bulk import Rejected
from tests.sinks.support import run_with_file_size_limit, sample

ERROR = {"type": "document_parsing_exception", "reason": "[1:20] object mapping for [a]"}


def _rejected(n: int, doc: bytes = b'{"log":"x","a":{"b":1}}') -> Rejected:
    return Rejected(index="logstash-2024.05.01", id=f"id-{n}", status=400, error=ERROR, doc=doc)


def test_entry_format() -> None:
    line = encode_entry(_rejected(1), "2024-05-01T12:00:00.000Z")
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert orjson.loads(line) == {
        "time": "2024-05-01T12:00:00.000Z",
        "index": "logstash-2024.05.01",
        "id": "id-1",
        "status": 400,
        "error": ERROR,
        "document": {"log": "x", "a": {"b": 1}},
    }


def test_entry_round_trip_and_null_id() -> None:
    rejected = Rejected(index="i", id=None, status=400, error=ERROR, doc=b'{"k":[1,2.5,"\\u00e9"]}')
    back = decode_entry(encode_entry(rejected, "t"))
    assert back == Rejected(
        index="i", id=None, status=400, error=ERROR, doc='{"k":[1,2.5,"é"]}'.encode()
    )


@pytest.mark.parametrize("line", [b"not json", b'{"index":"i"}', b"[1]"])
def test_decode_refuses_other_lines(line: bytes) -> None:
    with pytest.raises(ValueError):
        decode_entry(line)


async def test_write_appends_lines_and_counts(tmp_path: Path) -> None:
    metrics = Metrics()
    path = tmp_path / "state" / "dead-letter.ndjson"
    dead = DeadLetterFile(str(path), 1 << 20, metrics)
    await dead.write([_rejected(1), _rejected(2)])
    await dead.write([_rejected(3)])
    lines = path.read_bytes().splitlines()
    assert [orjson.loads(line)["id"] for line in lines] == ["id-1", "id-2", "id-3"]
    assert orjson.loads(lines[0])["time"].endswith("Z")
    assert sample(metrics, "shipper_records_dead_lettered_total") == 3


async def test_a_full_file_drops_and_counts(tmp_path: Path) -> None:
    metrics = Metrics()
    path = tmp_path / "dead-letter.ndjson"
    one = len(encode_entry(_rejected(1), "2024-05-01T12:00:00.000Z"))
    dead = DeadLetterFile(str(path), int(one * 2.5), metrics)
    await dead.write([_rejected(1), _rejected(2), _rejected(3)])
    await dead.write([_rejected(4)])
    assert len(path.read_bytes().splitlines()) == 2
    assert path.stat().st_size <= one * 2.5
    assert sample(metrics, "shipper_records_dead_lettered_total") == 2
    assert sample(metrics, "shipper_records_dropped_total", reason="dead_letter_full") == 2


async def test_an_unwritable_file_drops_and_counts(tmp_path: Path) -> None:
    metrics = Metrics()
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    dead = DeadLetterFile(str(blocker / "dead-letter.ndjson"), 1 << 20, metrics)
    await dead.write([_rejected(1), _rejected(2)])
    assert sample(metrics, "shipper_records_dropped_total", reason="dead_letter_error") == 2
    assert sample(metrics, "shipper_records_dead_lettered_total") == 0


_FAILING_WRITER = """
import asyncio, sys
from shipper.observe.metrics import Metrics
from shipper.sinks.dead_letter import DeadLetterFile
from shipper.sinks.elasticsearch.bulk import Rejected
from tests.sinks.support import sample

error = {"type": "document_parsing_exception", "reason": "x"}
doc = b'{"log":"%s"}' % (b"y" * 50_000)
metrics = Metrics()
dead_letter = DeadLetterFile(sys.argv[1], 1 << 30, metrics)
asyncio.run(dead_letter.write([Rejected("i", "big", 400, error, doc)]))
print(sample(metrics, "shipper_records_dropped_total", reason="dead_letter_error"))
"""


async def test_an_entry_a_failed_write_cut_short_is_removed_before_the_next(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A write that fails midway (here the file size limit, as a full disk would) leaves
    part of an entry at the end; the next append cuts it, so no line is glued to it."""
    metrics = Metrics()
    path = tmp_path / "dead-letter.ndjson"
    dead = DeadLetterFile(str(path), 1 << 20, metrics)
    await dead.write([_rejected(1)])
    whole = path.read_bytes()

    # the write gets 1,000 bytes in, then EFBIG
    failed = run_with_file_size_limit(_FAILING_WRITER, str(path), limit=len(whole) + 1000)
    assert failed.stdout.split() == ["1.0"], failed.stderr  # counted as dropped
    assert "cannot write the dead-letter file" in failed.stderr
    assert path.stat().st_size == len(whole) + 1000  # torn: part of the entry is there

    await dead.write([_rejected(2)])
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and [decode_entry(line).id for line in lines[:-1]] == ["id-1", "id-2"]
    assert "ended in 1000 bytes of an entry cut short" in caplog.text
