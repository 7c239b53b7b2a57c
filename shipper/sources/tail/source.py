"""The tail source: finds the matched files, reads them fairly, follows their rotations,
and hands their bytes to the pipeline; positions move only as acknowledgements come back.

One loop does everything, in rounds: each round `fstat`s every followed file and reads up
to `ROUND_BYTES` from each one with unread bytes (so a flooding file cannot starve the
others), then does the housekeeping (rescans, letting drained files go, idle flushes,
saving positions). When nothing has data it waits for a file-system event or a short
timeout. Reading takes from the shared byte budget first; when the budget is spent,
reading pauses and the files on disk are the buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from shipper.blocking import BlockingThread
from shipper.budget import ByteBudget
from shipper.observe.metrics import Metrics
from shipper.settings import Settings
from shipper.sources.tail.consumer import Consumer
from shipper.sources.tail.follow import FollowedFile
from shipper.sources.tail.identity import fingerprint_matches
from shipper.sources.tail.positions import Identity, Position, Positions
from shipper.sources.tail.readers import Reader, open_reader
from shipper.sources.tail.rotations import Rotation, live_path, rotations
from shipper.sources.tail.scan import Match, Scanner
from shipper.sources.tail.watch import Watcher
from shipper.transforms.naming import names_from_path

log = logging.getLogger("shipper.tail")

READ_CHUNK = 256 * 1024  # one pread
ROUND_BYTES = 1024 * 1024  # per file per round: fairness between files
IDLE_WAIT = 0.2  # nothing to read (or no budget): wait at most this long before the next round
POLL_SCAN_INTERVAL = 1.0  # rescan interval when file-system events are unavailable
SAVE_INTERVAL = 1.0  # positions are saved this often while they change
FLUSH_INTERVAL = 0.25  # how often consumers may flush partial groups that waited too long
KEY_SETTLE = 5.0  # a first line still unterminated after this long is keyed as it is
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


class TailSource:
    """Follows the files matched by `settings.paths` and feeds them to `consumer`."""

    def __init__(
        self,
        settings: Settings,
        consumer: Consumer,
        budget: ByteBudget,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._consumer = consumer
        self._budget = budget
        self._metrics = metrics
        self._clock = clock
        self._positions = Positions(settings.positions_path)
        self._writer = BlockingThread("positions")  # writes and fsyncs off the event loop
        self._scanner = Scanner(settings)
        self._watcher = Watcher(self._on_file_event)
        self._files: dict[Identity, FollowedFile] = {}
        self._wake = asyncio.Event()
        self._rescan = True
        self._next_scan = 0.0
        self._next_flush = 0.0
        self._last_save = 0.0
        self._denied: set[str] = set()
        self._started = False
        self._behind = False  # a round left bytes unread: a backlog is being read
        self.files_followed = 0  # files followed since the start (for --once's progress)

    @property
    def started(self) -> bool:
        """True once the first scan is done (for /readyz)."""
        return self._started

    @property
    def files_open(self) -> int:
        """Files open now (what the shipper_files_watched gauge shows)."""
        return len(self._files)

    @property
    def lag_bytes(self) -> int:
        """Bytes written to the followed files and not yet read, as of the last round."""
        return sum(f.unread for f in list(self._files.values()))  # a copy: read at scrape time

    async def run(self, stop: asyncio.Event) -> None:
        """Follow files until `stop` is set (with `settings.once`: until every matched file
        is read to its end); then close every file and save positions.

        When --once has read everything, every consumer is finished (an unterminated last
        line is flushed as it is). On a stop they are not: a line still being written must
        not be cut in two; its start stays uncommitted and the next run reads it whole.
        """
        self._positions.load()  # before the try: never overwrite a file we could not read
        wake_on_stop = asyncio.create_task(self._wake_on(stop), name="tail-stop")
        read_all = False
        try:
            await self._scan(startup=True)
            self._started = True
            while not stop.is_set():
                if not self._settings.once and (self._rescan or self._clock() >= self._next_scan):
                    await self._scan(startup=False)
                idle = await self._read_round(stop)
                now = self._clock()
                self._release_drained(now)
                self._flush_idle(now)
                if self._positions.dirty and now - self._last_save >= SAVE_INTERVAL:
                    await self.save_positions()
                if idle:
                    if self._behind:  # the tail of a backlog need not wait for more
                        self._behind = False
                        self._consumer.caught_up()
                    if self._settings.once:
                        read_all = True
                        break
                    await self._wait_idle(stop)
        finally:
            wake_on_stop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await wake_on_stop
            await self._watcher.close()
            self._close_all(finish=read_all)
            await self.save_positions()

    async def save_positions(self) -> None:
        """Write the committed offsets atomically, off the event loop (a failure is logged,
        and retried later)."""
        try:
            for f in self._files.values():
                f.upgrade_fingerprint()
            data = self._positions.snapshot(time.time(), self._files.keys())
            await self._writer.run(self._positions.write, data)
        except OSError as exc:
            self._positions.dirty = True
            log.warning("cannot save positions to %s: %s", self._positions.path, exc)
        self._last_save = self._clock()

    # --- finding files

    async def _scan(self, startup: bool) -> None:
        """Follow new matches, notice the followed files no glob finds any more."""
        now, wall = self._clock(), time.time()
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
                self._lose(f, now)
            f.entry.seen = wall  # still there: a rotated file being drained too
        if startup:
            self._recover(matches.values(), resumed, last_seen, now)
        self._positions.dirty = True  # `seen` times moved
        self._metrics.files_watched.set(len(self._files))
        if not self._settings.once:
            roots = self._scanner.watch_roots(f.path for f in self._files.values())
            await self._watcher.watch(roots)
        interval = POLL_SCAN_INTERVAL if self._watcher.polling else self._settings.scan_interval
        self._next_scan = now + interval
        self._rescan = False

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
        self._add(FollowedFile(reader, st, entry, now))
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

    def _lose(self, f: FollowedFile, now: float) -> None:
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
            self._add(f)

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

    def _add(self, f: FollowedFile) -> None:
        if f.entry.offset > f.size and not f.reader.compressed:  # truncated while away
            self._restart(f)
        self._files[f.identity] = f
        self.files_followed += 1

    def _on_file_event(self) -> None:
        self._rescan = True
        self._wake.set()

    # --- reading

    async def _read_round(self, stop: asyncio.Event) -> bool:
        """fstat every file, then read each one with unread bytes, up to ROUND_BYTES each;
        True when none had any. Sizes are refreshed even when the budget is spent, so the
        lag stays true while reading pauses."""
        now = self._clock()
        files = [f for f in list(self._files.values()) if self._refresh(f, now)]
        idle = True
        served: list[FollowedFile] = []
        for f in files:
            if stop.is_set():
                return False
            if f.identity not in self._files:  # dropped on a read error
                continue
            final = self._settings.once or not f.matched or now - f.quiet_since >= KEY_SETTLE
            if f.unread and f.open_consumer(
                self._consumer, self._positions, self._budget.release, final
            ):
                idle = False
                got, paused = await self._read_file(f)
                self._behind = self._behind or paused or f.unread > 0
                if paused:  # the files served go last next round, so none is favoured
                    self._rotate_order([*served, f] if got else served)
                    return False
            served.append(f)
        return idle

    async def _read_file(self, f: FollowedFile) -> tuple[int, bool]:
        """Read up to ROUND_BYTES of `f`: (bytes read, whether the budget stayed spent)."""
        total = 0
        while total < ROUND_BYTES and f.unread:
            n = min(READ_CHUNK, ROUND_BYTES - total, f.unread, self._budget.limit)
            if not await self._acquire(n):
                return total, True
            try:
                got = f.read(n)
            except OSError as exc:
                self._budget.release(n)
                self._drop(f, exc)
                break
            self._budget.release(n - got)
            if not got:
                break
            self._metrics.read_bytes.inc(got)
            if f.reader.compressed:
                self._metrics.compressed_read_bytes.inc(got)
            total += got
        return total, False

    async def _acquire(self, n: int) -> bool:
        """Take `n` bytes of budget, waiting at most IDLE_WAIT (so housekeeping goes on)."""
        if self._budget.try_acquire(n):
            return True
        try:
            await asyncio.wait_for(self._budget.acquire(n), IDLE_WAIT)
        except TimeoutError:
            return False
        return True

    def _rotate_order(self, served: list[FollowedFile]) -> None:
        """The budget ran out mid-round: the files already served go last next round."""
        for f in served:
            if f.identity in self._files:
                self._files[f.identity] = self._files.pop(f.identity)

    def _refresh(self, f: FollowedFile, now: float) -> bool:
        """fstat one file: notice truncation and deletion; False if it had to be dropped."""
        try:
            truncated = f.refresh(now)
        except OSError as exc:
            self._drop(f, exc)
            return False
        if truncated:
            self._restart(f)
        if f.deleted and f.matched:
            self._lose(f, now)
        return True

    def _restart(self, f: FollowedFile) -> None:
        self._metrics.truncations.inc()
        log.info("truncated: %s; reading it again from its start", f.path)
        f.restart(self._positions)

    def _drop(self, f: FollowedFile, exc: OSError) -> None:
        """An I/O error: let the file go, unfinished (a later scan resumes it from its saved
        position, and a line cut here would take the id of the whole line read then)."""
        log.warning("reading %s failed: %s", f.path, exc)
        del self._files[f.identity]
        f.close(finish=False)

    # --- housekeeping

    def _release_drained(self, now: float) -> None:
        """Let go the unmatched files that are read to their end and quiet for rotate_wait."""
        wait = self._settings.rotate_wait
        released = False
        for f in list(self._files.values()):
            if f.releasable(now, wait) and self._refresh(f, now) and f.releasable(now, wait):
                log.info("let go: %s", f.path)
                del self._files[f.identity]
                f.entry.drained = True  # read to its end: never resumed in this run
                f.close()
                released = True
        if released:
            self._metrics.files_watched.set(len(self._files))

    def _flush_idle(self, now: float) -> None:
        if now < self._next_flush:
            return
        self._next_flush = now + FLUSH_INTERVAL
        for f in self._files.values():
            if f.consumer is not None:
                f.consumer.flush_idle(now)

    async def _wait_idle(self, stop: asyncio.Event) -> None:
        """Nothing to read: wait for a file event, `stop`, or IDLE_WAIT (growth is polled)."""
        if self._rescan or stop.is_set():
            return
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), IDLE_WAIT)

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    def _close_all(self, finish: bool) -> None:
        files, self._files = list(self._files.values()), {}
        for f in files:
            f.close(finish)
        self._metrics.files_watched.set(0)


def _exists(entry: Position) -> bool:
    """Whether the file of `entry` is still at its path (only no longer matched)."""
    try:
        with open(entry.path, "rb") as fh:
            st, head = os.fstat(fh.fileno()), fh.read(entry.fingerprint.length)
    except OSError:
        return False
    same = (st.st_dev, st.st_ino) == entry.identity
    return same and fingerprint_matches(head, entry.fingerprint)
