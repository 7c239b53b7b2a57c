"""journalctl JSON lines to documents: the image's field names, @timestamp, safe bytes, ids."""

from __future__ import annotations

import base64

import orjson
import pytest

from shipper.sources.journal.entry import EntryError, encode_entry, entry_id

CURSOR = "s=aa11;i=5;b=0123;m=3e8;t=661e1ce1ac843;x=d2f0"


def line(**fields: object) -> bytes:
    return orjson.dumps({"__CURSOR": CURSOR, "__REALTIME_TIMESTAMP": "1767225600000001", **fields})


def test_fields_lose_their_leading_underscores_and_address_fields_are_left_out() -> None:
    entry = encode_entry(
        line(
            __MONOTONIC_TIMESTAMP="1000",
            __SEQNUM="5",
            _SYSTEMD_UNIT="kubelet.service",
            _PID="42",
            MESSAGE="hello",
            PRIORITY="6",
        )
    )
    doc = orjson.loads(entry.doc)
    assert doc == {
        "@timestamp": "2026-01-01T00:00:00.000001Z",
        "SYSTEMD_UNIT": "kubelet.service",
        "PID": "42",
        "MESSAGE": "hello",
        "PRIORITY": "6",
    }
    assert entry.time == b"2026-01-01T00:00:00.000001Z" and entry.cursor == CURSOR
    assert entry.doc.endswith(b"\n") and entry.doc.count(b"\n") == 1


def test_bytes_that_are_utf8_become_text_others_keep_their_exact_bytes() -> None:
    raw = b"bad \xff\xfe end"
    entry = encode_entry(line(MESSAGE=list(b"nul \x00 ok"), CODE=list(raw)))
    doc = orjson.loads(entry.doc)
    assert doc["MESSAGE"] == "nul \x00 ok" and "MESSAGE_BASE64" not in doc
    assert doc["CODE"] == "bad \ufffd\ufffd end"
    assert base64.b64decode(doc["CODE_BASE64"]) == raw


def test_a_field_set_twice_keeps_both_values() -> None:
    doc = orjson.loads(encode_entry(line(MESSAGE=["one", list(b"two")])).doc)
    assert doc["MESSAGE"] == ["one", "two"]


def test_the_id_comes_from_the_cursor_without_its_file_parts() -> None:
    same_entry_other_file = "s=bb22;i=77;b=0123;m=3e8;t=661e1ce1ac843;x=d2f0"
    assert entry_id(CURSOR) == entry_id(same_entry_other_file)
    assert entry_id(CURSOR) != entry_id(CURSOR.replace("m=3e8", "m=3e9"))
    assert encode_entry(line(MESSAGE="x")).doc_id == entry_id(CURSOR)


@pytest.mark.parametrize(
    "bad",
    [
        b'{"__CURSOR": "s=1", "__REALTIME_TIMESTAMP": "12',  # cut short
        b"[1, 2]",
        b'{"__REALTIME_TIMESTAMP": "1", "MESSAGE": "no cursor"}',
        b'{"__CURSOR": "s=1", "__REALTIME_TIMESTAMP": "soon"}',
        b'{"__CURSOR": "s=1", "__REALTIME_TIMESTAMP": "1", "M": [1, 999]}',
    ],
)
def test_lines_that_are_not_entries_raise(bad: bytes) -> None:
    with pytest.raises(EntryError):
        encode_entry(bad)
