"""The stdout/file sink: one write of whole blocks, acks after the write."""

import io

import pytest

from shipper.observe.metrics import Metrics
from shipper.sinks.lines import LineSink
from tests.sinks.support import Acks, sample


class _Broken(io.BytesIO):
    def write(self, data: object) -> int:
        raise OSError(28, "No space left on device")


async def test_writes_every_document_once_then_acks() -> None:
    metrics, acks, stream = Metrics(), Acks(), io.BytesIO()
    blocks = acks.events(25)
    sink = LineSink(stream, metrics)
    await sink.start()
    try:
        await sink.send([blocks[0], blocks[0].slice(0, 0), *blocks[1:]])  # empty: nothing to do
        assert await sink.drain(5)
    finally:
        await sink.close()
    lines = stream.getvalue().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 26
    assert stream.getvalue() == b"".join(doc for block in blocks for doc in block.docs)
    assert acks.committed == 2500 and all(block.ticket.pending == 0 for block in blocks)
    assert sample(metrics, "shipper_records_delivered_total") == 25
    assert sample(metrics, "shipper_delivery_latency_seconds_count") == 1
    assert sample(metrics, "shipper_output_up") == 1


async def test_a_failed_write_acks_nothing() -> None:
    metrics, acks = Metrics(), Acks()
    blocks = acks.events(15)
    sink = LineSink(_Broken(), metrics)
    await sink.start()
    try:
        await sink.send(blocks)
        assert not await sink.drain(5)
        assert sink.failed == 15
        with pytest.raises(OSError):
            await sink.send(acks.events(1, start=15))
    finally:
        await sink.close()
    assert acks.commits == [] and [block.ticket.pending for block in blocks] == [10, 5]
    assert sample(metrics, "shipper_output_up") == 0
