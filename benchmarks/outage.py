"""The outage scenario: Elasticsearch down while the containers keep writing.

A running agent whose Elasticsearch address refuses connections (nothing listens on
it) while `--outage-mb` of CRI lines are written across a few containers over
`--outage-seconds`. The byte budget must hold the agent's memory while the backlog
stays on disk. Then the endpoint starts on that address and every line must arrive
exactly once. RSS comes from `/proc/<pid>/status` samples during the outage.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.agent import AgentProcess, free_port, high_water_mib, running_agent
from benchmarks.endpoint import EndpointProcess
from benchmarks.poll import wait_until
from benchmarks.writers import PacedWriter, links, make_container

OUTAGE_CONTAINERS = 4
LINE_BYTES = 190  # the writers' mean line: 80-300 bytes
_SAMPLE_SECONDS = 0.1
_MARKER = "bench-outage"
_SETTLE_SECONDS = 300.0  # the endpoint back: the backlog, after a retry backoff of up to 30 s


def run_outage(
    work: Path, megabytes: float, seconds: float, settings: dict[str, str]
) -> dict[str, Any]:
    """`megabytes` written over `seconds` while the endpoint is down, then delivered."""
    root = work / "outage"
    files = [make_container(root, f"outage-{n}") for n in range(OUTAGE_CONTAINERS)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_agent([links(root)], url, work / "outage-agent", settings) as agent:
        writer = PacedWriter(files, megabytes * 1e6 / LINE_BYTES / seconds, _MARKER)
        writer.start()
        peak = _peak_rss(agent, seconds)
        written = writer.stop()
        peak = max(peak, _peak_rss(agent, 0.0), high_water_mib(agent.pid))
        lag = agent.metric("shipper_lag_bytes")
        with EndpointProcess(port=port) as endpoint:
            arrived = wait_until(lambda: endpoint.stats()["distinct"] >= written, _SETTLE_SECONDS)
            usage = agent.stop()
            stats = endpoint.stats()
    return {
        "seconds": seconds,
        "written": written,
        "bytes": sum(path.stat().st_size for path in files),
        "outage_peak_rss_mib": round(peak, 1),
        "lag_bytes_at_end": int(lag),
        "peak_rss_mib": round(usage.peak_rss_mib, 1),
        "docs": stats["docs"],
        "distinct": stats["distinct"],
        "exactly_once": arrived and stats["docs"] == stats["distinct"] == written,
    }


def _peak_rss(agent: AgentProcess, seconds: float) -> float:
    """The agent's largest RSS sampled over `seconds` (one sample at least), in MiB."""
    peak = 0.0
    deadline = time.monotonic() + seconds
    while True:
        peak = max(peak, agent.sample()[1])
        if time.monotonic() >= deadline:
            return peak
        time.sleep(_SAMPLE_SECONDS)


def outage_markdown(result: dict[str, Any] | None) -> str:
    """The outage's figures as a Markdown paragraph ("" when it did not run)."""
    if not result:
        return ""
    once = "every line arrived exactly once" if result["exactly_once"] else "LINES LOST OR DOUBLED"
    waiting = result["lag_bytes_at_end"] / 1e6
    return (
        f"\nOutage: {result['bytes'] / 1e6:,.0f} MB ({result['written']:,} lines) written "
        f"while the endpoint was down for {result['seconds']:.0f} s: peak RSS "
        f"{result['outage_peak_rss_mib']:,.1f} MiB meanwhile ({waiting:,.0f}"
        f" MB waiting on disk at the end), {result['peak_rss_mib']:,.1f} MiB over the whole run "
        f"(catching up included); {once} ({result['docs']:,} documents, "
        f"{result['distinct']:,} distinct).\n"
    )
