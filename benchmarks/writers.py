"""Live containers for the latency and fairness scenarios: CRI lines stamped as written.

A line's CRI time is the moment it is written, so the endpoint's arrival time minus
the document's `@timestamp` is the delivery delay the agent added.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from pathlib import Path

_FILLER = (
    "GET /api/v1/orders status=200 latency=12ms upstream=ledger:8080 cache=miss shard=7 "
    "region=eu-west-1 user=4242 bytes=5120 worker=thread-3 retry=0 queued=2 accepted done "
) * 4
_TICK = 0.01  # seconds between writes: 100 lines a write at 10,000 a second


def make_container(root: Path, pod: str, namespace: str = "bench", name: str = "app") -> Path:
    """An empty kubelet-style log file under `root/var/log/pods`, linked from `containers/`."""
    digest = hashlib.sha256(f"{namespace}/{pod}/{name}".encode()).hexdigest()
    uid = f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"
    relative = Path("pods", f"{namespace}_{pod}_{uid}", name, "0.log")
    path = root / "var/log" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    link = root / "var/log/containers" / f"{pod}_{namespace}_{name}-{digest}.log"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(Path("..") / relative)
    return path


def links(root: Path) -> str:
    """The glob of a tree's `containers/` links, as the agent is given it on a node."""
    return f"{root}/var/log/containers/*.log"


def cri_time(ns: int) -> str:
    """RFC 3339 with nanoseconds, UTC, as the runtimes write it."""
    seconds, fraction = divmod(ns, 10**9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


class PacedWriter:
    """Appends CRI lines of 80-300 bytes at `rate` a second, round robin over `files`.

    Runs in its own thread from `start` until `stop`; every line carries `marker`
    so the endpoint can tell them from other documents.
    """

    def __init__(self, files: list[Path], rate: float, marker: str, seed: int = 1) -> None:
        self._files = files
        self._rate = rate
        self._marker = marker
        self._rng = random.Random(seed)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paced-writer", daemon=True)
        self.written = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> int:
        """Stop writing; the number of lines written."""
        self._stopped.set()
        self._thread.join()
        return self.written

    def _run(self) -> None:
        fds = [os.open(path, os.O_WRONLY | os.O_APPEND) for path in self._files]
        try:
            started = time.monotonic()
            while not self._stopped.wait(_TICK):
                due = int((time.monotonic() - started) * self._rate) - self.written
                if due > 0:
                    self._write(fds, due)
        finally:
            for fd in fds:
                os.close(fd)

    def _write(self, fds: list[int], count: int) -> None:
        """`count` lines, all stamped now, spread over the files in one write each."""
        stamp = cri_time(time.time_ns())
        per_file: list[list[str]] = [[] for _ in fds]
        rng = self._rng
        for n in range(self.written, self.written + count):
            head = f"{stamp} stdout F {self._marker} seq={n} "
            fill = 80 + int(rng.random() * 221) - len(head) - 1
            per_file[n % len(fds)].append(head + _FILLER[: max(0, fill)] + "\n")
        for fd, lines in zip(fds, per_file, strict=True):
            if lines:
                os.write(fd, "".join(lines).encode())
        self.written += count
