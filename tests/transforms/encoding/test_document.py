"""Documents: the fluentd-elasticsearch shape, byte for byte, and deterministic ids."""

from __future__ import annotations

import orjson

from shipper.record import AckTracker, Documents, Record, Records
from shipper.transforms.encoding.document import DocumentEncoder, file_fields

CID = "ab" * 32
FIELDS = file_fields("default", "web-7d9c", "nginx", "0b1c2d3e-4f50", CID, {"host": "node-1"})


def encode(records: list[Record], key: str = "1:2:abc") -> Documents:
    tracker = AckTracker(0, lambda offset: None, lambda n: None)
    ticket = tracker.issue(len(records), 0, 0)
    return DocumentEncoder(key, CID, FIELDS).encode(Records.of(records), ticket)


def test_the_document_has_spec_shape_and_key_order() -> None:
    docs = encode([Record("2024-05-01T12:00:00.123456789Z", "stdout", 'say "hi" ✓', 7)])
    assert docs.docs == [
        b'{"@timestamp":"2024-05-01T12:00:00.123456789Z","stream":"stdout",'
        b'"log":"say \\"hi\\" \xe2\x9c\x93","docker":{"container_id":"' + CID.encode() + b'"},'
        b'"kubernetes":{"namespace_name":"default","pod_name":"web-7d9c",'
        b'"container_name":"nginx","pod_id":"0b1c2d3e-4f50","host":"node-1"}}\n'
    ]
    assert docs.times == [b"2024-05-01T12:00:00.123456789Z"] and docs.offsets == [7]


def test_offsets_in_other_zones_become_utc_keeping_their_digits() -> None:
    docs = encode(
        [
            Record("2024-05-01T12:00:00Z", "stdout", "x", 0),
            Record("2024-05-01T14:00:00.1234+02:00", "stderr", "y", 10, True),
        ]
    )
    first, second = map(orjson.loads, docs.docs)
    assert docs.times == [b"2024-05-01T12:00:00Z", b"2024-05-01T12:00:00.1234Z"]
    assert second["@timestamp"] == "2024-05-01T12:00:00.1234Z"
    assert second["log_truncated"] is True and second["stream"] == "stderr"
    assert "log_truncated" not in first


def test_ids_are_deterministic_and_distinct_per_offset() -> None:
    records = [Record("2024-05-01T12:00:00Z", "stdout", "same line", off) for off in (0, 10)]
    first, second = encode(records).id_list(), encode(records).id_list()
    assert first == second
    assert first[0] != first[1]
    assert encode(records, key="1:3:abc").id_list()[0] != first[0]  # another file, another id
