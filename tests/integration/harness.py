"""Real files written the way kubelet and the runtimes write them, and the real agent.

`Container` writes CRI lines into `<root>/var/log/pods/...` behind a
`<root>/var/log/containers/...` link and rotates like kubelet (rename, new file,
the older rotated file gzipped and deleted). `Agent` runs `python -m shipper run`
as a subprocess.
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

REPO = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll `condition` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def cri_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}123Z"


@dataclass
class Written:
    """One line as written: which file identity and offset it went to."""

    text: str
    ino: int
    offset: int


@dataclass
class Container:
    root: Path
    namespace: str
    pod: str
    name: str
    uid: str = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
    container_id: str = "ab" * 32
    written: list[Written] = field(default_factory=list)
    _rotated: list[Path] = field(default_factory=list)
    _clock: datetime = field(default_factory=lambda: datetime(2024, 5, 1, 12, 0, tzinfo=UTC))

    def __post_init__(self) -> None:
        self.dir = (
            self.root / "var/log/pods" / f"{self.namespace}_{self.pod}_{self.uid}" / self.name
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "0.log"
        self.path.touch()
        links = self.root / "var/log/containers"
        links.mkdir(parents=True, exist_ok=True)
        self.link = links / f"{self.pod}_{self.namespace}_{self.name}-{self.container_id}.log"
        if not self.link.is_symlink():
            self.link.symlink_to(self.path)

    def write(self, messages: Iterable[str], stream: str = "stdout") -> None:
        """Append full (F) CRI lines, one per message, in one write."""
        st = os.stat(self.path)
        offset = st.st_size
        chunks = []
        for text in messages:
            self._clock += timedelta(microseconds=7)
            line = f"{cri_time(self._clock)} {stream} F {text}\n".encode()
            self.written.append(Written(text, st.st_ino, offset))
            offset += len(line)
            chunks.append(line)
        with open(self.path, "ab") as f:
            f.write(b"".join(chunks))

    def rotate(self) -> None:
        """kubelet's rotation: gzip+delete the older rotated file, rename, create anew."""
        for old in self._rotated:
            if old.exists():
                with open(old, "rb") as src, gzip.open(f"{old}.tmp", "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.rename(f"{old}.tmp", f"{old}.gz")
                old.unlink()
        self._rotated = []
        self._clock += timedelta(seconds=1)  # kubelet's stamps are to the second
        stamp = self._clock.strftime("%Y%m%d-%H%M%S")
        rotated = self.dir / f"0.log.{stamp}"
        os.rename(self.path, rotated)
        self._rotated.append(rotated)
        self.path.touch()


def containers(root: Path, n: int, namespace: str = "shop", pod: str = "api") -> list[Container]:
    """`n` single-container pods `<pod>-<i>`, each with its own uid and container id."""
    return [
        Container(
            root,
            namespace,
            f"{pod}-{i}",
            "app",
            uid=f"{i:08x}-1111-4222-8333-444455556666",
            container_id=f"{i:02x}" * 32,
        )
        for i in range(n)
    ]


def once_to_file(root: Path, tmp: Path, env: Mapping[str, str]) -> list[dict]:
    """`run --once` over `root`'s container links into a file; the documents it wrote."""
    out = tmp / "out.ndjson"
    args = ["--once", "--path", str(root / "var/log/containers/*.log")]
    args += ["--state-dir", str(tmp / "state"), "--output", f"file:{out}"]
    result = Agent(args, env).run()
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    return read_documents(out)


def kube_env(kube_url: str, token: Path) -> dict[str, str]:
    """The agent's settings for a test API server whose token is in `token`."""
    return {
        "SHIPPER_KUBE_URL": kube_url,
        "SHIPPER_KUBE_TOKEN_FILE": str(token),
        "NODE_NAME": "node-a",
    }


def read_documents(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Agent:
    """`python -m shipper run` with a controlled environment."""

    def __init__(self, args: list[str], env: Mapping[str, str] | None = None, cwd: Path = REPO):
        self.port = free_port()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPPER_", "FLUENT"))}
        full_env.pop("KUBERNETES_SERVICE_HOST", None)
        full_env.update(
            {
                "SHIPPER_METRICS_ADDR": f"127.0.0.1:{self.port}",
                "SHIPPER_LOG_LEVEL": "info",
                "PYTHONPATH": str(REPO),
                # the machine's own journal and node files are not the tests' business
                "SHIPPER_JOURNAL_UNITS": "",
                "SHIPPER_NODE_LOG_PATHS": "",
            }
        )
        full_env.update(env or {})
        self.args = [sys.executable, "-m", "shipper", "run", *args]
        self.env = full_env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Agent:
        self.proc = subprocess.Popen(
            self.args, env=self.env, cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        return self

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=2)

    def ready(self) -> bool:
        try:
            return self.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 20.0) -> Agent:
        assert self.proc is not None
        wait_for(lambda: self.proc.poll() is not None or self.ready(), timeout, "agent ready")
        if self.proc.poll() is not None:
            _, err = self.proc.communicate()
            raise AssertionError(f"agent exited {self.proc.returncode}: {err.decode()[-2000:]}")
        return self

    def run(self, timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            self.args, env=self.env, cwd=self.cwd, capture_output=True, timeout=timeout
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=10)

    def terminate(self, timeout: float = 30.0) -> tuple[int, bytes]:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err
