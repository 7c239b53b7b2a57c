"""Noticing new files quickly: inotify on the watched directories, polling as fallback.

Events only trigger a rescan; they are never trusted to be complete (inotify queues
overflow, and its limits are shared by every container on the node). Growth of files
already open is found by `fstat` every round, not here: the watches ask for added
entries only (`inotify`), so writes cost no event at all, however many files are busy.

Every directory under the roots is watched, and the roots follow the files (a pod's
directory is one), so watches are added and removed one root at a time as pods come and
go; a directory created under a root is watched as soon as its event is read. Events
that come together make one rescan, GROUP_SECONDS after the first. When inotify cannot
be used (not Linux, a limit reached), `polling` turns True and the source rescans on a
short interval instead; a later change of the roots tries inotify again.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable, Iterable

from shipper.sources.tail.inotify import ADDED, IN_IGNORED, IN_ISDIR, IN_Q_OVERFLOW, Inotify
from shipper.sources.tail.scan import never_read

log = logging.getLogger("shipper.tail")

GROUP_SECONDS = 0.1  # events read within this of the first make one rescan
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.EACCES)  # a directory not (or no more) there


class Watcher:
    """Calls `on_change` when files appear under the watched directories."""

    def __init__(self, on_change: Callable[[], None], group: float = GROUP_SECONDS) -> None:
        self._on_change = on_change
        self._group = group
        self._inotify: Inotify | None = None
        self._roots: frozenset[str] = frozenset()
        self._dirs: dict[int, str] = {}  # watch descriptor -> the directory it watches
        self._pending: asyncio.TimerHandle | None = None  # the rescan events asked for
        self.polling = True

    @property
    def watched(self) -> frozenset[str]:
        """The directories watched now."""
        return frozenset(self._dirs.values())

    def watch(self, roots: Iterable[str]) -> None:
        """Watch exactly `roots` (and every directory under them) from now on."""
        wanted = frozenset(roots)
        if wanted == self._roots:
            return
        gone, new = self._roots - wanted, wanted - self._roots
        self._roots = wanted
        if self._inotify is None:
            if not wanted or not self._start():
                return
            gone, new = frozenset(), wanted
        try:
            for root in gone:
                self._unwatch(root)
            for root in sorted(new):
                self._watch_tree(root)
        except OSError as exc:
            self._fail(exc)

    def close(self) -> None:
        """Remove every watch; a `watch` after this starts again."""
        self._roots = frozenset()
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        inotify, self._inotify = self._inotify, None
        if inotify is not None:
            asyncio.get_running_loop().remove_reader(inotify.fd)
            inotify.close()
        self._dirs.clear()
        self.polling = True

    def _start(self) -> bool:
        try:
            self._inotify = Inotify()
        except OSError as exc:
            self._fail(exc)
            return False
        asyncio.get_running_loop().add_reader(self._inotify.fd, self._readable)
        self.polling = False
        return True

    def _watch_tree(self, top: str) -> None:
        """Watch `top` and the directories under it (symbolic links are not followed)."""
        assert self._inotify is not None
        for directory, subdirs, _files in os.walk(top):
            try:
                self._dirs[self._inotify.add(directory)] = directory
            except OSError as exc:
                if exc.errno not in _GONE:
                    raise
                subdirs.clear()

    def _unwatch(self, root: str) -> None:
        assert self._inotify is not None
        under = root.rstrip("/") + "/"
        for wd, directory in list(self._dirs.items()):
            if directory == root or directory.startswith(under):
                del self._dirs[wd]
                self._inotify.remove(wd)

    def _readable(self) -> None:
        """Read the queued events; a new file (or directory, watched at once) asks for a
        rescan, as does a lost event."""
        assert self._inotify is not None
        try:
            events = self._inotify.read()
            rescan = False
            for wd, mask, name in events:
                if mask & IN_Q_OVERFLOW:
                    rescan = True
                elif mask & IN_IGNORED:
                    self._dirs.pop(wd, None)
                elif mask & ADDED and wd in self._dirs:
                    path = os.path.join(self._dirs[wd], name)
                    if mask & IN_ISDIR:
                        self._watch_tree(path)
                    rescan = rescan or (mask & IN_ISDIR) != 0 or not never_read(path)
        except OSError as exc:
            self._fail(exc)
            return
        if rescan and self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self._group, self._fire)

    def _fire(self) -> None:
        self._pending = None
        self._on_change()

    def _fail(self, exc: OSError) -> None:
        """inotify cannot serve: rescans take over (until the roots change)."""
        log.warning("file-system events unavailable (%s); falling back to polling the globs", exc)
        roots = self._roots
        self.close()
        self._roots = roots  # the same roots do not try again
        self._on_change()
