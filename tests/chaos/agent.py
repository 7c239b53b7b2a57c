"""The real agent under chaos: started, SIGKILLed, restarted, and watched from outside
(peak RSS from /proc, lag and compressed-copy reads from its /metrics)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import Agent


class Supervisor:
    """One agent process at a time, all writing their logs to one file; what was seen
    of them accumulates over restarts."""

    def __init__(self, env: Mapping[str, str], log: Path) -> None:
        self._env = dict(env)
        self._log_path = log
        self._log: IO[bytes] | None = None
        self.agent: Agent | None = None
        self.kills = 0
        self.peak_rss_kib = 0
        self.max_lag_bytes = 0
        self._from_gz_done = 0.0  # records read from compressed copies by earlier processes
        self._from_gz_now = 0.0
        self.from_gz_known = False  # the agent has such a metric at all

    @property
    def alive(self) -> bool:
        return (
            self.agent is not None
            and self.agent.proc is not None
            and (self.agent.proc.poll() is None)
        )

    @property
    def from_gz(self) -> int | None:
        """Records read from compressed copies (best effort: a kill loses the last second)."""
        return round(self._from_gz_done + self._from_gz_now) if self.from_gz_known else None

    def start(self) -> None:
        if self._log is None:
            self._log = open(self._log_path, "ab")  # noqa: SIM115 - open for the whole run
        self.agent = Agent([], self._env)  # a fresh metrics port each time
        self.agent.proc = subprocess.Popen(
            self.agent.args,
            env=self.agent.env,
            cwd=self.agent.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a node drain's timeout would."""
        assert self.agent is not None
        self.sample()
        self.agent.kill()
        self.kills += 1
        self._from_gz_done += self._from_gz_now
        self._from_gz_now = 0.0

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM (the agent delivers what it holds and saves positions); its exit code."""
        assert self.agent is not None
        self.sample()
        code, _ = self.agent.terminate(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def sample(self) -> dict[str, float] | None:
        """Peak RSS so far, and the metrics when they answer (None when they do not)."""
        if not self.alive:
            return None
        assert self.agent is not None and self.agent.proc is not None
        self.peak_rss_kib = max(self.peak_rss_kib, _vm_hwm_kib(self.agent.proc.pid))
        try:
            text = httpx.get(f"http://127.0.0.1:{self.agent.port}/metrics", timeout=1.0).text
        except httpx.HTTPError:
            return None
        values = _scalars(text)
        self.max_lag_bytes = max(self.max_lag_bytes, int(values.get("shipper_lag_bytes", 0)))
        from_gz = records_from_compressed(text)
        if from_gz is not None:
            self.from_gz_known = True
            self._from_gz_now = from_gz
        return values

    def close(self) -> None:
        if self.alive:
            assert self.agent is not None
            self.agent.kill()
        if self._log is not None:
            self._log.close()
            self._log = None


def _vm_hwm_kib(pid: int) -> int:
    """The process's peak resident set size (VmHWM), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _scalars(text: str) -> dict[str, float]:
    """Metrics without labels, by sample name."""
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


def records_from_compressed(text: str) -> float | None:
    """Records read from compressed copies, if the agent counts them: the `_total` of any
    records-read metric whose name or labels say `gz` or `compressed`."""
    total = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name
            if "records" not in name or not name.endswith("_total") or "lost" in name:
                continue
            said = " ".join([name, *sample.labels.values()]).lower()
            if "gz" in said or "compressed" in said:
                total = (total or 0.0) + sample.value
    return total
