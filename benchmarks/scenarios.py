"""The benchmark's scenarios over a generated tree: `once`, `latency` and the fairness pair.

Each runs the real agent (`benchmarks.agent`) into its own loopback endpoint
(`benchmarks.endpoint`) and returns its figures as a dict for the report.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from benchmarks import generate as generator
from benchmarks import profile
from benchmarks.agent import REPO, AgentProcess, Usage, running_agent
from benchmarks.endpoint import EndpointProcess
from benchmarks.generate import Summary
from benchmarks.poll import wait_until
from benchmarks.report import percentiles
from benchmarks.writers import PacedWriter, links, make_container

LATENCY_CONTAINERS = 4
QUIET_RATE = 10.0  # lines a second: one every 100 ms
FLOOD_READ_SHARE = 0.97  # the last 9 MB of the flood: a margin for the 0.1 s polling
FLOOD_RECORDS = 900_000  # about 300 MB of CRI lines in one container
SLOW_US_PER_DOC = 30.0  # slow-fairness: an Elasticsearch absorbing about 33,000 documents/s
_LATENCY_MARKER = "bench-steady"
_QUIET_MARKER = "bench-quiet"
_SETTLE_SECONDS = 60.0  # after writing stops, how long the last lines may take to arrive


def prepare_tree(cache: Path, records: int, containers: int, seed: int) -> tuple[Path, Summary]:
    """A generated CRI tree, reused while one of the same parameters and generator exists."""
    version = hashlib.sha256(Path(generator.__file__).read_bytes()).hexdigest()[:12]
    root = cache / f"cri-{records}r-{containers}c-seed{seed}-{version}"
    done = root / "summary.json"
    if done.exists():
        return root, Summary(**orjson.loads(done.read_bytes()))
    shutil.rmtree(root, ignore_errors=True)
    say(f"generating {records:,} records in {containers} containers into {root}")
    summary = generator.generate(root, records, containers, seed, "cri")
    done.write_bytes(orjson.dumps(asdict(summary)))
    return root, summary


def measure_endpoint(seconds: float = 3.0, connections: int = 2) -> dict[str, Any]:
    """The endpoint's own ceiling: documents/s it acknowledges to a load generator."""
    with EndpointProcess() as endpoint:
        options = ["--url", endpoint.url, "--seconds", str(seconds), "--connections"]
        load = subprocess.run(
            [sys.executable, "-m", "benchmarks.load", *options, str(connections)],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        stats = endpoint.stats()
    result: dict[str, Any] = orjson.loads(load.stdout)
    result.update(connections=connections, endpoint_cpu_s=round(stats["cpu_s"], 2))
    return result


def run_once(
    tree: Path, summary: Summary, work: Path, settings: Mapping[str, str], timeout: float
) -> dict[str, Any]:
    """`shipper run --once` over `tree`: speed, CPU, memory, and exactly-once delivery."""
    with EndpointProcess() as endpoint:
        agent = AgentProcess(
            [links(tree)], endpoint.url, work / "once", once=True, settings=settings
        )
        agent.start()
        try:
            usage = agent.wait(timeout)
        finally:
            agent.close()
        stats = endpoint.stats()
    records = summary.records
    return {
        "records": records,
        "bytes": summary.bytes,
        "files": summary.files,
        "records_per_s": round(records / usage.seconds),
        "mb_per_s": round(summary.bytes / 1e6 / usage.seconds, 2),
        "cpu_s_per_million": round(usage.cpu_s * 1e6 / max(1, records), 2),
        **usage_figures(usage),
        "docs": stats["docs"],
        "distinct": stats["distinct"],
        "repeated": stats["repeated"],
        "exactly_once": usage.exit_code == 0 and stats["docs"] == stats["distinct"] == records,
        "endpoint_cpu_s": round(stats["cpu_s"], 2),
    }


def profile_once(tree: Path, work: Path, settings: Mapping[str, str], timeout: float) -> Path:
    """A second `--once` run under py-spy; the raw samples' path."""
    raw = work / "profile.txt"
    with EndpointProcess() as endpoint:
        agent = AgentProcess(
            [links(tree)],
            endpoint.url,
            work / "profile",
            once=True,
            settings=settings,
            wrapper=profile.command(raw),
        )
        agent.start()
        try:
            agent.wait(timeout)
        finally:
            agent.close()
    return raw


def run_latency(
    work: Path, rate: float, seconds: float, settings: Mapping[str, str]
) -> dict[str, Any]:
    """Lines written at `rate` a second for `seconds` to a running agent: their delays."""
    root = work / "latency"
    files = [make_container(root, f"steady-{n}") for n in range(LATENCY_CONTAINERS)]
    with EndpointProcess(track=_LATENCY_MARKER) as endpoint:
        with running_agent([links(root)], endpoint.url, work / "latency-agent", settings) as agent:
            writer = PacedWriter(files, rate, _LATENCY_MARKER)
            writer.start()
            time.sleep(seconds)
            written = writer.stop()
            wait_until(lambda: endpoint.stats()["tracked"] >= written, _SETTLE_SECONDS)
            usage = agent.stop()
        delays = endpoint.delays()
    return {
        "rate": rate,
        "write_seconds": seconds,
        "written": written,
        "delivered": len(delays),
        **percentiles(delays),
        **usage_figures(usage),
    }


def run_fairness(
    cache: Path,
    work: Path,
    seed: int,
    seconds: float,
    settings: Mapping[str, str],
    us_per_doc: float = 0.0,
) -> dict[str, Any]:
    """A quiet container's delays while a big backlog in another one is read.

    The quiet container writes until the agent has read FLOOD_READ_SHARE of the
    backlog (or for `seconds`): every line measured was written while the flood was
    still being read, although the benchmark polls the agent's metrics. With
    `us_per_doc`, the endpoint is that slow (see `benchmarks.endpoint`).
    """
    flood, summary = prepare_tree(cache, FLOOD_RECORDS, 1, seed)
    name = "slow-fairness" if us_per_doc else "fairness"
    root = work / name
    quiet = make_container(root, "quiet")
    with EndpointProcess(track=_QUIET_MARKER, us_per_doc=us_per_doc) as endpoint:
        with running_agent(
            [links(flood), links(root)], endpoint.url, work / f"{name}-agent", settings
        ) as agent:
            writer = PacedWriter([quiet], QUIET_RATE, _QUIET_MARKER)
            writer.start()
            started = time.monotonic()

            def flood_read() -> bool:
                read = agent.metric("shipper_read_bytes_total")
                return read >= FLOOD_READ_SHARE * summary.bytes

            wait_until(flood_read, seconds)
            window = time.monotonic() - started
            written = writer.stop()
            everything = summary.records + written
            wait_until(lambda: endpoint.stats()["distinct"] >= everything, _SETTLE_SECONDS)
            counts = endpoint.stats()
            flood_delivered = counts["distinct"] - counts["tracked"]
            usage = agent.stop()
        delays = endpoint.delays()
    return {
        "us_per_doc": us_per_doc,
        "flood_records": summary.records,
        "flood_bytes": summary.bytes,
        "flood_delivered": flood_delivered,
        "window_s": round(window, 2),
        "quiet_lines": written,
        "quiet_delivered": len(delays),
        **percentiles(delays),
        **usage_figures(usage),
    }


def usage_figures(usage: Usage) -> dict[str, Any]:
    return {
        "seconds": round(usage.seconds, 3),
        "cpu_s": round(usage.cpu_s, 2),
        "user_s": round(usage.user_s, 2),
        "sys_s": round(usage.sys_s, 2),
        "peak_rss_mib": round(usage.peak_rss_mib, 1),
        "exit_code": usage.exit_code,
    }


def say(message: str) -> None:
    """Progress on stderr, so the report on stdout stays clean."""
    print(f"benchmark: {message}", file=sys.stderr, flush=True)
