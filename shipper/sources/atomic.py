"""Replace a small state file so that a `kill -9` at any instant leaves the old or the new
version, never a mix: write a temporary file beside it, fsync, rename, fsync the directory."""

from __future__ import annotations

import os


def write_atomically(path: str, data: bytes) -> None:
    """Make `data` the content of `path` (the tail positions, the journal cursors)."""
    directory = os.path.dirname(path) or "."
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
