"""File identity: keys stable as a file grows, fingerprints that tell reused inodes apart."""

from __future__ import annotations

import os
from pathlib import Path

from shipper.sources.tail.identity import (
    FINGERPRINT_BYTES,
    Fingerprint,
    file_key,
    fingerprint_matches,
    fingerprint_tells,
)
from shipper.sources.tail.readers import PlainReader


def test_key_waits_for_a_complete_first_line_then_never_changes() -> None:
    assert file_key(1, 2, b"", final=False, previous=None) is None
    assert file_key(1, 2, b"2024-05-01T12:00:00Z std", final=False, previous=None) is None
    key = file_key(1, 2, b"first line\n", final=False, previous=None)
    assert key is not None and key.startswith("1:2:")
    assert file_key(1, 2, b"first line\nsecond line\n", final=False, previous=None) == key
    assert file_key(1, 3, b"first line\n", final=False, previous=None) != key
    assert file_key(1, 2, b"other first\n", final=False, previous=None) != key


def test_key_of_an_incomplete_first_line() -> None:
    assert file_key(1, 2, b"partial", final=True, previous=None) is not None
    long_line = b"x" * FINGERPRINT_BYTES  # no newline within the fingerprint window
    assert file_key(1, 2, long_line, final=False, previous=None) is not None


def test_key_after_truncation_differs_even_for_identical_content() -> None:
    first = file_key(1, 2, b"same\n", final=False, previous=None)
    assert file_key(1, 2, b"same\n", final=False, previous=first) != first


def test_fingerprint_grows_with_a_short_file_and_detects_other_content(tmp_path: Path) -> None:
    path = tmp_path / "f.log"
    path.write_bytes(b"abc\n")
    reader = PlainReader(os.open(path, os.O_RDONLY))
    try:
        short = Fingerprint.of(reader.head())
        assert short.length == 4
        with open(path, "ab") as fh:
            fh.write(b"y" * 2000)
        assert fingerprint_matches(reader.head(), short)  # the first 4 bytes are unchanged
        long = Fingerprint.of(reader.head())
        assert long.length == FINGERPRINT_BYTES and fingerprint_matches(reader.head(), long)
        with open(path, "r+b") as fh:
            fh.write(b"X")
        assert not fingerprint_matches(reader.head(), short)
        assert not fingerprint_matches(reader.head(), long)
        os.truncate(path, 2)
        assert not fingerprint_matches(reader.head(), short)  # shorter than the fingerprint
    finally:
        reader.close()


def test_only_a_fingerprint_covering_the_first_line_tells_content_apart() -> None:
    head = b"2024-05-01T12:00:00.1Z stdout F b\n2024-05-01T12:00:00.2Z stdout F c\n"
    empty, partial = Fingerprint.of(b""), Fingerprint.of(head[:10])
    assert fingerprint_matches(head, empty) and fingerprint_matches(head, partial)
    assert not fingerprint_tells(head, empty) and not fingerprint_tells(head, partial)
    assert fingerprint_tells(head, Fingerprint.of(head[:34]))  # the first line, whole
    assert not fingerprint_tells(head, Fingerprint.of(b"2024-05-01T12:00:00.1Z stdout F a\n"))
    long_line = b"x" * (FINGERPRINT_BYTES + 10)  # no newline within the fingerprint window
    assert fingerprint_tells(long_line, Fingerprint.of(long_line[:FINGERPRINT_BYTES]))
