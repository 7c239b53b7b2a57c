"""What the tail source hands its bytes to (the pipeline implements it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shipper.record import AckTracker


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A followed file as the pipeline needs to know it."""

    path: str  # the real file read (normally under /var/log/pods), symlinks resolved
    link: str | None  # the /var/log/containers link it was found through, if any
    key: str  # its identity as text (device, inode, fingerprint): stable across renames


class FileConsumer(Protocol):
    """Receives one file's bytes in order and issues tickets for them on its tracker."""

    def feed(self, data: bytes, start: int) -> None:
        """Bytes `[start, start + len(data))` of the file.

        Each feed leads to one `tracker.issue` (with `nbytes=len(data)`, so the budget is
        released on acknowledgement), in feed order — possibly later than the call, while
        the pod's metadata is awaited for a bounded time.
        """

    def flush_idle(self, now: float) -> None:
        """Give the decoder a chance to emit partial groups that waited too long."""

    def finish(self) -> None:
        """The file is let go (rotated away and drained, deleted, end of --once)."""


class Consumer(Protocol):
    def open(self, file: FileInfo, tracker: AckTracker) -> FileConsumer:
        """Start consuming a newly followed file whose acknowledgements go to `tracker`."""

    def caught_up(self) -> None:
        """A backlog just ran out: everything written so far has been fed."""
