import orjson
import pytest

from shipper.record import AckTracker, Documents, Records
from shipper.sinks.elasticsearch.bulk import (
    BulkBatch,
    BulkOutcome,
    BulkResponseError,
    ItemError,
    action_lines,
    parse_bulk_response,
    request_error,
)
from shipper.transforms.encoding.document import DocumentEncoder
from tests.sinks.support import Acks

DOCS = [b'{"log":"a"}\n', b'{"log":"b\\n"}\n', b"{}\n"]


def _block(n: int = 2, ids: list[str] | None = None, prefix: str = "id-") -> Documents:
    ticket = AckTracker(0, lambda _: None, lambda _: None).issue(n, resume=n, nbytes=0)
    times = [b"2024-05-01T12:00:00Z"] * n
    return Documents(DOCS[:n], times, list(range(n)), prefix, {}, ticket, ids)


def _body(block: Documents, indices: list[str], op_type: str, with_ids: bool) -> bytes:
    return BulkBatch([block], action_lines(block, indices, op_type, with_ids), indices).body()


def test_create_with_ids_byte_exact() -> None:
    body = _body(_block(), ["logstash-2024.05.01", "other"], "create", with_ids=True)
    assert body == (
        b'{"create":{"_index":"logstash-2024.05.01","_id":"id-0"}}\n{"log":"a"}\n'
        b'{"create":{"_index":"other","_id":"id-1"}}\n{"log":"b\\n"}\n'
    )


def test_index_op_without_ids() -> None:
    body = _body(_block(), ["i", "i"], "index", with_ids=False)
    assert (
        body == b'{"index":{"_index":"i"}}\n{"log":"a"}\n{"index":{"_index":"i"}}\n{"log":"b\\n"}\n'
    )


def test_empty_id_is_left_out_and_strange_ids_are_escaped() -> None:
    block = _block(3, ids=["", 'a"b\\c', "id-2"])
    body = _body(block, ["i", "i", "i"], "create", with_ids=True)
    lines = body.split(b"\n")
    assert orjson.loads(lines[0]) == {"create": {"_index": "i"}}
    assert orjson.loads(lines[2]) == {"create": {"_index": "i", "_id": 'a"b\\c'}}
    assert len(lines) == 7 and lines[-1] == b""


def test_one_template_per_block_escapes_percent_and_quotes_like_each_line_alone() -> None:
    prefix = 'p%s"\\-'
    block = _block(3, prefix=prefix)
    block.offsets = [0, 255, 4096]
    indices = ["a%d-2024"] * 3
    lines = action_lines(block, indices, "create", with_ids=True)
    assert [orjson.loads(line) for line in lines] == [
        {"create": {"_index": "a%d-2024", "_id": f"{prefix}{offset:x}"}}
        for offset in (0, 255, 4096)
    ]
    one_by_one = _block(3, ids=block.id_list())
    assert lines == action_lines(one_by_one, indices, "create", with_ids=True)


def test_body_is_valid_ndjson_for_many_documents() -> None:
    blocks = Acks().events(50)
    batch = BulkBatch([], [], [])
    for block in blocks:
        indices = ["x"] * len(block)
        batch.add(block, 0, len(block), action_lines(block, indices, "create", True), indices)
    lines = batch.body().rstrip(b"\n").split(b"\n")
    assert len(lines) == 100
    assert [orjson.loads(line)["log"] for line in lines[1::2]] == [f"line {n}" for n in range(50)]


def _encoded(acks: Acks, count: int, start: int) -> Documents:
    """`count` records as the file pipeline's encoder makes them: kept as pieces."""
    records = Records()
    records.add_columns(
        [b"2024-05-01T12:00:00.123456789Z"] * count,
        [b"stdout", b"stderr"] * (count // 2) + [b"stdout"] * (count % 2),
        [f'line {n} "%s"' for n in range(start, start + count)],
        [n * 100 for n in range(start, start + count)],
    )
    encoder = DocumentEncoder("file", "c1", {"kubernetes": {"pod_name": "p%s"}})
    return encoder.encode(records, acks.tracker.issue(count, resume=start + count, nbytes=1))


@pytest.mark.parametrize("documents", [1, 7, 50, 500])
@pytest.mark.parametrize("kind", ["whole", "pieces", "both"])
def test_pieces_are_the_body_cut_every_so_many_documents(documents: int, kind: str) -> None:
    acks = Acks()
    whole = acks.events(50)
    blocks = {
        "whole": whole,
        "pieces": [_encoded(acks, 9, 0), _encoded(acks, 1, 9), _encoded(acks, 40, 10)],
        "both": [whole[0], _encoded(acks, 13, 10), whole[1].slice(3, 10), _encoded(acks, 20, 30)],
    }[kind]
    batch = BulkBatch([], [], [])
    for block in blocks:
        indices = ["x"] * len(block)
        batch.add(block, 0, len(block), action_lines(block, indices, "create", True), indices)
    assert len(batch) == 50
    assert batch.body() == b"".join(
        action + doc
        for action, doc in zip(
            batch.actions, [doc for block in blocks for doc in block.docs], strict=True
        )
    )
    length, pieces = batch.pieces(documents)
    cut = list(pieces)
    body = batch.body()
    assert b"".join(cut) == body and length == len(body)
    assert [piece.count(b"\n") for piece in cut[:-1]] == [2 * documents] * (len(cut) - 1)
    assert len(cut) == -(-50 // documents)


def _batch_of_parts() -> BulkBatch:
    """Items 0-2: block a (whole); items 3-6: documents 1-4 of block b."""
    acks = Acks()
    (a,) = acks.events(3)
    (b,) = acks.events(6, start=10)
    batch = BulkBatch([], [], [])
    for block, start, stop in ((a, 0, 3), (b, 1, 5)):
        indices = [f"index-{n}" for n in range(len(block))]
        batch.add(block, start, stop, action_lines(block, indices, "create", True), indices)
    return batch


def _logs(blocks: list[Documents]) -> list[str]:
    return [orjson.loads(doc)["log"] for block in blocks for doc in block.docs]


def test_a_batch_keeps_whole_blocks_and_slices_of_blocks() -> None:
    batch = _batch_of_parts()
    assert len(batch) == 7 and [len(block) for block in batch.blocks] == [3, 4]
    assert batch.indices == ["index-0", "index-1", "index-2", *(f"index-{n}" for n in range(1, 5))]
    lines = batch.body().split(b"\n")[:-1]
    assert [orjson.loads(line)["log"] for line in lines[1::2]] == _logs(batch.blocks)
    assert _logs(batch.blocks) == [f"line {n}" for n in (0, 1, 2, 11, 12, 13, 14)]


def test_take_and_slice_map_items_back_to_their_blocks() -> None:
    batch = _batch_of_parts()
    a, b = batch.blocks
    taken = batch.take([1, 4, 6])
    assert _logs(taken.blocks) == ["line 1", "line 12", "line 14"]
    assert [block.ticket for block in taken.blocks] == [a.ticket, b.ticket]
    assert taken.actions == [batch.actions[1], batch.actions[4], batch.actions[6]]
    assert taken.indices == ["index-1", "index-2", "index-4"]
    assert [block.offsets for block in batch.blocks_at([5])] == [[1300]]
    left, right = batch.slice(0, 4), batch.slice(4, 7)
    assert _logs(left.blocks) == ["line 0", "line 1", "line 2", "line 11"]
    assert _logs(right.blocks) == ["line 12", "line 13", "line 14"]
    assert left.blocks[0] is a  # a whole block is kept, not copied
    assert left.body() + right.body() == batch.body()


def _answer(*items: tuple[str, int, dict | None], errors: bool = True) -> bytes:
    listed = []
    for op, status, error in items:
        result: dict = {"_index": "i", "_id": "x", "status": status}
        if error is not None:
            result["error"] = error
        listed.append({op: result})
    return orjson.dumps({"errors": errors, "took": 3, "items": listed})


def test_errors_false_is_delivered_once_every_item_is_read() -> None:
    es8 = b'{"errors":false,"took":1,"items":[{"create":{"status":201}},{"create":{"status":409}}]}'
    outcome = parse_bulk_response(es8, 2, "create")
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
        b"",
        b'{"errors":false,"took":1,"items":' + b"garbage that is never parsed",
        b'{"errors":false,"took":1,"items":[{"create":{"status":201}},{"create":{"sta',  # cut short
        b'{"errors":false,"took":1,"items":[{"create":{"status":201}}]}',  # 1 item for 2 sent
        b'{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":"201"}}]}',
        b'{"errors":false,"items":[{"create":{"status":201}},{"create":[201]}]}',
        b'{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201},"x":{}}]}',
        b'[{"create":{"status":201}},{"create":{"status":201}}]',
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


def test_all_stored_answer_is_compared_whole() -> None:
    item = b'{"create":{"status":201}}'
    body = b'{"errors":false,"items":[' + b",".join([item] * 3) + b"]}"
    assert parse_bulk_response(body, 3, "create") == BulkOutcome()
    with pytest.raises(BulkResponseError):
        parse_bulk_response(body, 4, "create")
    with pytest.raises(BulkResponseError):
        parse_bulk_response(body[:-1], 3, "create")
    # one item that differs takes the item-by-item path, which still finds it
    odd = body.replace(item, b'{"create":{"status":503}}', 1)
    assert parse_bulk_response(odd, 3, "create").retry == [0]
    # alike items that do not say stored are not taken for stored
    refused = b'{"errors":false,"items":[' + b",".join([b'{"index":{"status":409}}'] * 2) + b"]}"
    assert [i.position for i in parse_bulk_response(refused, 2, "index").rejected] == [0, 1]
