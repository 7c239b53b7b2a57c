"""Many files: the agent on a node with a thousand containers, as kubelet lays them out.

Real nodes run 110 pods by default (up to 250), often with sidecars, so the agent
must not cost more per record, or more at rest, as files multiply. Three scenarios,
each over `--files` containers (links in `containers/`, files in `pods/`):

  many-idle   every file exists and was read, nothing is written: the agent's share
              of a core and its RSS at the start and end of `--idle-seconds`
  many-busy   every file written at `--rate` records/s in total for `--seconds`, and
              the same with 20 files beside it: CPU-s per million records, peak RSS,
              and each line's delay (every file writes little: all are quiet files)
  churn       pods come and go, `--churn` a second (a file created, written, deleted
              after a few seconds): the agent's share of a core, and every line of the
              files that came and went delivered

CPU and RSS come from `/proc/<pid>` samples taken while the agent runs.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.agent import running_agent
from benchmarks.endpoint import EndpointProcess
from benchmarks.poll import wait_until
from benchmarks.report import percentiles
from benchmarks.writers import PacedWriter, cri_time, links, make_container

MANY_SCENARIOS = ("many-idle", "many-busy", "churn")
BASELINE_FILES = 20  # the `once` corpus's container count: what "flat cost" compares to
IDLE_LINES = 5  # lines each file holds before the idle measurement
CHURN_LIFETIME = 3.0  # seconds a churned pod's file lives before it is deleted
CHURN_LINES = 10  # lines each churned pod writes
_MARKER = "bench-many"
_SETTLE_SECONDS = 60.0


def run_idle(work: Path, files: int, seconds: float, settings: dict[str, str]) -> dict[str, Any]:
    """`files` containers read to their end, then nothing written for `seconds`."""
    root = work / "many-idle"
    paths = [make_container(root, f"idle-{n}") for n in range(files)]
    stamp = cri_time(time.time_ns())
    for path in paths:
        path.write_text("".join(f"{stamp} stdout F idle line {i}\n" for i in range(IDLE_LINES)))
    with (
        EndpointProcess() as endpoint,
        running_agent([links(root)], endpoint.url, work / "many-idle-agent", settings) as agent,
    ):
        total = files * IDLE_LINES
        if not wait_until(lambda: endpoint.stats()["distinct"] >= total, _SETTLE_SECONDS):
            raise RuntimeError(f"many-idle: {endpoint.stats()['distinct']} of {total} arrived")
        cpu0, rss0 = agent.sample()
        time.sleep(seconds)
        cpu1, rss1 = agent.sample()
        usage = agent.stop()
    return {
        "files": files,
        "idle_seconds": seconds,
        "core_share": round((cpu1 - cpu0) / seconds, 4),
        "rss_start_mib": round(rss0, 1),
        "rss_end_mib": round(rss1, 1),
        "peak_rss_mib": round(usage.peak_rss_mib, 1),
    }


def run_busy(
    work: Path, files: int, rate: float, seconds: float, settings: dict[str, str]
) -> dict[str, Any]:
    """`files` containers written at `rate` lines a second in total for `seconds`."""
    root = work / f"many-busy-{files}"
    paths = [make_container(root, f"busy-{n}") for n in range(files)]
    with EndpointProcess(track=_MARKER) as endpoint:
        with running_agent(
            [links(root)], endpoint.url, work / f"many-busy-{files}-agent", settings
        ) as agent:
            cpu0, _ = agent.sample()
            writer = PacedWriter(paths, rate, _MARKER)
            writer.start()
            time.sleep(seconds)
            written = writer.stop()
            wait_until(lambda: endpoint.stats()["tracked"] >= written, _SETTLE_SECONDS)
            cpu1, _ = agent.sample()
            usage = agent.stop()
        delays = endpoint.delays()
    return {
        "files": files,
        "rate": rate,
        "write_seconds": seconds,
        "written": written,
        "delivered": len(delays),
        "cpu_s": round(cpu1 - cpu0, 2),
        "cpu_s_per_million": round((cpu1 - cpu0) * 1e6 / max(1, written), 2),
        "peak_rss_mib": round(usage.peak_rss_mib, 1),
        **percentiles(delays),
    }


def run_churn(
    work: Path, per_second: float, seconds: float, settings: dict[str, str]
) -> dict[str, Any]:
    """Pods created and deleted `per_second` for `seconds`: the agent's CPU share."""
    root = work / "churn"
    make_container(root, "anchor")  # `containers/` exists before the agent starts
    with EndpointProcess(track=_MARKER) as endpoint:
        with running_agent([links(root)], endpoint.url, work / "churn-agent", settings) as agent:
            cpu0, _ = agent.sample()
            churn = _Churn(root, per_second)
            churn.start()
            time.sleep(seconds)
            created = churn.stop()
            cpu1, _ = agent.sample()
            written = created * CHURN_LINES
            wait_until(lambda: endpoint.stats()["tracked"] >= written, _SETTLE_SECONDS)
            usage = agent.stop()
        delivered = endpoint.stats()["tracked"]
    return {
        "per_second": per_second,
        "seconds": seconds,
        "pods": created,
        "written": written,
        "delivered": delivered,
        "core_share": round((cpu1 - cpu0) / seconds, 4),
        "peak_rss_mib": round(usage.peak_rss_mib, 1),
    }


class _Churn:
    """A thread that creates a pod's file every 1/`per_second` s, writes it, and deletes
    it (file and link, as kubelet does when a pod goes) `CHURN_LIFETIME` s later."""

    def __init__(self, root: Path, per_second: float) -> None:
        self._root = root
        self._interval = 1 / per_second
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="churn", daemon=True)
        self.created = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> int:
        """Stop creating pods (the live ones stay); how many were created."""
        self._stopped.set()
        self._thread.join()
        return self.created

    def _run(self) -> None:
        alive: list[tuple[float, Path]] = []
        while not self._stopped.wait(self._interval):
            now = time.monotonic()
            while alive and alive[0][0] <= now:
                _remove(self._root, alive.pop(0)[1])
            path = make_container(self._root, f"churn-{self.created}")
            stamp = cri_time(time.time_ns())
            lines = (
                f"{stamp} stdout F {_MARKER} pod={self.created} line={i}\n"
                for i in range(CHURN_LINES)
            )
            path.write_text("".join(lines))
            self.created += 1
            alive.append((now + CHURN_LIFETIME, path))


def _remove(root: Path, path: Path) -> None:
    """Delete a container's file, its pod directory and its link, as kubelet does."""
    pod_dir = path.parent.parent  # pods/<namespace>_<pod>_<uid>
    pod = pod_dir.name.split("_")[1]
    for link in (root / "var/log/containers").glob(f"{pod}_*"):
        link.unlink(missing_ok=True)
    shutil.rmtree(pod_dir, ignore_errors=True)
