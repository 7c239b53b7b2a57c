"""Helpers for the sink tests: documents with real tickets, quick settings, polling."""

from __future__ import annotations

import asyncio
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson

from shipper.observe.metrics import Metrics
from shipper.record import AckTracker, Documents
from shipper.settings import Output, Settings, SinkSettings, TailSettings
from shipper.sinks.elasticsearch.sink import ElasticsearchSink
from tests.fakes.elasticsearch import FakeElasticsearch

FIELDS = {"kubernetes": {"namespace_name": "default", "pod_name": "web-1"}}
ID_PREFIX = "id-"


REPO = Path(__file__).resolve().parents[2]


def run_with_file_size_limit(
    script: str, *args: str, limit: int, hard: int = resource.RLIM_INFINITY
) -> subprocess.CompletedProcess[str]:
    """Run a Python `script` in a process whose writes stop at `limit` bytes a file (its
    soft RLIMIT_FSIZE; it may raise it up to `hard`), as a full disk stops them: a write
    gets part of its bytes out, then fails with EFBIG. It must exit 0."""

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG rather than a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))

    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        preexec_fn=limit_file_size,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def doc_id(n: int) -> str:
    """The id `Acks.events` gives record `n`: the prefix and its offset in hex."""
    return f"{ID_PREFIX}{n * 100:x}"


class Acks:
    """One file's AckTracker whose commits and released bytes are recorded."""

    def __init__(self) -> None:
        self.commits: list[int] = []
        self.released = 0
        self.tracker = AckTracker(0, self.commits.append, self._release)

    def _release(self, n: int) -> None:
        self.released += n

    def events(
        self,
        count: int,
        *,
        start: int = 0,
        per_ticket: int = 10,
        timestamp: str = "2024-05-01T12:00:00.123456789Z",
        fields: Mapping[str, Any] = FIELDS,
        doc: Mapping[str, Any] | None = None,
    ) -> list[Documents]:
        """`count` documents, record `start + i` at offset (start + i) * 100 with the id
        `doc_id(start + i)`, in blocks of `per_ticket`, one ticket each."""
        blocks = []
        for first in range(start, start + count, per_ticket):
            size = min(per_ticket, start + count - first)
            ticket = self.tracker.issue(size, resume=(first + size) * 100, nbytes=size * 100)
            numbers = range(first, first + size)
            docs = [
                orjson.dumps({"@timestamp": timestamp, "log": f"line {n}", **fields, **(doc or {})})
                + b"\n"
                for n in numbers
            ]
            times = [timestamp.encode()] * size
            offsets = [n * 100 for n in numbers]
            blocks.append(Documents(docs, times, offsets, ID_PREFIX, fields, ticket))
        return blocks

    @property
    def committed(self) -> int:
        return self.tracker.committed


def es_settings(state_dir: Path, *hosts: str, **overrides: Any) -> Settings:
    """Settings for a sink under test: short timings, state (dead letters) in `state_dir`."""
    values: dict[str, Any] = {
        "output": Output("elasticsearch"),
        "es_hosts": hosts,
        "flush_interval": 0.05,
        "retry_max_backoff": 0.2,
        "request_timeout": 2.0,
        "batch_max_records": 50,
        "once_retry_timeout": 5.0,
    }
    values.update(overrides)
    return Settings(tail=TailSettings(state_dir=str(state_dir)), sink=SinkSettings(**values))


@asynccontextmanager
async def running(
    settings: Settings, metrics: Metrics | None = None
) -> AsyncIterator[ElasticsearchSink]:
    """A started sink, closed on exit."""
    sink = ElasticsearchSink(
        settings.sink, metrics or Metrics(), dead_letter_path=settings.tail.dead_letter_path
    )
    await sink.start()
    try:
        yield sink
    finally:
        await sink.close()


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `predicate` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """A metric's current value (0 when never set)."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


def closed_port_url() -> str:
    """The URL of a local port nobody listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


INDEX = "logstash-2024.05.01"


def all_acked_once(blocks: list[Documents]) -> bool:
    """Every block acked, none twice (a ticket acked twice would go below zero)."""
    return all(block.ticket.pending == 0 for block in blocks)


def bulk_bodies(es: FakeElasticsearch) -> list[bytes]:
    """The bodies of the `_bulk` requests answered 200."""
    return [r.body for r in es.requests if r.path == "/_bulk" and r.status == 200]
