import orjson
import pytest

from shipper.sinks.bulk import (
    BulkResponseError,
    ItemError,
    encode_bulk,
    parse_bulk_response,
    request_error,
)
from tests.sinks.support import Acks


def _events(n: int = 2) -> list:
    events = Acks().events(n)
    for event, doc in zip(events, [b'{"log":"a"}', b'{"log":"b\\n"}', b"{}"], strict=False):
        event.doc = doc
    return events


def test_create_with_ids_byte_exact() -> None:
    body = encode_bulk(_events(), ["logstash-2024.05.01", "other"], "create", with_ids=True)
    assert body == (
        b'{"create":{"_index":"logstash-2024.05.01","_id":"id-0"}}\n{"log":"a"}\n'
        b'{"create":{"_index":"other","_id":"id-1"}}\n{"log":"b\\n"}\n'
    )


def test_index_op_without_ids() -> None:
    body = encode_bulk(_events(), ["i", "i"], "index", with_ids=False)
    assert (
        body == b'{"index":{"_index":"i"}}\n{"log":"a"}\n{"index":{"_index":"i"}}\n{"log":"b\\n"}\n'
    )


def test_empty_id_is_left_out_and_strange_ids_are_escaped() -> None:
    events = _events(3)
    events[0].id = ""
    events[1].id = 'a"b\\c'
    body = encode_bulk(events, ["i", "i", "i"], "create", with_ids=True)
    lines = body.split(b"\n")
    assert orjson.loads(lines[0]) == {"create": {"_index": "i"}}
    assert orjson.loads(lines[2]) == {"create": {"_index": "i", "_id": 'a"b\\c'}}
    assert len(lines) == 7 and lines[-1] == b""


def test_body_is_valid_ndjson_for_many_events() -> None:
    events = Acks().events(50)
    body = encode_bulk(events, ["x"] * 50, "create", with_ids=True)
    lines = body.rstrip(b"\n").split(b"\n")
    assert len(lines) == 100
    assert [orjson.loads(line)["log"] for line in lines[1::2]] == [f"line {n}" for n in range(50)]


def _answer(*items: tuple[str, int, dict | None], errors: bool = True) -> bytes:
    listed = []
    for op, status, error in items:
        result: dict = {"_index": "i", "_id": "x", "status": status}
        if error is not None:
            result["error"] = error
        listed.append({op: result})
    return orjson.dumps({"errors": errors, "took": 3, "items": listed})


def test_errors_false_is_all_delivered_without_reading_items() -> None:
    body = b'{"errors":false,"took":1,"items":' + b"garbage that is never parsed"
    outcome = parse_bulk_response(body, 5, "create")
    assert outcome.retry == [] and outcome.rejected == []
    es7 = b'{"took":12,"errors":false,"items":[{"create":{"status":201}}]}'
    assert parse_bulk_response(es7, 1, "create").retry == []


def test_mixed_items_are_sorted() -> None:
    conflict = {"type": "document_parsing_exception", "reason": "[1:2] object mapping ..."}
    body = _answer(
        ("create", 201, None),
        ("create", 409, {"type": "version_conflict_engine_exception", "reason": "exists"}),
        ("create", 429, {"type": "es_rejected_execution_exception", "reason": "queue full"}),
        ("create", 400, conflict),
        ("create", 503, {"type": "unavailable_shards_exception", "reason": "no shard"}),
        ("create", 404, "index_not_found"),
        ("create", 200, None),
    )
    outcome = parse_bulk_response(body, 7, "create")
    assert outcome.retry == [2, 4]
    assert outcome.rejected == [
        ItemError(3, 400, conflict),
        ItemError(5, 404, {"type": "", "reason": "index_not_found"}),
    ]


def test_409_is_a_rejection_for_index_op() -> None:
    body = _answer(("index", 409, {"type": "version_conflict_engine_exception", "reason": "r"}))
    outcome = parse_bulk_response(body, 1, "index")
    assert [item.position for item in outcome.rejected] == [0]


@pytest.mark.parametrize(
    "body",
    [
        b"<html>bad gateway</html>",
        b'{"errors":true}',
        b'{"errors":true,"items":{}}',
        b'{"errors":true,"items":[{"create":{"status":201}}]}',  # 1 item for 2 sent
        b'{"errors":true,"items":[{"create":{}},{"create":{"status":201}}]}',
        b'{"errors":true,"items":[1,2]}',
    ],
)
def test_unmatchable_answers_raise(body: bytes) -> None:
    with pytest.raises(BulkResponseError):
        parse_bulk_response(body, 2, "create")


def test_request_error_reads_elasticsearch_errors_or_keeps_the_text() -> None:
    body = b'{"error":{"type":"illegal_argument_exception","reason":"bad"},"status":400}'
    assert request_error(body, 400) == {"type": "illegal_argument_exception", "reason": "bad"}
    assert request_error(b"<html>too large</html>", 413) == {
        "type": "http_413",
        "reason": "<html>too large</html>",
    }
