"""The agent under test: `python -m shipper run` as deployed, its resource use measured.

Default settings except where the node's files are, where Elasticsearch is, the
state directory and the metrics port (free, so that several runs never collide).
The child's CPU time comes from `wait4`, so it is the agent's alone. Its peak RSS is
the kernel's high-water mark of its own memory (`VmHWM`), read until it exits: `wait4`'s
`ru_maxrss` is no measure of a child, since Linux carries the parent's peak into the
child across fork and exec (a benchmark that held 80 MiB when it spawned an agent of 64
would report 80).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
_POLL = 0.005  # seconds between checks for the child's exit: the wall time's resolution


@dataclass(frozen=True, slots=True)
class Usage:
    """How the agent ran: exit code, wall seconds from start to exit, CPU, peak RSS."""

    exit_code: int
    seconds: float
    user_s: float
    sys_s: float
    peak_rss_mib: float  # the process's own (VmHWM)
    tree_peak_rss_mib: float  # wait4's: its children's too, and the spawner's at the spawn

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


class AgentFailed(Exception):
    """The agent did not start, or did not finish in time."""


class AgentProcess:
    """One agent run; `settings` are extra `SHIPPER_*` variables on top of the defaults."""

    def __init__(
        self,
        paths: Sequence[str],
        es_url: str,
        workdir: Path,
        *,
        once: bool,
        settings: Mapping[str, str] | None = None,
        wrapper: Sequence[str] = (),
    ) -> None:
        """`wrapper` goes before the command line (a profiler that starts the agent)."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "agent.log"
        self._port = free_port()
        env = agent_environment()
        env.update(
            {
                "SHIPPER_PATHS": ",".join(paths),
                "SHIPPER_ES_HOSTS": es_url,
                "SHIPPER_STATE_DIR": str(workdir / "state"),
                "SHIPPER_METRICS_ADDR": f"127.0.0.1:{self._port}",
                **(settings or {}),
            }
        )
        self._env = env
        self._args = [*wrapper, sys.executable, "-m", "shipper", "run"] + (
            ["--once"] if once else []
        )
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self._started = time.perf_counter()
            self._proc = subprocess.Popen(
                self._args, env=self._env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until `/readyz` answers 200 (tailing has started)."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self._port}/readyz"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise AgentFailed(f"the agent exited {self._proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AgentFailed(f"the agent was not ready within {timeout} s: {self.log_tail()}")

    def metric(self, name: str) -> float:
        """A sample's value from the agent's `/metrics` (0 when absent or unreachable)."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self._port}/metrics", timeout=1).text
        except httpx.HTTPError:
            return 0.0
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def sample(self) -> tuple[float, float]:
        """The running agent's CPU seconds so far (user + sys) and its RSS now, in MiB."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        status = Path(f"/proc/{self.pid}/status").read_text()
        rss_kib = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
        return cpu, rss_kib / 1024

    def wait(self, timeout: float) -> Usage:
        """Until the agent exits; killed (and `AgentFailed`) after `timeout` seconds."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        peak = 0.0
        while True:
            peak = max(peak, high_water_mib(self._proc.pid))  # read while it has memory
            pid, status, usage = os.wait4(self._proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                self._proc.kill()
                self._proc.wait()
                raise AgentFailed(f"the agent ran over {timeout} s: {self.log_tail()}")
            time.sleep(_POLL)
        seconds = time.perf_counter() - self._started
        self._proc.returncode = os.waitstatus_to_exitcode(status)
        return Usage(
            exit_code=self._proc.returncode,
            seconds=seconds,
            user_s=usage.ru_utime,
            sys_s=usage.ru_stime,
            peak_rss_mib=peak,
            tree_peak_rss_mib=usage.ru_maxrss / 1024,  # KiB on Linux
        )

    def stop(self, timeout: float = 60.0) -> Usage:
        """SIGTERM (drain, save positions, exit), then `wait`."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def close(self) -> None:
        """Kill the agent if it still runs (after a failed scenario)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


@contextlib.contextmanager
def running_agent(
    paths: Sequence[str], es_url: str, workdir: Path, settings: Mapping[str, str]
) -> Iterator[AgentProcess]:
    """A long-running agent, ready (its `/readyz` answered 200); killed on the way out if
    the scenario did not `stop` it."""
    agent = AgentProcess(paths, es_url, workdir, once=False, settings=settings)
    agent.start()
    try:
        agent.wait_ready()
        yield agent
    finally:
        agent.close()


def agent_environment() -> dict[str, str]:
    """This process's environment without any agent setting (nor a Kubernetes API to find),
    with the repository importable: every run starts from the defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPPER_", "FLUENT"))}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    env["PYTHONPATH"] = str(REPO)
    return env


def high_water_mib(pid: int) -> float:
    """The process's own peak RSS so far (`VmHWM`), in MiB; 0 once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kib = [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")]
    return kib[0] / 1024 if kib else 0.0  # a zombie has no memory left


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
