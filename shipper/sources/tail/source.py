"""The tail source: reads the files it follows fairly (`finder` finds them and their
rotated copies), and hands their bytes to the pipeline; positions move only as
acknowledgements come back.

One loop does everything, in rounds: each round `fstat`s the followed files (quiet ones
less often: `polling`) and reads up to `ROUND_BYTES` from each with unread bytes, so a
flood cannot starve the others (trickles are read together: `pacing`); then housekeeping
(rescans, drained files let go, idle flushes, positions saved). Reading takes from the
shared byte budget; when it is spent, reading pauses and the files on disk are the buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable

from shipper.blocking import BlockingThread
from shipper.budget import ByteBudget
from shipper.observe.metrics import Metrics
from shipper.settings import TailSettings
from shipper.sources.tail.consumer import Consumer
from shipper.sources.tail.finder import FileFinder
from shipper.sources.tail.follow import FollowedFile
from shipper.sources.tail.pacing import ReadPacing
from shipper.sources.tail.polling import IDLE_WAIT, PollSchedule
from shipper.sources.tail.positions import Identity, Positions
from shipper.sources.tail.scan import Scanner
from shipper.sources.tail.watch import Watcher

log = logging.getLogger("shipper.tail")

READ_CHUNK = 256 * 1024  # one pread
ROUND_BYTES = 1024 * 1024  # per file per round: fairness between files
POLL_SCAN_INTERVAL = 1.0  # rescan interval when file-system events are unavailable
SAVE_INTERVAL = 1.0  # positions are saved this often while they change
KEY_SETTLE = 5.0  # a first line still unterminated after this long is keyed as it is


class TailSource:
    """Follows the files matched by `settings.paths` and feeds them to `consumer`."""

    def __init__(
        self,
        settings: TailSettings,
        consumer: Consumer,
        budget: ByteBudget,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        once: bool = False,  # every matched file read to its end, then stop
    ) -> None:
        self._settings, self._once = settings, once
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
        self._rescan, self._next_scan = True, 0.0
        self._polls, self._pacing = PollSchedule(), ReadPacing()
        self._next_save = 0.0
        self._started = False
        self._behind = True  # a backlog is read (or the start): flush once caught up
        self._finder = FileFinder(
            settings, self._scanner, self._positions, self._files, metrics, self._restart
        )

    @property
    def started(self) -> bool:
        """True once the first scan is done (for /readyz)."""
        return self._started

    @property
    def files_followed(self) -> int:
        """Files followed since the start (for --once's progress)."""
        return self._finder.files_followed

    @property
    def files_open(self) -> int:
        """Files open now (what the shipper_files_watched gauge shows)."""
        return len(self._files)

    @property
    def lag_bytes(self) -> int:
        """Bytes written to the followed files and not yet read, as of the last round."""
        return sum(f.unread for f in list(self._files.values()))  # a copy: read at scrape time

    async def run(self, stop: asyncio.Event) -> None:
        """Follow files until `stop` is set (`once`: until each matched file is read to its
        end); then close every file and save positions.

        When --once has read everything, every consumer is finished (an unterminated last
        line is flushed as it is). On a stop they are not: a line still being written must
        not be cut in two; its start stays uncommitted and the next run reads it whole.
        """
        self._positions.load()  # before the try: never overwrite a file we could not read
        wake_on_stop = asyncio.create_task(self._wake_on(stop), name="tail-stop")
        read_all = False
        try:
            self._scan(startup=True)
            self._started = True
            while not stop.is_set():
                if not self._once and (self._rescan or self._clock() >= self._next_scan):
                    self._scan(startup=False)
                idle = await self._read_round(stop)
                now = self._clock()
                self._release_drained(now)
                self._flush_idle(now)
                if self._positions.dirty and now >= self._next_save:
                    await self.save_positions()
                if idle:
                    if self._behind:  # the tail of a backlog need not wait for more
                        self._behind = False
                        self._consumer.caught_up()
                    if self._once:
                        read_all = True
                        break
                    await self._wait_idle(stop)
        finally:
            wake_on_stop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await wake_on_stop
            self._watcher.close()
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
        self._next_save = self._clock() + SAVE_INTERVAL

    # --- finding files

    def _scan(self, startup: bool) -> None:
        """Follow new matches, notice the followed files no glob finds any more."""
        now = self._clock()
        self._finder.scan(startup, now)
        self._polls.look_all()  # new files, and lost ones, are looked at next round
        self._metrics.files_watched.set(len(self._files))
        if not self._once:
            roots = self._scanner.watch_roots(f.path for f in self._files.values())
            self._watcher.watch(roots)
        interval = POLL_SCAN_INTERVAL if self._watcher.polling else self._settings.scan_interval
        self._next_scan = now + interval
        self._rescan = False

    def _on_file_event(self) -> None:
        self._rescan = True
        self._wake.set()

    # --- reading

    async def _read_round(self, stop: asyncio.Event) -> bool:
        """fstat the files (even while the budget is spent: the lag stays true; quiet ones
        less often: `polling`), then read each one with unread bytes, up to ROUND_BYTES
        each; True when none had any or they gather (`pacing`)."""
        now = self._clock()
        self._polls.start_round(now)
        files = [f for f in self._polls.round_files(self._files) if self._refresh(f, now)]
        self._polls.looked_at(files, now)
        if not (self._once or self._behind) and self._pacing.defer(files, now):
            return True
        idle = True
        served: list[FollowedFile] = []
        for f in files:
            if stop.is_set():
                return False
            if f.identity not in self._files:  # dropped on a read error
                continue
            final = self._once or not f.matched or now - f.quiet_since >= KEY_SETTLE
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
        return idle or (not self._behind and self._pacing.gathering)

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
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._budget.acquire(n), IDLE_WAIT)
            return True
        return False

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
            self._finder.lose(f, now)
            self._polls.look_all()  # it may have followed rotated copies
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
        drained = [f for f in self._files.values() if not f.matched and f.releasable(now, wait)]
        for f in drained:
            if self._refresh(f, now) and f.releasable(now, wait):
                log.info("let go: %s", f.path)
                del self._files[f.identity]
                f.entry.drained = True  # read to its end: never resumed in this run
                f.close()
        if drained:
            self._metrics.files_watched.set(len(self._files))

    def _flush_idle(self, now: float) -> None:
        if self._polls.flush_due(now):  # the files this round looked at
            for f in self._polls.looked:
                if f.consumer is not None and self._files.get(f.identity) is f:
                    f.consumer.flush_idle(now)

    async def _wait_idle(self, stop: asyncio.Event) -> None:
        """Nothing to read: wait for a file event, `stop`, or what `polling`/`pacing` say."""
        if not (self._rescan or stop.is_set()):
            due = min(self._next_scan, self._next_save if self._positions.dirty else math.inf)
            self._wake.clear()
            wait = self._pacing.wait(now := self._clock(), self._polls.wait(now, due))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    def _close_all(self, finish: bool) -> None:
        files = list(self._files.values())
        self._files.clear()
        for f in files:
            f.close(finish)
        self._metrics.files_watched.set(0)
