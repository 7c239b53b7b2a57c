"""`--once` on a terminal: one status line on stderr, rewritten twice a second."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

from shipper.observe.metrics import Metrics


def _value(metric: object) -> float:
    return float(metric._value.get())  # type: ignore[attr-defined]


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
                sys.stderr.write("\r" + self.line() + "\x1b[K")
                sys.stderr.flush()
                await asyncio.sleep(0.5)
        finally:
            sys.stderr.write("\r" + self.line() + "\x1b[K\n")
            sys.stderr.flush()
