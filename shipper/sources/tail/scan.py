"""Which files to follow: globs, excludes, the agent's own pod, symlinks resolved.

kubelet's `/var/log/containers/*.log` are symlinks to `/var/log/pods/<ns>_<pod>_<uid>/
<container>/<n>.log`; both trees may be globbed. A scan returns each real file once, keyed
by identity (device, inode), keeping the link it was found through when there is one.
"""

from __future__ import annotations

import glob
import logging
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from shipper.settings import TailSettings
from shipper.sources.tail.positions import Identity

log = logging.getLogger("shipper.tail")

NEVER_READ = (".gz", ".tmp")  # kubelet's compressed rotations and their temporaries


@dataclass(frozen=True, slots=True)
class Match:
    """A file to follow: the real path and the link it was found through, if any."""

    path: str
    link: str | None


def never_read(path: str) -> bool:
    return path.endswith(NEVER_READ)


class Scanner:
    """Expands the configured globs into the set of files to follow."""

    def __init__(self, settings: TailSettings) -> None:
        self._globs = settings.paths
        self._excludes = settings.exclude_paths
        pod, namespace = settings.pod_name, settings.pod_namespace
        # Pod names and namespaces never contain "_", so these prefixes are unambiguous.
        self._own_link = f"{pod}_{namespace}_" if pod and namespace else None
        self._own_dir = f"{namespace}_{pod}_" if pod and namespace else None
        # What (matched path, device, inode) was at the last scan: resolving a link costs
        # an lstat per path component, and a node has a thousand links.
        self._known: dict[tuple[str, int, int], Match | None] = {}
        self._roots: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())  # files, their roots

    def scan(self) -> dict[Identity, Match]:
        """Every matched, not excluded file by identity; a link wins over its target."""
        found: dict[Identity, Match] = {}
        known: dict[tuple[str, int, int], Match | None] = {}
        for pattern in self._globs:
            for matched in sorted(glob.glob(pattern)):
                if never_read(matched):
                    continue
                try:
                    st = os.stat(matched)
                    key = (matched, st.st_dev, st.st_ino)
                    match = self._known[key] if key in self._known else self._match(matched, st)
                except OSError:  # a dangling link, or gone since the glob listed it
                    continue
                known[key] = match
                if match is None:
                    continue
                ident = (st.st_dev, st.st_ino)
                current = found.get(ident)
                if current is None or (current.link is None and match.link is not None):
                    found[ident] = match
        self._known = known
        return found

    def _match(self, matched: str, st: os.stat_result) -> Match | None:
        """What the path `matched` (whose target is `st`) is followed as; None: not at all."""
        real = os.path.realpath(matched)
        link = matched if os.path.islink(matched) else None
        if not stat.S_ISREG(st.st_mode) or never_read(real) or self.excluded(real, link):
            return None
        return Match(real, link)

    def excluded(self, path: str, link: str | None = None) -> bool:
        """Excluded by SHIPPER_EXCLUDE_PATHS (on the link or the real path), or our own pod."""
        names = (path,) if link is None else (link, path)
        if any(fnmatchcase(name, pattern) for name in names for pattern in self._excludes):
            return True
        if self._own_dir and any(part.startswith(self._own_dir) for part in path.split("/")):
            return True
        return bool(self._own_link and link and os.path.basename(link).startswith(self._own_link))

    def watch_roots(self, files: Iterable[str]) -> tuple[str, ...]:
        """Directories to watch: each glob's fixed prefix, and the real files' directories.

        Watching only the link directory would miss the new `0.log` kubelet creates at a
        rotation: that happens in the target directory. The same files as last time give
        the same roots, without a `stat` of each directory (an idle node's rescans).
        """
        paths = tuple(files)
        if paths and paths == self._roots[0]:
            return self._roots[1]
        roots = {_fixed_prefix(pattern) for pattern in self._globs}
        roots.update(os.path.dirname(path) for path in paths)
        # Never a recursive watch on "/": a glob like "/*/x.log" is left to the rescans.
        existing = sorted(root for root in roots if root != "/" and os.path.isdir(root))
        kept: set[str] = set()
        for root in existing:  # sorted: a parent comes before its subdirectories
            if not any(parent in kept for parent in _ancestors(root)):
                kept.add(root)
        self._roots = (paths, tuple(sorted(kept)))
        return self._roots[1]


def _fixed_prefix(pattern: str) -> str:
    """The directory part of a glob before its first wildcard."""
    fixed: list[str] = []
    for part in os.path.dirname(os.path.abspath(pattern)).split("/"):
        if glob.has_magic(part):
            break
        fixed.append(part)
    return "/".join(fixed) or "/"


def _ancestors(path: str) -> list[str]:
    """`path` and each directory above it, up to (not including) `/`."""
    out = []
    while path not in ("/", ""):
        out.append(path)
        path = os.path.dirname(path)
    return out
