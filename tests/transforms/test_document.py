"""Documents: the fluentd-elasticsearch shape, byte for byte, and deterministic ids."""

from __future__ import annotations

import orjson

from shipper.record import AckTracker, Record
from shipper.transforms.document import DocumentEncoder, file_fields

CID = "ab" * 32
FIELDS = file_fields("default", "web-7d9c", "nginx", "0b1c2d3e-4f50", CID, {"host": "node-1"})


def encode(records: list[Record], key: str = "1:2:abc") -> list:
    tracker = AckTracker(0, lambda offset: None, lambda n: None)
    ticket = tracker.issue(len(records), 0, 0)
    return DocumentEncoder(key, CID, FIELDS).encode(records, ticket)


def test_the_document_has_spec_shape_and_key_order() -> None:
    (event,) = encode([Record("2024-05-01T12:00:00.123456789Z", "stdout", 'say "hi" ✓', 7)])
    assert event.doc == (
        b'{"@timestamp":"2024-05-01T12:00:00.123456789Z","stream":"stdout",'
        b'"log":"say \\"hi\\" \xe2\x9c\x93","docker":{"container_id":"' + CID.encode() + b'"},'
        b'"kubernetes":{"namespace_name":"default","pod_name":"web-7d9c",'
        b'"container_name":"nginx","pod_id":"0b1c2d3e-4f50","host":"node-1"}}'
    )
    assert event.timestamp == "2024-05-01T12:00:00.123456789Z"


def test_offsets_in_other_zones_become_utc_keeping_their_digits() -> None:
    (event,) = encode([Record("2024-05-01T14:00:00.1234+02:00", "stderr", "x", 0, True)])
    doc = orjson.loads(event.doc)
    assert doc["@timestamp"] == "2024-05-01T12:00:00.1234Z"
    assert doc["log_truncated"] is True and doc["stream"] == "stderr"


def test_ids_are_deterministic_and_distinct_per_offset() -> None:
    records = [Record("2024-05-01T12:00:00Z", "stdout", "same line", off) for off in (0, 10)]
    first, second = encode(records), encode(records)
    assert [e.id for e in first] == [e.id for e in second]
    assert first[0].id != first[1].id
    assert encode(records, key="1:3:abc")[0].id != first[0].id  # another file, another id
