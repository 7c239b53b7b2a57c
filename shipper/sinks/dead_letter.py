"""The dead-letter file: documents Elasticsearch refused for good, kept for a replay.

One JSON line per document: `{"time", "index", "id", "status", "error": {"type",
"reason"}, "document"}`. Lines are fsynced before the sink acknowledges their
records, so a refused record is either in this file or read again after a crash.

The file is capped at SHIPPER_DEAD_LETTER_MAX_BYTES. A record that does not fit
(or cannot be written: disk full, read-only volume) is counted as dropped (reason
`dead_letter_full` / `dead_letter_error`), logged as an error, and acknowledged
all the same: Elasticsearch will never take it, and holding its position back
would stop its file, and the memory budget, forever.

The agent and `shipper replay-dead-letter` (another process, which rewrites the
file) share it through `open_locked`: an exclusive `flock` on the file itself,
taken again when the path was renamed over meanwhile. The agent appends under the
lock; the replay copies what was appended and renames its new file into place
under the lock; so an entry is either in the new file or was written to it. A write
stopped midway (kill -9, full disk) leaves part of an entry after the last newline:
both cut it under the lock (the agent before its next append, the replay when it
rewrites), and the replay reads only whole lines (`whole_lines_end`, the rule both keep).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import Sequence
from typing import BinaryIO

import orjson

from shipper.blocking import BlockingThread
from shipper.durable import end_of_last_line, fsync_directory
from shipper.observe.metrics import Metrics
from shipper.sinks.elasticsearch.bulk import Rejected
from shipper.timestamps import now_rfc3339

log = logging.getLogger("shipper.elasticsearch")


def encode_entry(rejected: Rejected, time: str) -> bytes:
    """One dead-letter line; the document is embedded as is (it is JSON already)."""
    return b'{"time":%s,"index":%s,"id":%s,"status":%d,"error":%s,"document":%s}\n' % (
        orjson.dumps(time),
        orjson.dumps(rejected.index),
        orjson.dumps(rejected.id),
        rejected.status,
        orjson.dumps(rejected.error),
        rejected.doc,
    )


def decode_entry(line: bytes) -> Rejected:
    """A dead-letter line back into what is needed to send it again (ValueError if not one)."""
    try:
        entry = orjson.loads(line)
        return Rejected(
            index=str(entry["index"]),
            id=None if entry.get("id") is None else str(entry["id"]),
            status=int(entry.get("status") or 0),
            error=dict(entry.get("error") or {}),
            doc=orjson.dumps(entry["document"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"not a dead-letter entry: {line[:120]!r}") from exc


def open_locked(path: str, mode: str) -> BinaryIO:
    """`path` opened in `mode` ("a+b" or "rb") under an exclusive `flock` (closing unlocks).

    The lock is on the open file, so when a replay renamed a new file over `path`
    while we waited, the file we locked is the old one: open and lock again.
    """
    while True:
        file = open(path, mode)  # noqa: SIM115 - returned open, locked
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            if os.fstat(file.fileno()).st_ino == os.stat(path).st_ino:
                return file  # type: ignore[return-value]
        except FileNotFoundError:
            pass  # renamed away and not replaced yet: open anew
        except BaseException:
            file.close()
            raise
        file.close()


class DeadLetterFile:
    """Appends refused documents to the dead-letter file, durably, within its size cap."""

    def __init__(self, path: str, max_bytes: int, metrics: Metrics) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._metrics = metrics
        self._lock = asyncio.Lock()
        self._thread = BlockingThread("dead-letter")

    async def write(self, rejected: Sequence[Rejected]) -> None:
        """Write and fsync every entry that fits; count the rest as dropped."""
        if not rejected:
            return
        now = now_rfc3339(3)
        lines = [encode_entry(item, now) for item in rejected]
        async with self._lock:  # one appender at a time keeps the size check true
            written = await self._thread.run(self._append, lines)
        self._metrics.records_dead_lettered.inc(written)
        if written:
            first = rejected[0]
            log.warning(
                "dead-lettered %d documents to %s; first for %s: %s %s: %.300s",
                written,
                self.path,
                first.index,
                first.status,
                first.error.get("type", ""),
                first.error.get("reason", ""),
            )

    def _append(self, lines: list[bytes]) -> int:
        """Append the lines that fit; return how many were written."""
        try:
            written = self._write(lines)
        except OSError as exc:
            self._metrics.dropped("dead_letter_error", len(lines))
            log.error(
                "cannot write the dead-letter file %s, %d records lost: %s",
                self.path,
                len(lines),
                exc,
            )
            return 0
        full = len(lines) - written
        if full:
            self._metrics.dropped("dead_letter_full", full)
            log.error(
                "dead-letter file %s is full (%d bytes, SHIPPER_DEAD_LETTER_MAX_BYTES): "
                "%d refused records dropped; replay or remove it",
                self.path,
                self.max_bytes,
                full,
            )
        return written

    def _write(self, lines: list[bytes]) -> int:
        """Write, flush and fsync the lines that keep the file within its cap."""
        created = not os.path.exists(self.path)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with open_locked(self.path, "a+b") as file:
            size, lead = _mend_end(file, self.path)
            size += len(lead)
            fitting = []
            for line in lines:
                if size + len(line) > self.max_bytes:
                    break
                fitting.append(line)
                size += len(line)
            if fitting:
                file.write(lead + b"".join(fitting))
                file.flush()
                os.fsync(file.fileno())
        if created:
            fsync_directory(self.path)
        return len(fitting)


def whole_lines_end(data: bytes) -> int:
    """How many bytes of `data` (a dead-letter file's, from a line's start) are whole lines.

    Appends are whole under the lock, so a last line with no newline is an entry whose
    write was stopped (kill -9, full disk): not whole, unless it decodes as one entry (a
    copy edited by hand may end so; only a write stopped before its newline ends so).
    """
    end = data.rfind(b"\n") + 1
    if end < len(data):
        try:
            decode_entry(data[end:])
        except ValueError:
            return end
    return len(data)


def _mend_end(file: BinaryIO, path: str) -> tuple[int, bytes]:
    """Make the locked file end where an entry may follow: its size then, and what to
    write before that entry (a newline after a whole last entry that lacks one).

    An entry cut short is truncated: its record was either not acknowledged (a kill -9:
    it is read, refused and written again) or counted as dropped (a failed write). Left
    there, the next entry would be glued to it and the replay would skip both.
    """
    fd = file.fileno()
    size = file.seek(0, os.SEEK_END)
    keep = end_of_last_line(fd, size)
    if keep == size:
        return size, b""
    if whole_lines_end(os.pread(fd, size - keep, keep)) == size - keep:
        return size, b"\n"
    os.ftruncate(fd, keep)
    log.warning(
        "dead-letter file %s ended in %d bytes of an entry cut short "
        "(kill -9 or a failed write): removed before appending",
        path,
        size - keep,
    )
    return keep, b""
