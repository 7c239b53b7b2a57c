"""The positions database: each file's committed offset, by identity, saved atomically.

One JSON file, `$SHIPPER_STATE_DIR/positions.json`. An offset here only ever moves by an
acknowledgement (`commit`), never by a read, so a restart resumes after what the output
accepted and before anything it did not. Each save replaces the file atomically
(`shipper.durable`): after a `kill -9` at any instant it is either the old or the new
version, never a mix. A file of another format version (a newer shipper's, after a
downgrade) is a startup error naming it: neither read as if it were ours nor moved aside.
Paths that are not valid UTF-8 (a glob matches any byte string) are stored as base64 of
their bytes, under `path_b64` and `link_b64`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Container, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from shipper.durable import load_state, replace_atomically
from shipper.sources.tail.identity import Fingerprint, fingerprint_matches, fingerprint_tells

FORMAT_VERSION = 1
PRUNE_AFTER = 3600.0  # seconds a file may be gone before its entry is dropped

Identity = tuple[int, int]  # (st_dev, st_ino)


@dataclass(slots=True)
class Position:
    """One file's saved state. `seen` is the wall time it was last found by a scan.

    `link` is the link the file was first found through: a file picked up again without
    it (rotated away while the agent was down) keeps its container id, hence its record ids.
    `size` is the file's size when positions were last saved: what lies between `offset`
    and it is what a deleted file took with it unread. `drained` (not saved) says this run
    read the file to its end and let it go: a copy of it is never read again meanwhile,
    whatever acknowledgements are still to come.
    """

    dev: int
    ino: int
    fingerprint: Fingerprint
    key: str | None
    offset: int
    path: str
    link: str | None
    seen: float
    size: int = 0
    drained: bool = False

    @classmethod
    def begin(
        cls,
        identity: Identity,
        head: bytes,
        path: str,
        link: str | None,
        offset: int,
        seen: float,
    ) -> Position:
        """A new entry for the file `identity` starting with `head`, committed up to `offset`."""
        dev, ino = identity
        return cls(dev, ino, Fingerprint.of(head), None, offset, path, link, seen, offset)

    @property
    def identity(self) -> Identity:
        return (self.dev, self.ino)

    def to_json(self) -> dict[str, Any]:
        return {
            "dev": self.dev,
            "ino": self.ino,
            "fp_len": self.fingerprint.length,
            "fp": self.fingerprint.digest,
            "key": self.key,
            "offset": self.offset,
            "size": self.size,
            **_name("path", self.path),
            **_name("link", self.link),
            "seen": self.seen,
        }

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Position:
        fields = (item["dev"], item["ino"], item["fp_len"], item["offset"])
        if not all(isinstance(v, int) and v >= 0 for v in fields):
            raise ValueError(f"bad position entry: {item!r}")
        key, path, link = item.get("key"), _unname(item, "path"), _unname(item, "link")
        if not isinstance(item["fp"], str) or path is None:
            raise ValueError(f"bad position entry: {item!r}")
        size = item.get("size")
        return cls(
            dev=item["dev"],
            ino=item["ino"],
            fingerprint=Fingerprint(item["fp_len"], item["fp"]),
            key=key if isinstance(key, str) else None,
            offset=item["offset"],
            path=path,
            link=link,
            seen=float(item["seen"]),
            size=size if isinstance(size, int) and size >= item["offset"] else item["offset"],
        )


def _name(field: str, path: str | None) -> dict[str, str | None]:
    """`path` as JSON: as it is when it is UTF-8, else its bytes in base64 under `<field>_b64`."""
    if path is None:
        return {field: None}
    try:
        path.encode()
    except UnicodeEncodeError:  # undecodable bytes, kept by os.fsdecode as surrogates
        return {f"{field}_b64": base64.b64encode(os.fsencode(path)).decode()}
    return {field: path}


def _unname(item: dict[str, Any], field: str) -> str | None:
    """The path `_name` stored, or None when there is none (or it is not a string)."""
    encoded = item.get(f"{field}_b64")
    if isinstance(encoded, str):
        return os.fsdecode(base64.b64decode(encoded))
    value = item.get(field)
    return value if isinstance(value, str) else None


class Positions:
    """Saved positions by identity; `dirty` says a save is due.

    When a new file takes the inode of a deleted one (kubelet's gzip-and-delete frees an
    inode just before the runtime creates the next `0.log`), the old entry is *displaced*,
    not dropped: its content may live on in a `.gz` copy, found by its first bytes, and may
    have grown while the agent was away. A displaced entry is dropped at the next save
    once it is read to its end as far as it knows (a file held open never loses its inode,
    so while the agent runs only files already let go are displaced).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.dirty = False
        self._entries: dict[Identity, Position] = {}
        self._displaced: list[Position] = []

    def __iter__(self) -> Iterator[Position]:
        return iter([*self._entries.values(), *self._displaced])

    def load(self) -> None:
        """Read the saved positions; a corrupt file is moved aside and reading starts fresh;
        a file of another format version raises `UnknownFormat`."""
        entries = load_state(self.path, "positions file", self._parse)
        if entries is None:
            return
        for entry in sorted(entries, key=lambda e: e.seen):  # the latest holds the inode
            self.add(entry)
        self.dirty = False

    def _parse(self, doc: Any) -> list[Position]:
        _check_version(self.path, doc)
        return [Position.from_json(item) for item in doc["files"]]

    def match(self, identity: Identity, head: bytes) -> Position | None:
        """The saved position of the file `identity` starting with `head`, if there is one."""
        entry = self._entries.get(identity)
        if entry is not None and fingerprint_matches(head, entry.fingerprint):
            return entry
        return None

    def match_copy(self, head: bytes, directory: str) -> Position | None:
        """The saved position of the file a compressed copy in `directory` was made from:
        the entry of that directory whose first line the copy's `head` starts with. A copy
        has an inode of its own, so only content tells: an entry saved while its file was
        empty would match every copy, and read one under its identity (new record ids)."""
        for entry in self:
            same_place = os.path.dirname(entry.path) == directory
            if same_place and fingerprint_tells(head, entry.fingerprint):
                return entry
        return None

    def add(self, entry: Position) -> Position:
        """Record a newly followed file, displacing any stale entry of a reused inode."""
        stale = self._entries.get(entry.identity)
        if stale is not None and stale is not entry:
            self._displaced.append(stale)
        self._entries[entry.identity] = entry
        self.dirty = True
        return entry

    def commit(self, entry: Position, offset: int) -> None:
        """An acknowledgement moved `entry`'s committed offset (an AckTracker's on_commit)."""
        entry.offset = offset
        self.dirty = True

    def snapshot(self, now: float, live: Container[Identity]) -> bytes:
        """Prune entries gone longer than PRUNE_AFTER; the file's new content. Commits
        after this call mark the positions dirty again."""
        self._entries = {
            ident: entry
            for ident, entry in self._entries.items()
            if ident in live or now - entry.seen < PRUNE_AFTER
        }
        self._displaced = [
            e for e in self._displaced if e.offset < e.size and now - e.seen < PRUNE_AFTER
        ]
        self.dirty = False
        doc = {"version": FORMAT_VERSION, "files": [e.to_json() for e in self]}
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2)

    def write(self, data: bytes) -> None:
        """Replace the file by `data` atomically (blocking: run it off the event loop)."""
        replace_atomically(self.path, lambda out: out.write(data), f"{self.path}.tmp")


class UnknownFormat(Exception):
    """The positions file is of a format version this shipper does not read."""

    def __init__(self, path: str, version: object) -> None:
        super().__init__(
            f"{path}: positions format version {version!r}, this shipper reads version "
            f"{FORMAT_VERSION}: run the shipper that wrote it, or move the file away to "
            "read every file again from SHIPPER_READ_FROM"
        )


def _check_version(path: str, doc: Any) -> None:
    if isinstance(doc, dict) and doc.get("version") != FORMAT_VERSION:
        raise UnknownFormat(path, doc.get("version"))


def format_problem(path: str) -> str | None:
    """Why this shipper cannot load the positions file at `path` (checked at startup), or
    None; a missing or corrupt file is no problem (reading starts afresh)."""
    try:
        with open(path, "rb") as fh:
            doc = orjson.loads(fh.read())
        _check_version(path, doc)
    except (OSError, orjson.JSONDecodeError):
        return None
    except UnknownFormat as exc:
        return str(exc)
    return None
