"""The journal source: the entries of SHIPPER_JOURNAL_UNITS, read from each directory of
SHIPPER_JOURNAL_PATHS by a journalctl child process, handed to the pipeline as documents.

Acknowledgements work as for files: each read of journalctl's output gets a ticket on the
directory's `AckTracker`, whose offsets count the entries read in this run; the cursor of
the last entry of a read is committed only once that read and every read before it were
acknowledged (delivered or dead-lettered). So the saved cursor never passes an entry
Elasticsearch has not stored, and a restart resumes right after it (`--cursor`, the
entry at the cursor dropped: docs/RELIED-ON.md says why not `--after-cursor`).
Reads take from the shared byte budget before their entries are encoded: while the budget
is spent, journalctl blocks on its full pipe and the journal on disk is the buffer.

A directory that is missing (or holds no journal file yet) is looked at again every
`LOOK_AGAIN` seconds; a journalctl that exits is started again after a backoff, after the
last entry read (not the last acknowledged: those in flight are still tracked), counted in
`shipper_journal_restarts_total` and said in one log line. journalctl itself follows the
journal's rotations and tolerates vacuumed files; a cursor whose file was vacuumed while
the agent was away resumes at the next entry after it that still exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections import deque
from collections.abc import Hashable, Sequence
from types import MappingProxyType
from typing import Protocol

from shipper.blocking import BlockingThread
from shipper.budget import ByteBudget
from shipper.net.backoff import Backoff
from shipper.observe.metrics import Metrics
from shipper.record import Documents
from shipper.restart import AckTracker
from shipper.settings import NodeLogSettings
from shipper.sources.journal.command import has_journal_files, journalctl_args
from shipper.sources.journal.cursors import Cursors
from shipper.sources.journal.entry import Entry, EntryError, encode_entry
from shipper.tasks import OwnedTasks
from shipper.transforms.decoding.lines import LineSplitter

log = logging.getLogger("shipper.journal")

SOURCE = "journal"  # the `source` label of its metrics
READ_CHUNK = 256 * 1024
LINE_LIMIT_EXTRA = 64 * 1024  # a JSON line may exceed max_record_bytes by its other fields
LOOK_AGAIN = 5.0  # seconds between looks at a missing journal directory
SAVE_INTERVAL = 1.0
STABLE_AFTER = 60.0  # a journalctl that ran this long starts its backoff afresh
MAX_RESTART_DELAY = 30.0
STDERR_KEPT = 300  # characters of journalctl's last stderr line kept for the log
# The shared fields of every journal block: none, but a block is known to be the journal's
# by them (SHIPPER_JOURNAL_INDEX, see `shipper.sources.journal.index`).
JOURNAL_FIELDS: MappingProxyType[str, object] = MappingProxyType({})


class Submitter(Protocol):
    """What the journal hands its blocks to (the pipeline), queued by `file`."""

    def submit(self, file: Hashable, documents: Documents) -> None: ...


class JournalSource:
    """One `JournalDirectory` per configured path, and the cursors they commit."""

    def __init__(
        self,
        settings: NodeLogSettings,
        pipeline: Submitter,
        budget: ByteBudget,
        metrics: Metrics,
        *,
        state_dir: str,
        max_record_bytes: int,
    ) -> None:
        """`state_dir` (the tail's) keeps the cursors; `max_record_bytes` (the records')
        bounds an entry."""
        self._cursors = Cursors(state_dir)
        self._writer = BlockingThread("journal-cursors")  # writes and fsyncs off the loop
        self._metrics = metrics
        journalctl = shutil.which("journalctl") or "journalctl"
        self.directories = [
            JournalDirectory(
                path,
                settings.journal_units,
                journalctl,
                self._cursors,
                pipeline,
                budget,
                metrics,
                max_record_bytes,
            )
            for path in settings.journal_paths
        ]

    async def run(self, stop: asyncio.Event) -> None:
        """Read every directory until `stop`; then end the journalctl processes and save."""
        self._cursors.load()
        if shutil.which("journalctl") is None:
            log.warning(
                "journalctl is not installed: the journal is not read "
                "(SHIPPER_JOURNAL_UNITS= turns the journal source off)"
            )
            return
        runs = {f"journal {d.path}": d.run for d in self.directories}
        try:
            # A directory's task that fails (a bug) ends the others and is raised: the
            # supervisor logs it and starts the source again.
            await OwnedTasks("journal").run(runs | {"journal-save": self._save_on_time}, stop)
        finally:
            await self.save_positions()

    async def _save_on_time(self) -> None:
        while True:
            await asyncio.sleep(SAVE_INTERVAL)
            if self._cursors.dirty:
                await self.save_positions()

    async def save_positions(self) -> None:
        """Write the committed cursors off the event loop (a failure is logged, and
        retried later)."""
        try:
            await self._writer.run(self._cursors.write, self._cursors.snapshot())
        except OSError as exc:
            self._cursors.dirty = True
            log.warning("cannot save journal cursors to %s: %s", self._cursors.path, exc)


class JournalDirectory:
    """One journal directory: its journalctl, its tracker, the cursors it commits."""

    def __init__(
        self,
        path: str,
        units: Sequence[str],
        journalctl: str,
        cursors: Cursors,
        pipeline: Submitter,
        budget: ByteBudget,
        metrics: Metrics,
        max_record_bytes: int,
    ) -> None:
        self.path = path
        self._units = units
        self._journalctl = journalctl
        self._cursors = cursors
        self._pipeline = pipeline
        self._budget = budget
        self._metrics = metrics
        self._line_limit = max_record_bytes + LINE_LIMIT_EXTRA
        self._tracker = AckTracker(0, self._on_commit, budget.release)
        self._read = 0  # entries read in this run: the tracker's offsets
        self._acked = 0
        self._pending: deque[tuple[int, str]] = deque()  # (entries read up to, last cursor)
        self._last_read: str | None = None  # the cursor of the last entry read
        self._skip: str | None = None  # the cursor journalctl started at, until passed
        self._stderr = ""
        self.restarts = 0

    async def run(self) -> None:
        """Keep a journalctl reading this directory until cancelled."""
        backoff = Backoff(MAX_RESTART_DELAY, base=1.0)
        missing_said = False
        while True:
            if not has_journal_files(self.path):
                if not missing_said:
                    log.warning(
                        "no journal in %s; looking again every %.0f s", self.path, LOOK_AGAIN
                    )
                    missing_said = True
                await asyncio.sleep(LOOK_AGAIN)
                continue
            if missing_said:
                log.info("journal found in %s", self.path)
                missing_said = False
            started = time.monotonic()
            code = await self._follow()
            if time.monotonic() - started >= STABLE_AFTER:
                backoff.reset()
            delay = backoff.next_delay()
            self.restarts += 1
            self._metrics.journal_restarts.labels(directory=self.path).inc()
            why = f": {self._stderr}" if self._stderr else ""
            log.warning(
                "journalctl reading %s exited with status %s%s; starting it again in %.1f s",
                self.path,
                code,
                why,
                delay,
            )
            await asyncio.sleep(delay)

    async def _follow(self) -> int | None:
        """Run one journalctl until it exits; its exit status."""
        after = self._last_read or self._cursors.get(self.path)
        args = journalctl_args(self._journalctl, self.path, self._units, after)
        self._skip = after
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=READ_CHUNK,  # the pipe is read in chunks of up to this much
        )
        assert proc.stdout is not None and proc.stderr is not None
        self._stderr = ""
        errors = asyncio.create_task(self._keep_stderr(proc.stderr))
        try:
            await self._pump(proc.stdout)
            return await proc.wait()
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            errors.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await errors

    async def _pump(self, stdout: asyncio.StreamReader) -> None:
        """Read journalctl's output to its end, a chunk at a time, each chunk's whole lines
        becoming one block."""
        splitter = LineSplitter(self._line_limit)
        offset = 0
        while True:
            data = await stdout.read(READ_CHUNK)
            if not data:
                return
            await self._budget.acquire(len(data))
            runs = splitter.split(data, offset)
            offset += len(data)
            self._emit([line for lines, _ in runs for line in lines], len(data))

    async def _keep_stderr(self, stderr: asyncio.StreamReader) -> None:
        while line := await stderr.readline():
            text = line.decode("utf-8", "replace").strip()
            if text:
                self._stderr = text[:STDERR_KEPT]

    def _emit(self, lines: list[bytes], nbytes: int) -> None:
        """One read's entries as one block, with a ticket holding `nbytes` of budget."""
        entries: list[Entry] = []
        unreadable: list[str] = []
        for line in lines:
            try:
                entries.append(encode_entry(line))
            except EntryError as exc:
                unreadable.append(str(exc))
        if unreadable:
            self._metrics.dropped("journal_unreadable", len(unreadable))
            log.warning(
                "%d journal lines from journalctl could not be read (%s); dropped",
                len(unreadable),
                unreadable[0],
            )
        if self._skip is not None and entries:
            if entries[0].cursor == self._skip:  # read from its cursor: delivered already
                del entries[0]
            self._skip = None
        count = len(entries)
        self._read += count
        if entries:
            self._last_read = entries[-1].cursor
            self._pending.append((self._read, self._last_read))
        ticket = self._tracker.issue(count, self._read, nbytes)
        if not entries:
            return
        self._metrics.records_read.inc(count)
        self._metrics.source_records_read.labels(source=SOURCE).inc(count)
        documents = Documents(
            [e.doc for e in entries],
            [e.time for e in entries],
            list(range(self._read - count, self._read)),
            "",
            JOURNAL_FIELDS,
            ticket,
            ids=[e.doc_id for e in entries],
        )
        self._pipeline.submit(self, documents)

    def _on_commit(self, read: int) -> None:
        """Every entry up to number `read` of this run was acknowledged: commit its cursor."""
        cursor = None
        while self._pending and self._pending[0][0] <= read:
            cursor = self._pending.popleft()[1]
        if cursor is not None:
            self._cursors.commit(self.path, cursor)
        self._metrics.source_records_acked.labels(source=SOURCE).inc(read - self._acked)
        self._acked = read
