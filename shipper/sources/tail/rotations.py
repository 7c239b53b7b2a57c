"""kubelet's rotated copies of a container log, oldest first.

At each rotation kubelet renames `0.log` to `0.log.<YYYYMMDD-hhmmss>` and has the runtime
create a new `0.log`; at the next one it gzips that copy (`<copy>.tmp`, renamed to
`<copy>.gz`), deletes the plain copy, and deletes the oldest copies past
`containerLogMaxFiles`. The stamp in a copy's name orders the copies by age: a plain name
and its `.gz` are the same content, one stage apart.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_ROTATED = re.compile(r"\.(\d{8}-\d{6})(\.gz)?$")


@dataclass(frozen=True, slots=True)
class Rotation:
    """One rotated copy: its path, its stamp, and whether it is the gzipped stage."""

    path: str
    stamp: str
    compressed: bool


def live_path(path: str) -> str:
    """The container log `path` was rotated from (`path` itself when it is not a copy)."""
    match = _ROTATED.search(path)
    return path[: match.start()] if match else path


def rotations(live: str) -> list[Rotation]:
    """The rotated copies of `live` next to it, oldest first; for a stamp present both
    plain and gzipped (between kubelet's rename and its delete) the plain one comes first.
    Temporaries (`.tmp`) are never listed: they are renamed to `.gz` once complete."""
    directory, name = os.path.split(live)
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return []
    found = []
    for entry in names:
        if not entry.startswith(name):
            continue
        match = _ROTATED.fullmatch(entry[len(name) :])
        if match:
            compressed = match.group(2) is not None
            found.append(Rotation(os.path.join(directory, entry), match.group(1), compressed))
    return sorted(found, key=lambda r: (r.stamp, r.compressed))
