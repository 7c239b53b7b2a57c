"""One followed file: an fd kept open across renames and deletion, its read position,
its consumer, and the state that decides when it may be let go.

The fd, not the path, is what is read: a file renamed by a rotation (once or several
times) or deleted keeps being read from it until it is drained. Its identity is fixed at
open, so it can never be confused with whatever later takes its name or its inode.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from functools import partial

from shipper.record import AckTracker
from shipper.sources.tail.consumer import Consumer, FileConsumer, FileInfo
from shipper.sources.tail.identity import FINGERPRINT_BYTES, file_key, fingerprint, read_head
from shipper.sources.tail.positions import Identity, Position, Positions


class FollowedFile:
    """A file being read. `matched` turns False once no glob finds it any more (rotated
    away, deleted); it is then let go once drained and quiet for `rotate_wait`."""

    def __init__(self, fd: int, st: os.stat_result, entry: Position, now: float) -> None:
        self.fd = fd
        self.identity: Identity = (st.st_dev, st.st_ino)
        self.entry = entry
        self.offset = entry.offset  # next byte to read; the entry holds the committed offset
        self.size = st.st_size
        self.deleted = st.st_nlink == 0
        self.matched = True
        self.quiet_since = now  # last growth, or the moment it stopped being matched
        self.file: FileConsumer | None = None
        self._previous_key: str | None = None  # the key of content a truncation replaced

    @property
    def path(self) -> str:
        return self.entry.path

    @property
    def unread(self) -> int:
        """Bytes on disk not yet read, as of the last `refresh`."""
        return max(self.size - self.offset, 0)

    def refresh(self, now: float) -> bool:
        """Re-read size and link count (one fstat); True when the file was truncated."""
        st = os.fstat(self.fd)
        if st.st_size > self.size:
            self.quiet_since = now
        self.size = st.st_size
        self.deleted = st.st_nlink == 0
        return st.st_size < self.offset

    def unmatch(self, now: float) -> None:
        """No glob finds it any more: the countdown to letting it go starts now."""
        self.matched = False
        self.quiet_since = max(self.quiet_since, now)

    def releasable(self, now: float, rotate_wait: float) -> bool:
        """Unmatched, read to its end (every byte read was fed), and quiet for `rotate_wait`."""
        return not self.matched and self.unread == 0 and now - self.quiet_since >= rotate_wait

    def open_consumer(
        self,
        consumer: Consumer,
        positions: Positions,
        release: Callable[[int], None],
        final: bool,
    ) -> bool:
        """Hand the file to the consumer once its key can be known; False until then.

        `final`: the file will not grow (rotated away, or --once), so an incomplete first
        line is taken as it is.
        """
        if self.file is not None:
            return True
        if self.entry.key is None:
            head = read_head(self.fd)
            key = file_key(*self.identity, head, final=final, previous=self._previous_key)
            if key is None:
                return False
            self.entry.key = key
            positions.dirty = True
        tracker = AckTracker(self.offset, partial(positions.commit, self.entry), release)
        info = FileInfo(self.path, self.entry.link, self.entry.key)
        self.file = consumer.open(info, tracker)
        return True

    def read(self, n: int) -> int:
        """Read up to `n` bytes at the read position and feed them; how many were read."""
        data = os.pread(self.fd, n, self.offset)
        if data:
            assert self.file is not None, "read before open_consumer"
            self.file.feed(data, self.offset)
            self.offset += len(data)
        return len(data)

    def restart(self, positions: Positions) -> None:
        """Truncated: finish the old content; the new content is a new file read from 0.

        A new consumer (with a new key), so the new content's record ids never collide
        with the old content's at the same offsets.
        """
        self._previous_key = self.entry.key
        self.finish()
        old = self.entry
        fresh = Position.begin(self.fd, os.fstat(self.fd), old.path, old.link, 0, old.seen)
        self.entry = positions.add(fresh)
        self.offset = 0

    def upgrade_fingerprint(self) -> None:
        """Lengthen a short file's fingerprint as it grows (up to FINGERPRINT_BYTES)."""
        if self.entry.fingerprint.length < min(self.size, FINGERPRINT_BYTES):
            self.entry.fingerprint = fingerprint(self.fd)

    def finish(self) -> None:
        """Tell the consumer no more bytes of this content will come."""
        if self.file is not None:
            self.file.finish()
            self.file = None

    def close(self, finish: bool = True) -> None:
        """Let the file go: finish its consumer (unless the agent is stopping) and close it.

        The fingerprint is completed first: acknowledgements may still move this entry's
        offset after the fd is gone, and an offset must never outgrow its fingerprint (a
        new file on the reused inode would otherwise inherit it).
        """
        try:
            with contextlib.suppress(OSError):  # best effort: the fd may be failing already
                self.upgrade_fingerprint()
            if finish:
                self.finish()
        finally:
            os.close(self.fd)
