"""The `journal` scenario: node logs into the bulk endpoint.

First the journal source alone: a journal of `entries` kubelet entries (real journal files,
made by systemd-journal-remote as the tests make them) read by a running agent, timed from
its start until the endpoint holds every entry. Then all three sources at once (the same
journal, container logs and a klog node file) for the agent's peak RSS.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.agent import AgentProcess, Usage, high_water_mib
from benchmarks.endpoint import EndpointProcess
from benchmarks.poll import wait_until
from benchmarks.writers import cri_time, make_container
from tests.journal_files import Journal

_MESSAGE = (
    'I0102 15:04:05.123456    4242 kubelet.go:2410] "SyncLoop (PLEG): event for pod" '
    'pod="shop/api-{n}" event={{ID:4b2c Type:ContainerStarted Data:9f0e}}'
)
_BATCH = 50_000  # entries per systemd-journal-remote run
CONTAINERS = 4
_SETTLE = 600.0


def make_journal(directory: Path, entries: int) -> None:
    journal = Journal(directory)
    for start in range(0, entries, _BATCH):
        journal.append(_MESSAGE.format(n=n) for n in range(start, min(entries, start + _BATCH)))


def make_node_file(path: Path, lines: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for n in range(lines):
            fh.write(f"I0102 15:04:05.{n % 1_000_000:06d}    77 proxier.go:{n}] synced {n}\n")


def make_containers(root: Path, lines_each: int) -> None:
    now = time.time_ns()
    for c in range(CONTAINERS):
        path = make_container(root, f"journal-bench-{c}")
        with open(path, "w") as fh:
            for n in range(lines_each):
                fh.write(f"{cri_time(now + n)} stdout F container {c} line {n} " + "x" * 80 + "\n")


def run_journal(work: Path, entries: int, settings: Mapping[str, str]) -> dict[str, Any]:
    """The journal alone (entries/s, CPU-s per million), then beside the other sources."""
    journal_dir = work / "journal"
    make_journal(journal_dir, entries)
    journal_env = {
        "SHIPPER_JOURNAL_PATHS": str(journal_dir),
        "SHIPPER_JOURNAL_UNITS": "kubelet.service",
        **settings,
    }
    alone, alone_s, alone_docs, alone_hwm = _run(
        work / "alone",
        [str(work / "no-containers/*.log")],
        {**journal_env, "SHIPPER_NODE_LOG_PATHS": ""},
        entries,
    )
    containers_root = work / "containers"
    lines_each = entries // CONTAINERS
    make_containers(containers_root, lines_each)
    node_file = work / "node/kube-proxy.log"
    make_node_file(node_file, entries)
    total = entries + CONTAINERS * lines_each + entries
    both, both_s, both_docs, both_hwm = _run(
        work / "both",
        [str(containers_root / "var/log/containers/*.log")],
        {**journal_env, "SHIPPER_NODE_LOG_PATHS": str(node_file)},
        total,
    )
    return {
        "entries": entries,
        "entries_per_s": round(entries / alone_s),
        "cpu_s_per_million": round(alone.cpu_s * 1e6 / entries, 2),
        "peak_rss_mib": round(alone.tree_peak_rss_mib, 1),
        "agent_peak_rss_mib": alone_hwm,
        "exactly_once": alone_docs == entries,
        "both_records": total,
        "both_records_per_s": round(total / both_s),
        "both_cpu_s_per_million": round(both.cpu_s * 1e6 / total, 2),
        "both_peak_rss_mib": round(both.tree_peak_rss_mib, 1),
        "both_agent_peak_rss_mib": both_hwm,
        "both_exactly_once": both_docs == total,
    }


def _run(
    work: Path, paths: list[str], settings: Mapping[str, str], expected: int
) -> tuple[Usage, float, int, float]:
    """A running agent until the endpoint holds `expected` documents: its usage, the
    seconds from its start to the last arrival, the distinct documents stored, and the
    agent's own peak RSS in MiB (`Usage.tree_peak_rss_mib` also counts journalctl's,
    whose RSS counts the journal files it maps)."""
    with EndpointProcess() as endpoint:
        agent = AgentProcess(paths, endpoint.url, work, once=False, settings=settings)
        started = time.perf_counter()
        agent.start()
        try:
            if not wait_until(lambda: endpoint.stats()["distinct"] >= expected, _SETTLE, 0.05):
                raise TimeoutError("the endpoint did not get every document")
            seconds = time.perf_counter() - started
            hwm = round(high_water_mib(agent.pid), 1)
            usage = agent.stop()
        finally:
            agent.close()
        stats = endpoint.stats()
    distinct = stats["distinct"] if stats["docs"] == stats["distinct"] else -1
    return usage, seconds, distinct, hwm
