"""The journal source with the real journalctl, in process: the cursor moves only past
entries acknowledged together with all before them, and reading stays within the budget."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from pathlib import Path

import orjson

from shipper.budget import ByteBudget
from shipper.observe.metrics import Metrics
from shipper.record import Documents
from shipper.settings import NodeLogSettings, RecordSettings
from shipper.sources.journal.source import JournalSource
from tests.journal_files import Journal
from tests.sources.support import until

BUDGET = 256 * 1024


class Collector:
    """A pipeline that keeps the blocks it gets and acknowledges nothing by itself."""

    def __init__(self) -> None:
        self.blocks: list[Documents] = []

    def submit(self, file: Hashable, documents: Documents) -> None:
        self.blocks.append(documents)

    @property
    def count(self) -> int:
        return sum(map(len, self.blocks))

    def messages(self) -> list[str]:
        return [orjson.loads(doc)["MESSAGE"] for block in self.blocks for doc in block.docs]


def _source(tmp_path: Path, journal: Journal) -> tuple[JournalSource, Collector, ByteBudget]:
    settings = NodeLogSettings(
        journal_paths=(str(journal.directory),), journal_units=("kubelet.service",)
    )
    collector, budget = Collector(), ByteBudget(BUDGET)
    source = JournalSource(
        settings,
        collector,
        budget,
        Metrics(),
        state_dir=str(tmp_path / "state"),
        max_record_bytes=RecordSettings().max_record_bytes,
    )
    return source, collector, budget


def _saved(tmp_path: Path, journal: Journal) -> str | None:
    path = tmp_path / "state/journal-cursors.json"
    if not path.exists():
        return None
    cursors: dict[str, str] = orjson.loads(path.read_bytes())["cursors"]
    return cursors.get(str(journal.directory))


async def test_cursor_follows_in_order_acknowledgements_and_reading_waits_for_budget(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "journal")
    journal.append(f"{i:05d} " + "x" * 1000 for i in range(2000))  # about 2.5 MB of JSON
    source, collector, budget = _source(tmp_path, journal)
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(stop))
    try:
        await until(lambda: collector.count > 0, 10, "the first entries")
        await asyncio.sleep(0.3)  # time to read on, if the budget let it
        held = collector.count
        assert 0 < held < 2000
        assert budget.used <= BUDGET + 256 * 1024  # one read beyond what was free

        first, second = collector.blocks[0], collector.blocks[1]
        second.ack()  # a later block acknowledged first: the cursor may not move
        await asyncio.sleep(1.2)  # past a save
        assert _saved(tmp_path, journal) is None
        first.ack()
        await until(lambda: _saved(tmp_path, journal) is not None, 5, "a saved cursor")

        while collector.count < 2000 or any(b.ticket.pending for b in collector.blocks):
            for block in collector.blocks:
                if block.ticket.pending:
                    block.ack()
            await asyncio.sleep(0.02)
        assert collector.messages() == [m.decode() for m in journal.written]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    # Everything acknowledged: a new source starts after the last entry.
    journal.append(["after"])
    source, collector, _ = _source(tmp_path, journal)
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(stop))
    try:
        await until(lambda: collector.count == 1, 10, "the entry after the cursor")
        await asyncio.sleep(0.2)
        assert collector.messages() == ["after"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
