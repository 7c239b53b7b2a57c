"""Fixtures for the decoder tests: metrics, a clock the test moves, chunked feeding."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from shipper.observe.metrics import Metrics
from shipper.record import Record
from shipper.transforms.decoding.decoder import Decoder
from shipper.transforms.decoding.detect import make_decoder


class FakeClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


Feed = Callable[[Decoder, bytes, Iterable[int]], list[Record]]
Decode = Callable[..., list[Record]]


def feed_at(decoder: Decoder, data: bytes, cuts: Iterable[int], start: int = 0) -> list[Record]:
    """Feed `data` (the file's bytes from `start`) cut at the offsets `cuts` into `data`."""
    records: list[Record] = []
    at = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        if at <= cut <= len(data):
            records += list(decoder.feed(data[at:cut], start + at))
            at = cut
    return records


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def feed() -> Feed:
    return feed_at


@pytest.fixture
def decode(metrics: Metrics, clock: FakeClock) -> Decode:
    """Decode a whole file fed in chunks of `chunk` bytes (one chunk by default), finished."""

    def run(data: bytes, max_record_bytes: int = 1024, chunk: int | None = None) -> list[Record]:
        decoder = make_decoder(max_record_bytes, metrics, clock=clock)
        step = chunk or max(len(data), 1)
        return feed_at(decoder, data, range(step, len(data), step)) + list(decoder.finish())

    return run


@pytest.fixture
def counted(metrics: Metrics) -> Callable[..., float]:
    """A metric's current value (0 when never set): `counted(name, label=value, ...)`."""

    def value(name: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(name, labels) or 0.0

    return value
