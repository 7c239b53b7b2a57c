"""Start-up: how soon the commands answer and the agent delivers, from process start.

`shipper version` and `shipper check-config` are what an operator runs by hand and what
probes and init containers run: they must answer at once, without the HTTP stack.
`shipper run` is measured from its spawn to the arrival of its first document at the
endpoint, a file with one line waiting for it: a restarted pod's logs should not wait
on the agent's own start.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.agent import REPO, AgentProcess, agent_environment
from benchmarks.endpoint import EndpointProcess
from benchmarks.poll import wait_until
from benchmarks.writers import cri_time, links, make_container

RUNS = 5
_MARKER = "bench-first"


def run_startup(work: Path, settings: dict[str, str]) -> dict[str, Any]:
    """Median wall seconds of `version`, `check-config` and the first document, over RUNS."""
    version = [_command(["version"]) for _ in range(RUNS)]
    check = [_command(["check-config"]) for _ in range(RUNS)]
    first = [_first_document(work / f"startup-{n}", settings) for n in range(RUNS)]
    return {
        "runs": RUNS,
        "version_s": round(statistics.median(version), 3),
        "check_config_s": round(statistics.median(check), 3),
        "first_document_s": round(statistics.median(first), 3),
        "first_document_max_s": round(max(first), 3),
    }


def _command(args: list[str]) -> float:
    """Wall seconds of `python -m shipper ARGS` to its exit."""
    env = agent_environment()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "shipper", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - started


def _first_document(work: Path, settings: dict[str, str]) -> float:
    """Seconds from the agent's spawn to its first document's arrival."""
    root = work / "tree"
    path = make_container(root, "first")
    path.write_text(f"{cri_time(time.time_ns())} stdout F {_MARKER} hello\n")
    with EndpointProcess(track=_MARKER) as endpoint:
        agent = AgentProcess([links(root)], endpoint.url, work, once=False, settings=settings)
        started = time.perf_counter()
        agent.start()
        try:
            arrived = wait_until(lambda: endpoint.stats()["tracked"] >= 1, 30.0, poll=0.005)
            elapsed = time.perf_counter() - started
            agent.stop()
        finally:
            agent.close()
    if not arrived:
        raise RuntimeError(f"startup: no document within 30 s: {agent.log_tail()}")
    return elapsed
