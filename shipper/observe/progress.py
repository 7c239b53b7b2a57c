"""`--once`: on a terminal a status line rewritten twice a second; at the end, terminal
or not, one summary line on stderr."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import Counter

from shipper.observe.logging import show_status
from shipper.observe.metrics import Metrics


def _value(counter: Counter) -> float:
    """A counter's count (summed over its labels), read as a scrape reads it."""
    return sum(
        sample.value
        for family in counter.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )


class Progress:
    def __init__(
        self, metrics: Metrics, files: Callable[[], int], lag_bytes: Callable[[], int]
    ) -> None:
        self._metrics = metrics
        self._files = files
        self._lag = lag_bytes
        self._start = time.monotonic()

    def line(self) -> str:
        m = self._metrics
        elapsed = max(time.monotonic() - self._start, 1e-6)
        read = _value(m.read_bytes)
        return (
            f"files {self._files()}  records read {int(_value(m.records_read))}"
            f"  delivered {int(_value(m.records_delivered))}"
            f"  {read / elapsed / 1e6:.1f} MB/s  left {self._lag() / 1e6:.1f} MB"
        )

    async def run(self) -> None:
        try:
            while True:
                show_status(self.line())
                await asyncio.sleep(0.5)
        finally:
            show_status(self.line(), final=True)


def summary_line(
    metrics: Metrics, files: int, seconds: float, had_positions: bool, failure: str | None = None
) -> str:
    """What `--once` did, in one line; says so when the saved positions were already at
    the end of every file (a second run over the same state), and ends with `failure`,
    why some records were not delivered, when that is so (it is the last line printed)."""
    m = metrics
    dropped = _value(m.records_dropped)
    line = (
        f"shipper --once: {files} file{'' if files == 1 else 's'}, "
        f"{int(_value(m.records_read))} records read, "
        f"{int(_value(m.records_delivered))} delivered, "
        f"{int(_value(m.records_dead_lettered))} dead-lettered, {int(dropped)} dropped "
        f"in {seconds:.1f}s"
    )
    if _value(m.read_bytes) == 0:
        line += (
            ": nothing new since the saved positions" if had_positions else ": the files are empty"
        )
    return f"{line}; {failure}" if failure else line
