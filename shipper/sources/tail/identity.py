"""A file's identity: device, inode, and a fingerprint of its first bytes.

Inodes are reused as soon as a file is deleted (kubelet's gzip-and-delete frees one just
before the runtime creates the next `0.log`), so an inode alone would hand a new file a
stale offset. The fingerprint of the first bytes tells the two files apart.

`file_key` is the text identity a consumer sees (`FileInfo.key`); record ids derive from it,
so it must never change while the file lives, nor across restarts. It is device, inode and
a hash of the file's *first line* (up to `FINGERPRINT_BYTES`): unlike "the first bytes seen",
the first line is the same whenever it is read, so a key computed again after a crash that
lost the positions file is still the same key. A file's key is therefore only made once its
first line is complete (or the file is being finished as it is).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

FINGERPRINT_BYTES = 1024


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A hash of a file's first `length` bytes; `length` grows with a short file."""

    length: int
    digest: str

    @classmethod
    def of(cls, head: bytes) -> Fingerprint:
        return cls(len(head), _digest(head))


def fingerprint_matches(head: bytes, saved: Fingerprint) -> bool:
    """Whether a file whose first bytes are `head` still starts with the bytes `saved` was
    taken from (`head` at least `saved.length` long when it does)."""
    return len(head) >= saved.length and _digest(head[: saved.length]) == saved.digest


def fingerprint_tells(head: bytes, saved: Fingerprint) -> bool:
    """Whether a file starting with `head` is the one `saved` was taken from, as far as
    content alone can tell: `saved` matches and covers the first line whole (or
    FINGERPRINT_BYTES). A shorter one (empty: saved while the file was empty) is a prefix
    any file may start with, so it tells nothing without the inode."""
    covered = b"\n" in head[: saved.length] or saved.length >= FINGERPRINT_BYTES
    return covered and fingerprint_matches(head, saved)


def file_key(dev: int, ino: int, head: bytes, *, final: bool, previous: str | None) -> str | None:
    """`dev:ino:hash-of-first-line`, or None while the first line is still incomplete.

    `final` accepts an incomplete first line (the file will not grow: end of --once, or
    rotated away). `previous` is the key of the content a truncation replaced, mixed in so
    the new content's records never share ids with the old content's.
    """
    end = head.find(b"\n")
    if end >= 0:
        head = head[: end + 1]
    elif len(head) < FINGERPRINT_BYTES and not final:
        return None
    if not head:
        return None
    salt = previous.encode() if previous else b""
    return f"{dev}:{ino}:{_digest(salt + head)}"
