"""Every record written against every document that arrived: lost, doubled, corrupted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.chaos import records


@dataclass
class Tally:
    written: int = 0
    delivered: int = 0  # records that arrived intact (each counted once)
    lost: int = 0  # records of which no document arrived
    doubled: int = 0  # documents beyond the first for one record
    corrupted: int = 0  # documents whose text or pod is not what was written
    lost_in: Counter[str] = field(default_factory=Counter)  # lost records by file fate
    examples: list[str] = field(default_factory=list)  # a few lost/doubled/corrupted ones

    @property
    def exact(self) -> bool:
        return self.lost == self.doubled == self.corrupted == 0


def count(
    written: Mapping[int, int],
    pods: Mapping[int, str],
    size: int,
    documents: Iterable[Mapping[str, Any]],
) -> tuple[Tally, dict[int, bytearray]]:
    """Tally documents against `written` (records 0..n-1 per container, whose pod is
    `pods[container]`, written with `size`); also returns which records arrived."""
    tally = Tally(written=sum(written.values()))
    arrived = {c: bytearray(n) for c, n in written.items()}
    for doc in documents:
        log = doc.get("log")
        key = records.key_of(log)
        seen = arrived.get(key[0]) if key is not None else None
        if key is None or seen is None or key[1] >= len(seen):
            tally.corrupted += 1
            _example(tally, f"unknown record: {str(log)[:80]!r}")
            continue
        container, seq = key
        if seen[seq]:
            tally.doubled += 1
            _example(tally, f"doubled: c{container}-s{seq}")
            continue
        seen[seq] = 1
        pod = (doc.get("kubernetes") or {}).get("pod_name")
        if log != records.text(container, seq, size) or pod != pods[container]:
            tally.corrupted += 1
            _example(tally, f"corrupted: {str(log)[:80]!r} of pod {pod!r}")
        else:
            tally.delivered += 1
    tally.lost = tally.written - sum(sum(seen) for seen in arrived.values())
    return tally, arrived


def _example(tally: Tally, what: str) -> None:
    if len(tally.examples) < 5:
        tally.examples.append(what)
