"""`SHIPPER_OUTPUT=file:PATH`: NDJSON documents appended to any writable path.

A regular file is fsynced before acks; /dev/null, /dev/stdout or a FIFO are written
as they are (a FIFO's open waits for a reader in the sink's thread, not the agent).
The file is opened when the first documents come, and again after a failure.

A `kill -9` in the middle of a write leaves the file ending in part of a document. Those
documents were not acknowledged, so the next run writes them again whole: before its first
write, it cuts what follows the file's last newline, so no line of the file is torn. So does
a write --once gave up on midway, before the next write (`LineSink`'s `mend`).
"""

from __future__ import annotations

import logging
import os
import stat

from shipper.durable import end_of_last_line
from shipper.observe.metrics import Metrics
from shipper.settings import SinkSettings
from shipper.sinks.line_sink import LineSink
from shipper.supervisor import Supervisor

log = logging.getLogger("shipper.output")


def file_sink(
    path: str, settings: SinkSettings, metrics: Metrics, supervisor: Supervisor | None = None
) -> LineSink:
    first = True

    def opener() -> int:
        nonlocal first
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        if first:  # not on a reopen after a failure: that write goes on where it stopped
            first = False
            _cut_torn_tail(fd, path, "an earlier stop (kill -9)")
        return fd

    def mend(fd: int) -> bool:
        return _cut_torn_tail(fd, path, "a write given up")

    return LineSink(opener, path, settings, metrics, owns_fd=True, supervisor=supervisor, mend=mend)


def _cut_torn_tail(fd: int, path: str, cause: str) -> bool:
    """Truncate the regular file open as `fd` (for writing) after its last newline: what
    follows is a document a write was stopped in (`cause`). False if
    `fd` is not a regular file. Best effort: a file this process may not read is left as
    it is."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        return False
    try:
        reader = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return True
    try:
        seen = os.fstat(reader)
        if (seen.st_dev, seen.st_ino) != (st.st_dev, st.st_ino):  # replaced meanwhile
            return True
        keep = end_of_last_line(reader, st.st_size)
    finally:
        os.close(reader)
    if keep < st.st_size:
        os.ftruncate(fd, keep)
        log.warning(
            "%s ended in %d bytes of a document cut short by %s: removed; its documents "
            "are written again whole",
            path,
            st.st_size - keep,
            cause,
        )
    return True
