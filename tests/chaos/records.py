"""Each chaos record's text: unique, and checkable on arrival without keeping a copy.

The text is a pure function of (container, sequence number), so what was written is
just a count per container, and a document's text is checked by writing it again.
"""

from __future__ import annotations

import re
import string
import zlib

_PAD = (string.ascii_letters + string.digits) * 64
MAX_SIZE = 2000
_KEY = re.compile(r"c(\d+)-s(\d+) ")


def text(container: int, seq: int, size: int) -> str:
    """`c<container>-s<seq> <crc32> <padding>`, the padding `size` characters on average
    (from half to one and a half times that)."""
    assert 2 <= size <= MAX_SIZE
    key = f"c{container}-s{seq}"
    width = size // 2 + (seq * 7919 + container * 104729) % size
    start = (seq * 31 + container) % 62
    padding = _PAD[start : start + width]
    return f"{key} {zlib.crc32((key + padding).encode()):08x} {padding}"


def key_of(log: object) -> tuple[int, int] | None:
    """(container, seq) a document's text claims to be, or None if it names none."""
    if not isinstance(log, str):
        return None
    found = _KEY.match(log)
    return (int(found[1]), int(found[2])) if found else None
