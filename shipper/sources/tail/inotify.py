"""Linux inotify through libc, with the one mask the tail source needs: entries added to
a directory.

A directory watch with this mask hears of files and directories created in it or
renamed into it, and nothing of the writes to the files in it: a node's thousand busy
containers produce no events, where a watch on every change would wake a reader for
each write. `read` never blocks (the fd is non-blocking; the caller reads it when the
event loop says it is readable).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from typing import NamedTuple

IN_MOVED_TO = 0x00000080  # an entry renamed into the directory
IN_CREATE = 0x00000100  # an entry created in it
IN_Q_OVERFLOW = 0x00004000  # events were lost: the queue was full
IN_IGNORED = 0x00008000  # the watch is gone (its directory deleted, or removed)
IN_ONLYDIR = 0x01000000  # watch the path only if it is a directory
IN_ISDIR = 0x40000000  # the entry is a directory
ADDED = IN_MOVED_TO | IN_CREATE
_WATCH_MASK = ADDED | IN_ONLYDIR

_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name
_READ_BYTES = 64 * 1024


class Event(NamedTuple):
    wd: int  # the watch the event came from (-1 for a queue overflow)
    mask: int
    name: str  # the entry's name in the watched directory ("" for the directory itself)


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if not hasattr(libc, "inotify_init1"):
        raise OSError("inotify is not available on this system")
    return libc


class Inotify:
    """One inotify instance: `add` directories, `read` what was added to them."""

    def __init__(self) -> None:
        self._libc = _libc()
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise _error("inotify_init1")
        self.fd: int = fd

    def add(self, directory: str) -> int:
        """Watch `directory` for added entries: its watch descriptor (the same one for a
        directory already watched, under any name)."""
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), _WATCH_MASK)
        if wd < 0:
            raise _error(directory)
        return int(wd)

    def remove(self, wd: int) -> None:
        """Stop watching (an IN_IGNORED event follows); a watch already gone is no error."""
        self._libc.inotify_rm_watch(self.fd, wd)

    def read(self) -> list[Event]:
        """The events queued now (none when there are none)."""
        events: list[Event] = []
        while True:
            try:
                data = os.read(self.fd, _READ_BYTES)
            except BlockingIOError:
                return events
            events.extend(parse(data))

    def close(self) -> None:
        os.close(self.fd)


def parse(data: bytes) -> list[Event]:
    """The events in one read: each a fixed header, then `len` bytes of NUL-padded name."""
    events = []
    at = 0
    while at + _EVENT.size <= len(data):
        wd, mask, _cookie, length = _EVENT.unpack_from(data, at)
        at += _EVENT.size
        name = data[at : at + length].split(b"\0", 1)[0]
        at += length
        events.append(Event(wd, mask, os.fsdecode(name)))
    return events


def _error(what: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, os.strerror(code), what)
