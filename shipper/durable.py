"""Writes that survive a crash: a file replaced whole, a directory entry made durable.

`replace_atomically` writes a temporary file in the same directory, fsyncs it, renames
it over the old one and fsyncs the directory: after a `kill -9` at any instant the file
is either the old or the new version, never a mix. These are blocking calls: callers
run them off the event loop (`shipper.blocking`) or in a command that has no loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import BinaryIO


def fsync_directory(path: str) -> None:
    """Make a file's creation or rename in `path`'s directory survive a crash."""
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomically(path: str, write: Callable[[BinaryIO], object], temp: str) -> None:
    """Replace `path` by what `write` writes into `temp` (a path in the same directory)."""
    with open(temp, "wb") as out:
        write(out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
    fsync_directory(path)
