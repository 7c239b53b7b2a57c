"""One followed file: an fd kept open across renames and deletion, its read position,
its consumer, and the state that decides when it may be let go.

The fd, not the path, is what is read: a file renamed by a rotation (once or several
times) or deleted keeps being read from it until it is drained. Its identity is fixed at
open, so it can never be confused with whatever later takes its name or its inode. A file
resumed from kubelet's `.gz` copy is read through a decompressing reader, under the
identity and offsets of the plain file it was made from.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from functools import partial

from shipper.record import AckTracker
from shipper.sources.tail.consumer import Consumer, FileConsumer, FileInfo
from shipper.sources.tail.identity import (
    FINGERPRINT_BYTES,
    Fingerprint,
    file_key,
    fingerprint_matches,
)
from shipper.sources.tail.positions import Identity, Position, Positions
from shipper.sources.tail.readers import Reader


class FollowedFile:
    """A file being read. `matched` turns False once no glob finds it any more (rotated
    away, deleted); it is then let go once drained and quiet for `rotate_wait`."""

    def __init__(self, reader: Reader, st: os.stat_result, entry: Position, now: float) -> None:
        self.reader = reader
        self.identity: Identity = (st.st_dev, st.st_ino)  # of the file open (a copy's own)
        self.entry = entry
        self.offset = entry.offset  # next byte to read; the entry holds the committed offset
        self.size, self.deleted = reader.stat()
        self.matched = True
        self.quiet_since = now  # last growth, or the moment it stopped being matched
        self.consumer: FileConsumer | None = None
        self._previous_key: str | None = None  # the key of content a truncation replaced
        # The fingerprint last checked and the bytes that matched it: while the file
        # starts with the same bytes, the check needs no hash.
        self._checked: tuple[Fingerprint, bytes] | None = None

    @property
    def path(self) -> str:
        return self.entry.path

    @property
    def unread(self) -> int:
        """Bytes on disk not yet read, as of the last `refresh`."""
        return max(self.size - self.offset, 0)

    def refresh(self, now: float) -> bool:
        """Re-read size and link count (one fstat); True when the file was truncated.

        A truncated file written past the old offset before this look (copytruncate, then a
        burst) is no shorter: when the size changed, its first bytes tell (one small pread).
        """
        size, self.deleted = self.reader.stat()
        if size > self.size:
            self.quiet_since = now
        changed, self.size = size != self.size, size
        if size < self.offset:
            return True
        return changed and not self.reader.compressed and not self._same_start()

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
        if self.consumer is not None:
            return True
        if self.entry.key is None:
            head = self.reader.head()
            key = file_key(*self.entry.identity, head, final=final, previous=self._previous_key)
            if key is None:
                return False
            self.entry.key = key
            positions.dirty = True
        tracker = AckTracker(self.offset, partial(positions.commit, self.entry), release)
        info = FileInfo(self.path, self.entry.link, self.entry.key)
        self.consumer = consumer.open(info, tracker)
        return True

    def read(self, n: int) -> int:
        """Read up to `n` bytes at the read position and feed them; how many were read."""
        data = self.reader.read(n, self.offset)
        if data:
            assert self.consumer is not None, "read before open_consumer"
            self.consumer.feed(data, self.offset)
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
        head = self.reader.head()
        fresh = Position.begin(self.identity, head, old.path, old.link, 0, old.seen)
        self.entry = positions.add(fresh)
        self.offset = 0

    def upgrade_fingerprint(self) -> None:
        """Lengthen a short file's fingerprint as it grows (up to FINGERPRINT_BYTES), and
        note its size (what a deletion would take unread is measured against it)."""
        if self.entry.fingerprint.length < min(self.size, FINGERPRINT_BYTES):
            self.entry.fingerprint = Fingerprint.of(self.reader.head())
        self.entry.size = max(self.size, self.entry.offset)

    def _same_start(self) -> bool:
        """Whether the file still starts with the bytes its fingerprint was taken from (a
        busy file is checked at every look: the bytes found last time spare a hash)."""
        fingerprint = self.entry.fingerprint
        head = self.reader.head(fingerprint.length)
        checked = self._checked
        if checked is not None and checked[0] is fingerprint and checked[1] == head:
            return True
        if not fingerprint_matches(head, fingerprint):
            return False
        self._checked = (fingerprint, head)
        return True

    def finish(self) -> None:
        """Tell the consumer no more bytes of this content will come."""
        if self.consumer is not None:
            self.consumer.finish()
            self.consumer = None

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
            self.reader.close()
