"""The benchmark's measure of an agent's peak RSS is the agent's own, whatever the
benchmark itself held when it started it."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.agent import AgentProcess

CHILD = """
import time
held = bytearray(40 * 1024 * 1024)
held[::4096] = b"x" * len(held[::4096])  # touched: resident
time.sleep(0.3)
"""


def test_peak_rss_is_the_childs_own_not_the_spawners(tmp_path: Path) -> None:
    ballast = bytearray(200 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # the benchmark holding 200 MiB
    child = AgentProcess(
        [], "http://127.0.0.1:9", tmp_path, once=True, wrapper=[sys.executable, "-c", CHILD]
    )
    child.start()
    usage = child.wait(30)
    del ballast
    assert usage.exit_code == 0
    assert 40 <= usage.peak_rss_mib < 100
    assert usage.tree_peak_rss_mib >= 200  # what wait4 says: the spawner's peak
