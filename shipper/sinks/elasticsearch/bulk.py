"""The `_bulk` API: request bodies built as bytes, responses read item by item.

A `BulkBatch` keeps the documents' blocks beside their action lines, so a body is one
join and an item of the answer maps back to the ticket it acknowledges.

An answer of 200 says little: each item carries its own status (peers.md §4 rows
11-13). Items are sorted into delivered, to retry alone (429, 5xx), and rejected
for good (other 4xx), so one bad document never holds back or doubles the rest.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain, repeat
from operator import itemgetter
from typing import Any, NamedTuple

import orjson

from shipper.record import Documents

CONTENT_TYPE = "application/x-ndjson"
BULK_FILTER_PATH = "errors,items.*.status,items.*.error.type,items.*.error.reason"
_STATUS = itemgetter("status")
_ALL_STORED_HEAD = b'{"errors":false,"items":['
# Item statuses that mean stored, for `index` and for `create` (409: stored before).
_DONE = (frozenset(range(200, 300)), frozenset([*range(200, 300), 409]))


class BulkResponseError(Exception):
    """A `_bulk` answer that cannot be matched to the request item by item."""


class ItemError(NamedTuple):
    """An item Elasticsearch refused: its place in the request, status and error."""

    position: int
    status: int
    error: dict[str, str]  # {"type": ..., "reason": ...}


@dataclass(frozen=True, slots=True)
class Rejected:
    """A document refused for good, with what is needed to dead-letter or replay it."""

    index: str
    id: str | None
    status: int
    error: dict[str, str]
    doc: bytes


@dataclass(slots=True)
class BulkOutcome:
    """What became of a request's items; those in neither list were delivered."""

    retry: list[int] = field(default_factory=list)  # positions to send again (429, 5xx)
    rejected: list[ItemError] = field(default_factory=list)


def action_lines(
    block: Documents, indices: Sequence[str], op_type: str, with_ids: bool
) -> list[bytes]:
    """Each document's action line, newline-terminated; `indices[i]` names document `i`'s index.

    This runs for every document shipped, so the usual block (one index, ids from the
    file's prefix and each offset) costs one `%` formatting per document, done in C.
    A document with an empty id gets none (Elasticsearch assigns one), as do all
    documents when `with_ids` is false.
    """
    count = len(block)
    if not count:
        return []
    if indices.count(indices[0]) != count or (with_ids and block.ids is not None):
        return _each_action_line(block, indices, op_type, with_ids)
    head = _action_head(op_type, indices[0])
    if not with_ids:
        return [head + b"}}\n"] * count
    prefix = orjson.dumps(block.id_prefix)[:-1]  # the id's opening quote and escaped prefix
    template = b'%s,"_id":%s%%x"}}\n' % (head.replace(b"%", b"%%"), prefix.replace(b"%", b"%%"))
    return list(map(template.__mod__, block.offsets))


def _each_action_line(
    block: Documents, indices: Sequence[str], op_type: str, with_ids: bool
) -> list[bytes]:
    """Action lines one by one: a block whose index changes (midnight) or a replay's ids."""
    ids: Iterable[str] = block.id_list() if with_ids else repeat("", len(indices))
    heads: dict[str, bytes] = {}
    lines: list[bytes] = []
    for index, doc_id in zip(indices, ids, strict=True):
        head = heads.get(index)
        if head is None:
            head = heads[index] = _action_head(op_type, index)
        if doc_id:
            lines.append(b'%s,"_id":%s}}\n' % (head, orjson.dumps(doc_id)))
        else:
            lines.append(head + b"}}\n")
    return lines


def _action_head(op_type: str, index: str) -> bytes:
    """An action line up to its index name: `{"create":{"_index":"NAME"`."""
    return b'{%s:{"_index":%s' % (orjson.dumps(op_type), orjson.dumps(index))


class BulkBatch:
    """Documents that go in one `_bulk` request: the blocks they came in, for acks, with
    each document's action line and index name (kept for dead letters).

    A request's item `i` is `actions[i]` and the `i`-th document of `blocks` taken in
    order; `take` and `slice` map items back to blocks for retries and halving.
    """

    __slots__ = ("actions", "blocks", "first_added", "indices", "nbytes")

    def __init__(self, blocks: list[Documents], actions: list[bytes], indices: list[str]) -> None:
        self.blocks = blocks
        self.actions = actions
        self.indices = indices
        self.nbytes = 0  # body bytes (kept by whoever fills the batch)
        self.first_added = 0.0  # when its first document came (kept by whoever fills it)

    def __len__(self) -> int:
        return len(self.actions)

    def add(
        self, block: Documents, start: int, stop: int, actions: list[bytes], indices: list[str]
    ) -> None:
        """Documents `start` to `stop` of `block`, with the action lines and indices of all."""
        if start >= stop:
            return
        self.blocks.append(_part(block, start, stop))
        self.actions += actions[start:stop]
        self.indices += indices[start:stop]

    def body(self) -> bytes:
        """The NDJSON body: each action line, then its document (both end in a newline)."""
        return b"".join(self._joined(max(1, len(self))))

    def pieces(self, documents: int) -> tuple[int, Iterator[bytes]]:
        """The body's length, and the body in pieces of `documents` documents each.

        Each piece is joined only when the previous one was sent, so a request in
        flight holds one piece of the body beside the documents' own pieces.
        """
        length = sum(map(len, self.actions)) + sum(block.nbytes for block in self.blocks)
        return length, self._joined(documents)

    def _joined(self, documents: int) -> Iterator[bytes]:
        """The body, `documents` documents (with their action lines) joined at a time."""
        run: list[bytes] = []  # the parts of a piece begun in earlier blocks
        held = 0  # and its documents
        first = 0
        for block in self.blocks:
            count = len(block)
            parts = block.parts(self.actions[first : first + count])
            first += count
            width = len(parts) // count
            i = min(count, documents - held) if held else 0
            if held:
                run += parts[: i * width]
                held += i
                if held < documents:
                    continue
                yield b"".join(run)
            while count - i >= documents:
                yield b"".join(parts[i * width : (i + documents) * width])
                i += documents
            run, held = parts[i * width :], count - i
        if held:
            yield b"".join(run)

    def slice(self, start: int, stop: int) -> BulkBatch:
        """Items `start` to `stop` (halving a request refused whole)."""
        blocks: list[Documents] = []
        first = 0
        for block in self.blocks:
            low, high = max(start - first, 0), min(stop - first, len(block))
            if low < high:
                blocks.append(_part(block, low, high))
            first += len(block)
        return BulkBatch(blocks, self.actions[start:stop], self.indices[start:stop])

    def take(self, positions: Sequence[int]) -> BulkBatch:
        """The items at `positions`, ascending (retries, rejections)."""
        return BulkBatch(
            self.blocks_at(positions),
            [self.actions[i] for i in positions],
            [self.indices[i] for i in positions],
        )

    def blocks_at(self, positions: Sequence[int]) -> list[Documents]:
        """The documents at `positions`, ascending, in their blocks."""
        starts = list(accumulate(map(len, self.blocks), initial=0))
        rows: dict[int, list[int]] = {}
        for position in positions:
            n = bisect_right(starts, position) - 1
            rows.setdefault(n, []).append(position - starts[n])
        return [self.blocks[n].pick(picked) for n, picked in rows.items()]


def _part(block: Documents, start: int, stop: int) -> Documents:
    """Documents `start` to `stop` of `block`: the block itself when that is all of it."""
    return block if stop - start == len(block) else block.slice(start, stop)


def parse_bulk_response(body: bytes, count: int, op_type: str) -> BulkOutcome:
    """Sort the items of a 200 answer to a request of `count` items sent with `op_type`.

    The answer counts only when it is read whole: it must parse completely and hold
    exactly one item, with a status, per action sent; anything else (an answer cut
    short by a proxy, fewer items, an HTML page) raises `BulkResponseError` and the
    request is sent again whole. The usual answer, every item stored, is checked by
    one comparison; other answers are parsed, with checks that run in C (`map`, `set`)
    rather than a Python step per item.
    """
    done = _DONE[op_type == "create"]
    if _stored_alike(body, count, done):
        return BulkOutcome()
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BulkResponseError(f"unreadable _bulk answer ({exc}): {body[:200]!r}") from exc
    items = answer.get("items") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise BulkResponseError(f"_bulk answer without a list of items: {body[:200]!r}")
    if len(items) != count:
        raise BulkResponseError(f"_bulk answered {len(items)} items for {count} sent")
    try:
        if count and (set(map(type, items)) != {dict} or set(map(len, items)) != {1}):
            raise TypeError("an item is not an object with one action")
        results = list(chain.from_iterable(map(dict.values, items)))
        statuses = list(map(_STATUS, results))
        if not set(map(type, statuses)) <= {int}:
            raise TypeError("a status is not a number")
    except (KeyError, TypeError) as exc:
        raise BulkResponseError(f"malformed _bulk items ({exc}): {body[:200]!r}") from exc
    outcome = BulkOutcome()
    if set(statuses) <= done:
        return outcome
    for position, (status, result) in enumerate(zip(statuses, results, strict=True)):
        if 200 <= status < 300 or (status == 409 and op_type == "create"):
            continue  # 409 on create: an earlier attempt already stored it
        if status == 429 or status >= 500:
            outcome.retry.append(position)
        else:
            outcome.rejected.append(ItemError(position, status, _error_of(result)))
    return outcome


def _stored_alike(body: bytes, count: int, done: frozenset[int]) -> bool:
    """Whether `body` is exactly `{"errors":false,"items":[ITEM,ITEM,...]}`: `count` copies
    of one item that says stored. With our filter_path, that is Elasticsearch's answer
    when every document went in (`{"create":{"status":201}}` each); comparing it whole
    costs a small fraction of parsing it (0.02 against 0.24 CPU-s per million items)."""
    if not count or not body.startswith(_ALL_STORED_HEAD) or not body.endswith(b"]}"):
        return False
    start = len(_ALL_STORED_HEAD)
    item = body[start : body.find(b"}}", start) + 2]
    if body != b"%s%s%s]}" % (_ALL_STORED_HEAD, item, (b"," + item) * (count - 1)):
        return False
    try:
        (result,) = orjson.loads(item).values()
        return set(result) == {"status"} and result["status"] in done
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return False


def request_error(body: bytes, status: int) -> dict[str, str]:
    """The `{"type", "reason"}` of an answer refusing a whole request."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return _error_of(answer)
    return {"type": f"http_{status}", "reason": body[:500].decode("utf-8", "replace")}


def _error_of(result: dict[str, Any]) -> dict[str, str]:
    error = result.get("error")
    if isinstance(error, dict):
        return {"type": str(error.get("type", "")), "reason": str(error.get("reason", ""))}
    return {"type": "", "reason": str(error or "")}
