"""State files that survive a crash: replaced whole, their directory entry made durable,
and read back with a corrupt one moved aside rather than stopping the agent.

`replace_atomically` writes a temporary file in the same directory, fsyncs it, renames
it over the old one and fsyncs the directory: after a `kill -9` at any instant the file
is either the old or the new version, never a mix. These are blocking calls: callers
run them off the event loop (`shipper.blocking`) or in a command that has no loop.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

import orjson

log = logging.getLogger("shipper.state")

T = TypeVar("T")

_TAIL_CHUNK = 64 * 1024  # read backwards this much at a time to find the last newline


def fsync_directory(path: str) -> None:
    """Make a file's creation or rename in `path`'s directory survive a crash."""
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def end_of_last_line(fd: int, size: int) -> int:
    """The offset just after the last newline in the first `size` bytes of `fd` (0: none).

    For the append-only line files (file output, dead letter): what follows it is a line
    an earlier write was stopped in (kill -9, full disk), to be cut before the next one.
    """
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size  # the usual case: the last write ended whole
    end = size
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def replace_atomically(path: str, write: Callable[[BinaryIO], object], temp: str) -> None:
    """Replace `path` by what `write` writes into `temp` (a path in the same directory)."""
    with open(temp, "wb") as out:
        write(out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
    fsync_directory(path)


def load_state(path: str, what: str, parse: Callable[[Any], T]) -> T | None:
    """The JSON state file at `path` as `parse` makes it of the decoded document; None when
    there is none yet. A file that does not parse (bad JSON, or `parse` raising KeyError,
    TypeError or ValueError) is moved aside, with a warning naming `what`, and None is
    returned: the agent starts afresh rather than crash-looping on it."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return None
    try:
        return parse(orjson.loads(raw))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        aside = f"{path}.corrupt-{int(time.time())}"
        os.replace(path, aside)
        log.warning("%s %s is corrupt (%s); moved to %s", what, path, exc, aside)
        return None
