"""A pod's metadata cannot multiply memory: it is capped per document, and documents are
made only as the byte budget has room for them."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, cast

import orjson

from shipper.budget import ByteBudget
from shipper.file_pipeline import FilePipeline
from shipper.observe.metrics import Metrics
from shipper.pipeline import Pipeline
from shipper.record import AckTracker, Documents
from shipper.settings import Settings
from shipper.sinks.base import Sink
from shipper.sources.tail.consumer import FileInfo
from shipper.transforms.enrichment.enrich import TRUNCATED_KEY, Enricher, capped
from tests.transforms.multiline.test_joiner import PATH, cri, pod

LABELS = {f"team.example.com/label-{i:04d}": "v" * 70 for i in range(1000)}  # ~100 B each
ANNOTATION = {"big": "a" * (256 * 1024)}


def test_metadata_under_the_cap_is_untouched() -> None:
    fields = {"pod_id": "u", "labels": {"app": "web"}, "annotations": {"a": "b"}}
    assert capped(fields, 1024) == fields


def test_labels_and_annotations_past_the_cap_are_trimmed_the_same_way_every_time() -> None:
    fields = {"pod_id": "u", "host": "node-a", "labels": LABELS, "annotations": ANNOTATION}
    trimmed = capped(fields, 16 * 1024)
    assert len(orjson.dumps(trimmed)) <= 16 * 1024
    assert trimmed[TRUNCATED_KEY] is True
    assert trimmed["pod_id"] == "u" and trimmed["host"] == "node-a"
    assert "annotations" not in trimmed  # the one annotation is bigger than the room left
    kept = list(trimmed["labels"])
    assert kept == sorted(LABELS)[: len(kept)] and len(kept) > 100
    reordered = {**fields, "labels": dict(reversed(list(LABELS.items())))}
    assert capped(reordered, 16 * 1024) == trimmed
    small_after_big = {"labels": {"a": "x" * 2000, "b": "y"}}
    assert capped(small_after_big, 1024)["labels"] == {"b": "y"}


class Holding(Pipeline):
    """A pipeline whose output holds documents until the test acknowledges them."""

    def __init__(self, settings: Settings, budget: ByteBudget) -> None:
        metrics = Metrics()
        super().__init__(settings, cast(Sink, None), metrics, Enricher(settings, None), budget)
        self.held: list[Documents] = []
        self.delivered: list[dict[str, Any]] = []

    def submit(self, file: FilePipeline, documents: Documents) -> None:
        self.held.append(documents)

    def ack_all(self) -> int:
        """Acknowledge every document held; how many bytes of documents were held."""
        blocks, self.held = self.held, []
        size = 0
        for block in blocks:
            size += sum(map(len, block.docs))
            self.delivered += [
                orjson.loads(doc) | {"_id": i}
                for doc, i in zip(block.docs, block.id_list(), strict=True)
            ]
            block.ack()
        return size


async def test_documents_are_made_only_as_the_budget_has_room_and_all_arrive_once() -> None:
    limit = 256 * 1024
    settings = Settings(buffer_max_bytes=limit, kube_annotations=True)
    budget = ByteBudget(limit)
    pipeline = Holding(settings, budget)
    committed: list[int] = []
    tracker = AckTracker(0, committed.append, budget.release)
    consumer = cast(FilePipeline, pipeline.open(FileInfo(PATH, None, "k"), tracker))
    meta = dataclasses.replace(pod(), labels=LABELS, annotations=ANNOTATION)
    consumer.apply(meta)
    data = b"".join(cri(f"line {i}") for i in range(2000))  # ~60 KB, ~35 MB as documents
    assert budget.try_acquire(len(data))
    consumer.feed(data, 0)
    assert budget.used + 4096 <= limit  # room for a read, but it is kept for the documents:
    assert budget.reserved > limit and not budget.try_acquire(4096)
    peak = 0
    deadline = time.monotonic() + 10
    while len(pipeline.delivered) < 2000 and time.monotonic() < deadline:
        peak = max(peak, pipeline.ack_all())
        await asyncio.sleep(0.001)
    assert peak <= limit + pipeline.block_bytes
    assert [doc["log"] for doc in pipeline.delivered] == [f"line {i}" for i in range(2000)]
    assert len({doc["_id"] for doc in pipeline.delivered}) == 2000
    assert all(doc["kubernetes"][TRUNCATED_KEY] is True for doc in pipeline.delivered)
    assert all(len(orjson.dumps(doc["kubernetes"])) < 17 * 1024 for doc in pipeline.delivered)
    assert committed[-1] == len(data)
    assert budget.used == 0 and budget.reserved == 0
    truncations = pipeline.metrics.registry.get_sample_value(
        "shipper_kubernetes_metadata_truncated_total"
    )
    assert truncations == 1


async def test_flushed_waits_for_records_waiting_for_the_budget_only_while_it_frees() -> None:
    for once in (False, True):
        limit = 256 * 1024
        budget = ByteBudget(limit)
        settings = Settings(buffer_max_bytes=limit, once=once, once_retry_timeout=0.5)
        pipeline = Holding(settings, budget)
        tracker = AckTracker(0, lambda offset: None, budget.release)
        consumer = cast(FilePipeline, pipeline.open(FileInfo(PATH, None, "k"), tracker))
        consumer.apply(dataclasses.replace(pod(), labels=LABELS))
        data = b"".join(cri(f"line {i}") for i in range(200))
        assert budget.try_acquire(len(data))
        consumer.feed(data, 0)
        assert consumer._backlog  # waiting: nothing is acknowledged
        runner = asyncio.create_task(pipeline.run())
        started = time.monotonic()
        await asyncio.wait_for(pipeline.flushed(), 5)
        waited = time.monotonic() - started
        assert (0.4 < waited < 2) if once else waited < 0.3
        assert bool(consumer._backlog) is once  # a stopping agent sends what it read
        assert tracker.committed == 0  # nothing acknowledged, nothing skipped
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
