"""A node's container logs, written and rotated the way the runtime and kubelet do it.

Each container appends whole CRI lines to `/var/log/pods/<ns>_<pod>_<uid>/<name>/0.log`
behind a `/var/log/containers/<pod>_<ns>_<name>-<id>.log` link. Kubelet's rotation
(`pkg/kubelet/logs/container_log_manager.go`, see docs/RELIED-ON.md "Rotation"):
remove the oldest rotated files beyond `max_files - 2`, gzip every plain rotated file
(through `<name>.gz.tmp`, renamed to `<name>.gz`, then the plain copy is deleted), rename
`0.log` to `0.log.<YYYYMMDD-hhmmss>` and start a new `0.log`. Nothing here ever loses a
line: where each record ended up is tracked, so a lost record can be traced to its file.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.chaos import records


@dataclass
class Segment:
    """One file of a container: the records from `first` up to the next segment's first."""

    first: int
    name: str  # in the container's directory, without ".gz"
    # Where its records are: in a plain file ("live", "rotated"), in a compressed copy
    # ("gz"), deleted by kubelet as the oldest beyond max_files ("gz_deleted"; a plain
    # "rotated_deleted" only with max_files < 3), removed with the pod ("live_gc", ...).
    fate: str = "live"
    last_write: float = 0.0  # when its last record was written (the run's clock)


class Container:
    """One running (later ended) container of its own pod, writing its numbered records."""

    def __init__(
        self, root: Path, index: int, rng: random.Random, weight: float, record_size: int
    ) -> None:
        self.index = index
        self.record_size = record_size
        self.namespace = f"team-{index % 3}"
        self.pod = f"app-{index}-{rng.randrange(16**5):05x}"
        uid = "-".join(f"{rng.randrange(16**n):0{n}x}" for n in (8, 4, 4, 4, 12))
        self.container_id = f"{rng.randrange(16**64):064x}"
        self.weight = weight  # its share of the node's rate
        self.pod_dir = root / "var/log/pods" / f"{self.namespace}_{self.pod}_{uid}"
        self.dir = self.pod_dir / "app"
        self.dir.mkdir(parents=True)
        self.path = self.dir / "0.log"
        links = root / "var/log/containers"
        links.mkdir(parents=True, exist_ok=True)
        self.link = links / f"{self.pod}_{self.namespace}_app-{self.container_id}.log"
        self.written = 0  # records 0 .. written-1
        self.size = 0  # of the current 0.log
        self.segments = [Segment(0, "0.log")]
        self.running = True
        # records [first, end) whose files are gone, and when the last of them was written
        self.removed: list[tuple[int, int, float]] = []
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.link.symlink_to(self.path)

    def write(self, n: int, stamp: str, now: float) -> None:
        """Append `n` whole records in one write (the runtime writes whole lines)."""
        lines = []
        for seq in range(self.written, self.written + n):
            stream = "stderr" if seq % 7 == 0 else "stdout"
            lines.append(f"{stamp} {stream} F {records.text(self.index, seq, self.record_size)}\n")
        data = "".join(lines).encode()
        written = os.write(self._fd, data)
        assert written == len(data), "a short write to a regular file"
        self.written += n
        self.segments[-1].last_write = now
        self.size += len(data)

    def rotate(self, max_files: int) -> int:
        """kubelet's rotateLog; how many files it compressed."""
        rotated = sorted(
            (s for s in self.segments if s.fate in ("rotated", "gz")), key=lambda s: s.name
        )
        for old in rotated[: max(len(rotated) - max(max_files - 2, 0), 0)]:
            os.unlink(self.dir / (old.name + ".gz" if old.fate == "gz" else old.name))
            self._gone(old, f"{old.fate}_deleted")
        compressed = 0
        for plain in (s for s in self.segments if s.fate == "rotated"):
            source = self.dir / plain.name
            tmp = self.dir / f"{plain.name}.gz.tmp"
            with open(source, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst)
            os.rename(tmp, self.dir / f"{plain.name}.gz")
            os.unlink(source)
            plain.fate = "gz"
            compressed += 1
        name = self._rotated_name()
        os.rename(self.path, self.dir / name)
        self.segments[-1].name, self.segments[-1].fate = name, "rotated"
        # The runtime reopens: a new 0.log; a write between rename and reopen would still
        # land in the renamed file, which is why the reopen comes after the rename.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        os.close(self._fd)
        self._fd = fd
        self.size = 0
        self.segments.append(Segment(self.written, "0.log"))
        return compressed

    def end(self) -> None:
        """The container exited: no more writes, no more rotations (kubelet rotates only
        running containers); its files stay until the pod is garbage-collected."""
        self.running = False
        os.close(self._fd)

    def remove(self) -> None:
        """kubelet's garbage collection: the pod's log directory and the link go."""
        shutil.rmtree(self.pod_dir)
        self.link.unlink()
        for segment in self.segments:
            if not segment.fate.endswith("_deleted"):
                self._gone(segment, f"{segment.fate}_gc")

    def fate_of(self, seq: int) -> str:
        """Where record `seq` is now."""
        found = self.segments[0]
        for segment in self.segments:
            if segment.first > seq:
                break
            found = segment
        return found.fate

    def _gone(self, segment: Segment, fate: str) -> None:
        segment.fate = fate
        following = self.segments.index(segment) + 1
        end = self.segments[following].first if following < len(self.segments) else self.written
        self.removed.append((segment.first, end, segment.last_write))

    def _rotated_name(self) -> str:
        """`0.log.<YYYYMMDD-hhmmss>` in local time; a second later if that name was taken
        (two checks within one second), so names stay unique and sort oldest first."""
        moment = time.time()
        taken = {s.name for s in self.segments}
        while True:
            name = "0.log." + time.strftime("%Y%m%d-%H%M%S", time.localtime(moment))
            if name not in taken:
                return name
            moment += 1.0


class Node:
    """The containers of one node: writes at a total rate, rotation checks, churn and GC."""

    def __init__(
        self,
        root: Path,
        containers: int,
        rng: random.Random,
        weights: tuple[float, float],
        record_size: int,
    ) -> None:
        self.root = root
        self._record_size = record_size
        self._rng = rng
        self._weights = weights
        self.containers: dict[int, Container] = {}
        self._owed: dict[int, float] = {}
        self.rotations = 0
        self.compressed = 0
        for _ in range(containers):
            self.start_pod()

    @property
    def written_total(self) -> int:
        return sum(c.written for c in self.containers.values())

    def running(self) -> list[Container]:
        return [c for c in self.containers.values() if c.running]

    def start_pod(self) -> Container:
        weight = self._rng.uniform(*self._weights)
        c = Container(self.root, len(self.containers), self._rng, weight, self._record_size)
        self.containers[c.index] = c
        self._owed[c.index] = 0.0
        return c

    def write(self, n: int, now: float) -> None:
        """Write `n` records, shared among the running containers by their weights; `now`
        is the run's clock."""
        running = self.running()
        total = sum(c.weight for c in running)
        if n <= 0 or not running:
            return
        stamp = _cri_time(datetime.now(UTC))
        for c in running:
            self._owed[c.index] += n * c.weight / total
            due = int(self._owed[c.index])
            if due:
                self._owed[c.index] -= due
                c.write(due, stamp, now)

    def check_rotation(self, rotate_bytes: int, max_files: int) -> None:
        """One pass of kubelet's log monitor: rotate every running container over the size."""
        for c in self.running():
            if c.size >= rotate_bytes:
                self.compressed += c.rotate(max_files)
                self.rotations += 1

    def churn(self, slot: int) -> Container:
        """One pod ends (picked by `slot`) and a new one starts; the ended one is returned."""
        running = self.running()
        ended = running[slot % len(running)]
        ended.end()
        self.start_pod()
        return ended

    def take_removed(self) -> list[tuple[int, int, int, float]]:
        """(container, first, end, last written) of the records whose files were removed
        since the last call: from then on, what was not read is gone for any agent."""
        removed = [(c.index, *span) for c in self.containers.values() for span in c.removed]
        for c in self.containers.values():
            c.removed.clear()
        return removed

    def close(self) -> None:
        for c in self.running():
            c.end()


def _cri_time(moment: datetime) -> str:
    """RFC3339Nano as containerd writes it (nanoseconds, trailing zeros trimmed)."""
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"
