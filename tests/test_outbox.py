"""The outbox serves files in turn: a quiet file's block never waits behind a flood's backlog."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from shipper.budget import ByteBudget
from shipper.file_pipeline import FilePipeline
from shipper.observe.metrics import Metrics
from shipper.outbox import Outbox
from shipper.pipeline import Pipeline
from shipper.record import AckTracker, Documents, ack_all
from shipper.settings import Settings
from shipper.sources.tail.consumer import FileInfo
from shipper.transforms.enrichment.enrich import Enricher


def block(name: str) -> Documents:
    tracker = AckTracker(0, lambda _: None, lambda _: None)
    return Documents([name.encode()], [b""], [0], name, {}, tracker.issue(1, 1, 0))


def test_files_take_turns_and_keep_their_own_order() -> None:
    outbox = Outbox()
    for n in range(4):
        outbox.put("flood", block(f"flood-{n}"))
    outbox.put("quiet", block("quiet-0"))
    outbox.put("other", block("other-0"))
    outbox.put("quiet", block("quiet-1"))
    order = []
    while outbox:
        order.append(outbox.pop().id_prefix)
    assert order == ["flood-0", "quiet-0", "other-0", "flood-1", "quiet-1", "flood-2", "flood-3"]
    assert len(outbox) == 0


def test_a_file_new_to_the_outbox_goes_after_the_files_waiting() -> None:
    outbox = Outbox()
    outbox.put("a", block("a-0"))
    outbox.put("a", block("a-1"))
    assert outbox.pop().id_prefix == "a-0"
    outbox.put("b", block("b-0"))
    assert [outbox.pop().id_prefix for _ in range(2)] == ["a-1", "b-0"]


class GatedSink:
    """A sink that takes one block per `send` and holds each call until let through."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.gate = asyncio.Semaphore(0)
        self.entered = asyncio.Event()

    async def send(self, blocks: list[Documents]) -> None:
        self.entered.set()
        await self.gate.acquire()
        self.received += [b.docs[0].split(b'"log":"')[1].split(b'"')[0].decode() for b in blocks]
        ack_all(blocks)

    def busy(self) -> bool:
        return False

    async def ready(self) -> None:
        pass

    def flush_soon(self) -> None:
        pass


def cri(text: str) -> bytes:
    return f"2024-05-01T12:00:00.5Z stdout F {text}\n".encode()


async def test_the_pipeline_hands_a_quiet_files_block_over_before_the_floods_backlog() -> None:
    settings = Settings()
    sink = GatedSink()
    pipeline = Pipeline(
        settings, cast(Any, sink), Metrics(), Enricher(settings, None), ByteBudget(1 << 30)
    )

    def follow(name: str) -> FilePipeline:
        tracker = AckTracker(0, lambda _: None, lambda _: None)
        path = f"/var/log/pods/ns_{name}_uid/app/0.log"
        return cast(FilePipeline, pipeline.open(FileInfo(path, None, name), tracker))

    flood, quiet = follow("flood"), follow("quiet")
    offset = 0
    for n in range(4):
        data = cri(f"flood {n}")
        flood.feed(data, offset)
        offset += len(data)
    sender = asyncio.create_task(pipeline.run())
    try:
        await sink.entered.wait()  # the sender waits in `send` with the first block
        quiet.feed(cri("quiet 0"), 0)
        for _ in range(5):
            sink.gate.release()
        await pipeline.flushed()
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    assert sink.received == ["flood 0", "flood 1", "quiet 0", "flood 2", "flood 3"]
