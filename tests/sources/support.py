"""Test doubles for the tail source: a consumer that records what it is fed, a harness
that runs a TailSource in the background, and kubelet's on-disk layout."""

from __future__ import annotations

import asyncio
import gzip
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from shipper.budget import ByteBudget
from shipper.observe.metrics import Metrics
from shipper.record import AckTracker, Ticket
from shipper.settings import Settings
from shipper.sources.tail.consumer import FileInfo
from shipper.sources.tail.source import TailSource


async def until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.01)


class RecordedFile:
    """What one `Consumer.open` received: the bytes fed (checked contiguous) and tickets."""

    def __init__(self, info: FileInfo, tracker: AckTracker, owner: RecordingConsumer) -> None:
        self.info = info
        self.tracker = tracker
        self.start: int | None = None
        self.data = bytearray()
        self.finished = False
        self._owner = owner

    @property
    def end(self) -> int:
        return (self.start or 0) + len(self.data)

    def feed(self, data: bytes, start: int) -> None:
        assert not self.finished, f"feed after finish: {self.info.path}"
        assert data, "empty feed"
        if self.start is None:
            self.start = start
        assert start == self.end, f"{self.info.path}: fed at {start}, expected {self.end}"
        self.data += data
        self._owner.feeds.append((self.info.path, len(data)))
        ticket = self.tracker.issue(1, start + len(data), len(data))
        if self._owner.hold:
            self._owner.pending.append(ticket)
        else:
            ticket.ack()

    def flush_idle(self, now: float) -> None:
        pass

    def finish(self) -> None:
        assert not self.finished, f"finished twice: {self.info.path}"
        self.finished = True

    def restart(self) -> None:
        raise AssertionError("the source opens a new consumer on truncation")


class RecordingConsumer:
    """Records every file opened and every byte fed; acks at once unless `hold` is set."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.files: list[RecordedFile] = []
        self.pending: list[Ticket] = []
        self.feeds: list[tuple[str, int]] = []  # (path, nbytes) in feed order
        self.caught_up_at: list[int] = []  # bytes fed so far, at each `caught_up`

    def open(self, file: FileInfo, tracker: AckTracker) -> RecordedFile:
        recorded = RecordedFile(file, tracker, self)
        self.files.append(recorded)
        return recorded

    def caught_up(self) -> None:
        self.caught_up_at.append(self.total)

    def ack(self, count: int | None = None) -> None:
        """Acknowledge the oldest `count` held tickets (all by default)."""
        count = len(self.pending) if count is None else count
        for ticket in self.pending[:count]:
            ticket.ack()
        del self.pending[:count]

    def release(self) -> None:
        """Stop holding: ack what is held and everything from now on."""
        self.hold = False
        self.ack()

    def opened(self, path: str | Path) -> list[RecordedFile]:
        return [f for f in self.files if f.info.path == str(path)]

    def fed(self, path: str | Path) -> bytes:
        """Everything fed for the real file `path`, over all its consumers."""
        return b"".join(bytes(f.data) for f in self.opened(path))

    @property
    def total(self) -> int:
        return sum(len(f.data) for f in self.files)

    def all_data(self) -> bytes:
        return b"".join(bytes(f.data) for f in self.files)


class Tail:
    """A TailSource on real files, run in the background; `close()` stops it."""

    def __init__(
        self, settings: Settings, consumer: RecordingConsumer, budget: int = 16 << 20
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.budget = ByteBudget(budget)
        self.metrics = Metrics()
        self.source = TailSource(settings, consumer, self.budget, self.metrics)
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> Tail:
        self.task = asyncio.create_task(self.source.run(self.stop))
        await until(lambda: self.source.started or self.task.done(), what="first scan")
        return self

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)

    def metric(self, name: str) -> float:
        value = self.metrics.registry.get_sample_value(name)
        return 0.0 if value is None else value

    def saved(self) -> list[dict[str, Any]]:
        """The positions file as last written (none before the first save: it is written
        off the event loop, so a test may look before it is in place)."""
        try:
            with open(self.settings.positions_path, "rb") as fh:
                files: list[dict[str, Any]] = orjson.loads(fh.read())["files"]
        except FileNotFoundError:
            return []
        return files

    def saved_offset(self, path: str | Path) -> int | None:
        st = os.stat(path)
        for item in self.saved():
            if (item["dev"], item["ino"]) == (st.st_dev, st.st_ino):
                return int(item["offset"])
        return None


class TailFactory:
    """Builds Tails on one directory tree; every Tail started is closed at teardown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir()
        self.state_dir = root / "state"
        self.base = Settings(
            paths=(str(self.logs / "*.log"),),
            state_dir=str(self.state_dir),
            rotate_wait=0.3,
            scan_interval=0.5,
        )
        self.started: list[Tail] = []

    async def start(
        self, consumer: RecordingConsumer | None = None, budget: int = 16 << 20, **settings: Any
    ) -> Tail:
        tail = Tail(replace(self.base, **settings), consumer or RecordingConsumer(), budget)
        self.started.append(tail)
        return await tail.start()

    async def close_all(self) -> None:
        for tail in self.started:
            await tail.close()


def lines(prefix: str, first: int, count: int, width: int = 40) -> bytes:
    """`count` distinct newline-terminated lines, numbered from `first`."""
    return b"".join(
        f"{prefix} {i:08d} ".ljust(width, "x").encode() + b"\n" for i in range(first, first + count)
    )


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


class Kubelet:
    """kubelet's layout: /var/log/pods/<ns>_<pod>_<uid>/<container>/0.log and the
    /var/log/containers/<pod>_<ns>_<container>-<id>.log link to it; rotation as kubelet does."""

    def __init__(self, root: Path) -> None:
        self.pods = root / "pods"
        self.containers = root / "containers"
        self.pods.mkdir()
        self.containers.mkdir()

    def container(self, namespace: str, pod: str, container: str = "app") -> tuple[Path, Path]:
        """Create a container's empty `0.log` and its link; returns (real, link)."""
        directory = self.pods / f"{namespace}_{pod}_uid-{pod}" / container
        directory.mkdir(parents=True)
        real = directory / "0.log"
        real.touch()
        link = self.containers / f"{pod}_{namespace}_{container}-{'ab' * 32}.log"
        link.symlink_to(real)
        return real, link

    @staticmethod
    def rotate(real: Path, stamp: str) -> Path:
        """Gzip-and-delete older rotations, rename `0.log` to `0.log.<stamp>`, create a new one."""
        for older in real.parent.glob(real.name + ".*"):
            if not older.name.endswith((".gz", ".tmp")):
                Kubelet.compress(older)
        rotated = real.with_name(f"{real.name}.{stamp}")
        real.rename(rotated)
        real.touch()
        return rotated

    @staticmethod
    def compress(rotated: Path) -> Path:
        """kubelet's compressLog: gzip into `<copy>.tmp`, rename it to `<copy>.gz`, delete
        the plain copy."""
        tmp = rotated.with_name(rotated.name + ".tmp")
        tmp.write_bytes(gzip.compress(rotated.read_bytes()))
        compressed = rotated.with_name(rotated.name + ".gz")
        tmp.rename(compressed)
        rotated.unlink()
        return compressed
