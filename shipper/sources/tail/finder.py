"""Finding the files to follow: the globs' matches at their saved positions, and the
rotated copies (plain or gzipped) that still hold records not read yet.

At startup, what kubelet rotated while the agent was away is read from its copies, and
what it deleted before it could be read is counted as lost; while running, a followed
file no glob finds any more (rotated away, deleted) is read to its end from its open
descriptor, and copies rotated next to it that no scan saw are picked up.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from shipper.observe.metrics import Metrics
from shipper.settings import Settings
from shipper.sources.tail.follow import FollowedFile
from shipper.sources.tail.identity import fingerprint_matches
from shipper.sources.tail.positions import Identity, Position, Positions
from shipper.sources.tail.readers import Reader, open_reader
from shipper.sources.tail.rotations import Rotation, live_path, rotations
from shipper.sources.tail.scan import Match, Scanner
from shipper.transforms.enrichment.naming import names_from_path

log = logging.getLogger("shipper.tail")

MTIME_SLACK = 2.0  # file timestamps lag the wall clock by a tick: compare with some slack
OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK  # O_NONBLOCK: a FIFO never blocks us


@dataclass(slots=True)
class _Copy:
    """A rotated copy as `_catch_up` sees it: open (`reader`) unless it is followed already,
    and the saved position it belongs to, if any."""

    path: str
    stat: os.stat_result
    identity: Identity
    reader: Reader | None
    entry: Position | None
    known: bool

    @property
    def mtime(self) -> float:
        return self.stat.st_mtime


class FileFinder:
    """Adds the files to follow to `files` (shared with the tail source, which reads them);
    `on_truncated` restarts a file found shorter than its saved position."""

    def __init__(
        self,
        settings: Settings,
        scanner: Scanner,
        positions: Positions,
        files: dict[Identity, FollowedFile],
        metrics: Metrics,
        on_truncated: Callable[[FollowedFile], None],
    ) -> None:
        self._settings = settings
        self._scanner = scanner
        self._positions = positions
        self._files = files
        self._metrics = metrics
        self._on_truncated = on_truncated
        self._denied: set[str] = set()
        self.files_followed = 0  # files followed since the start (for --once's progress)

    def scan(self, startup: bool, now: float) -> None:
        """Follow new matches, notice the followed files no glob finds any more (at
        startup, also what was rotated while the agent was away)."""
        wall = time.time()
        last_seen = max((entry.seen for entry in self._positions), default=None)
        matches = self._scanner.scan()
        resumed: set[str] = set()  # at startup: live files with a saved position
        for ident, match in matches.items():
            f = self._files.get(ident)
            if f is None:
                if self._follow_match(match, startup, now, wall):
                    resumed.add(match.path)
            else:
                f.entry.path, f.matched = match.path, True
        for ident, f in list(self._files.items()):
            if f.matched and ident not in matches:
                self.lose(f, now)
            f.entry.seen = wall  # still there: a rotated file being drained too
        if startup:
            self._recover(matches.values(), resumed, last_seen, now)
        self._positions.dirty = True  # `seen` times moved

    def _follow_match(self, match: Match, startup: bool, now: float, wall: float) -> bool:
        """Start following a newly matched file at its saved position, or at its start
        (at its end with read_from=tail, for files already there at startup); True when it
        had a saved position."""
        opened = self._open(match.path, compressed=False)
        if opened is None:
            return False
        reader, st = opened
        identity, head = (st.st_dev, st.st_ino), reader.head()
        entry = self._positions.match(identity, head)
        resumed = entry is not None
        if entry is None:
            at_tail = startup and self._settings.read_from == "tail"
            start = st.st_size if at_tail else 0
            entry = Position.begin(identity, head, match.path, match.link, start, wall)
            self._positions.add(entry)
        else:  # its link stays the one it was first found through: its ids depend on it
            entry.path, entry.seen = match.path, wall
        self.add(FollowedFile(reader, st, entry, now))
        return resumed

    def _recover(
        self, matches: Iterable[Match], resumed: set[str], last_seen: float | None, now: float
    ) -> None:
        """At startup: read what kubelet rotated while the agent was away, from plain or
        gzipped copies, and count what it deleted before it could be read. `last_seen`:
        when the agent last saw its files (None: it never ran here)."""
        families: dict[str, str | None] = {}  # live path -> the link its records carry
        for match in matches:
            families[match.path] = match.link
        for entry in self._positions:
            families.setdefault(live_path(entry.path), entry.link)
        first_start = last_seen is None
        since = last_seen  # copies no position leads to are new if written since then
        if first_start:  # a new agent ships each container's history (plain copies only)
            since = 0.0 if self._settings.read_from == "head" else None
        for live, link in families.items():
            newest_known = math.inf if live in resumed else None
            self._catch_up(live, link, newest_known, since, first_start, now)
        self._count_lost()

    def lose(self, f: FollowedFile, now: float) -> None:
        """No glob finds a followed file any more: rotated away or deleted. Keep reading it
        from its fd, and pick up copies rotated next to it that no scan saw (with several
        quick rotations, kubelet may even have gzipped and deleted them already)."""
        f.unmatch(now)
        try:
            current = os.stat(f.path)
            rotated = (current.st_dev, current.st_ino) != f.identity  # a new file took its name
        except OSError:
            rotated = os.fstat(f.reader.fd).st_nlink > 0  # renamed, nothing took its name yet
        if rotated:
            self._metrics.rotations.inc()
        log.info("%s: %s; reading it to its end", "rotated" if rotated else "gone", f.path)
        self._catch_up(live_path(f.path), f.entry.link, None, f.entry.seen, False, now)

    def _catch_up(
        self,
        live: str,
        link: str | None,
        newest_known: float | None,
        since: float | None,
        plain_only: bool,
        now: float,
    ) -> None:
        """Follow the rotated copies of `live` that hold records not yet read, oldest first.

        A copy a saved position leads to (the plain file by identity, a `.gz` by its first
        bytes) resumes at that position, under that position's identity: its records keep
        their ids. A copy nothing leads to is new when it is newer than the newest copy
        known (`newest_known`: inf when the live file itself was known); when no copy is
        known, when it was written since `since` (wall time; None: never). Older unknown
        copies are history, never shipped again.
        """
        copies = [c for c in (self._identify(r) for r in rotations(live)) if c is not None]
        known = [i for i, c in enumerate(copies) if c.known]
        newest = newest_known if newest_known is not None else (known[-1] if known else None)
        for i, copy in enumerate(copies):
            if copy.reader is None:  # already followed
                continue
            if copy.entry is not None:
                follow = copy.entry.offset < copy.reader.stat()[0]
            elif newest is not None:
                follow = i > newest
            else:
                mtime_ok = since is not None and copy.mtime >= since - MTIME_SLACK
                follow = mtime_ok and not (plain_only and copy.reader.compressed)
            if not follow:
                copy.reader.close()
                continue
            entry = copy.entry
            if entry is None:
                head = copy.reader.head()
                entry = Position.begin(copy.identity, head, copy.path, link, 0, time.time())
                self._positions.add(entry)
            entry.path = copy.path
            what = "its compressed copy" if copy.reader.compressed else "it"
            log.info("following %s (rotated away before %s was read to its end)", copy.path, what)
            f = FollowedFile(copy.reader, copy.stat, entry, now)
            f.unmatch(now)
            self.add(f)

    def _identify(self, rotation: Rotation) -> _Copy | None:
        """Open a rotated copy and find the saved position it belongs to, if any; None when
        it cannot be read, or when its plain stage is also there (that one is the copy)."""
        if rotation.compressed and os.path.exists(rotation.path[: -len(".gz")]):
            return None
        if self._scanner.excluded(rotation.path):
            return None
        try:
            st = os.stat(rotation.path)
        except OSError:
            return None
        identity = (st.st_dev, st.st_ino)
        if identity in self._files:
            return _Copy(rotation.path, st, identity, None, None, known=True)
        opened = self._open(rotation.path, rotation.compressed)
        if opened is None:
            return None
        reader, st = opened
        head = reader.head()
        if rotation.compressed:
            entry = self._positions.match_copy(head, os.path.dirname(rotation.path))
        else:
            entry = self._positions.match(identity, head)
        if entry is not None and (entry.drained or self._following(entry)):
            reader.close()
            return _Copy(rotation.path, st, identity, None, None, known=True)
        return _Copy(rotation.path, st, identity, reader, entry, known=entry is not None)

    def _following(self, entry: Position) -> bool:
        """Whether `entry`'s file is followed already (by its own fd: a `.gz` copy found
        while the plain file is still read)."""
        f = self._files.get(entry.identity)
        return f is not None and f.entry is entry

    def _count_lost(self) -> None:
        """Count the saved positions whose file kubelet deleted, with all its copies, before
        it was read to its end: `size - offset` bytes (some may have been delivered and not
        yet acknowledged when the agent stopped). Counted once: the position moves to the end.
        """
        followed = {id(f.entry) for f in self._files.values()}
        for entry in self._positions:
            if entry.offset >= entry.size or id(entry) in followed or _exists(entry):
                continue
            lost = entry.size - entry.offset
            names = names_from_path(entry.path, entry.link)
            log.warning(
                "kubelet deleted %s (namespace %s, pod %s, container %s) and its copies before "
                "it was read to its end: up to %d bytes lost",
                entry.path,
                names.namespace_name,
                names.pod_name,
                names.container_name,
                lost,
            )
            self._metrics.lost_bytes.labels(reason="rotated_away").inc(lost)
            self._positions.commit(entry, entry.size)

    def _open(self, path: str, compressed: bool) -> tuple[Reader, os.stat_result] | None:
        """Open a regular file not already followed; None (logged) when it cannot be."""
        try:
            fd = os.open(path, OPEN_FLAGS)
        except FileNotFoundError:  # gone between the scan and the open
            return None
        except PermissionError as exc:
            if path not in self._denied:
                self._denied.add(path)
                log.warning("cannot read %s: %s", path, exc)
            return None
        except OSError as exc:
            log.warning("cannot open %s: %s", path, exc)
            return None
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) in self._files or not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        try:
            return open_reader(fd, compressed), st
        except OSError as exc:  # a damaged compressed copy
            os.close(fd)
            log.warning("cannot read %s: %s", path, exc)
            return None

    def add(self, f: FollowedFile) -> None:
        if f.entry.offset > f.size and not f.reader.compressed:  # truncated while away
            self._on_truncated(f)
        self._files[f.identity] = f
        self.files_followed += 1


def _exists(entry: Position) -> bool:
    """Whether the file of `entry` is still at its path (only no longer matched)."""
    try:
        with open(entry.path, "rb") as fh:
            st, head = os.fstat(fh.fileno()), fh.read(entry.fingerprint.length)
    except OSError:
        return False
    same = (st.st_dev, st.st_ino) == entry.identity
    return same and fingerprint_matches(head, entry.fingerprint)
