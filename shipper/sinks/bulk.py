"""The `_bulk` API: request bodies built as bytes, responses read item by item.

An answer of 200 says little: each item carries its own status (peers.md §4 rows
11-13). Items are sorted into delivered, to retry alone (429, 5xx), and rejected
for good (other 4xx), so one bad document never holds back or doubles the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from shipper.record import Event

CONTENT_TYPE = "application/x-ndjson"
BULK_FILTER_PATH = "errors,items.*.status,items.*.error.type,items.*.error.reason"
_HEAD = 96  # both `{"errors":false,"took":...` (8.x) and `{"took":...,"errors":false` (7.x)


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


def encode_bulk(
    events: Sequence[Event], indices: Sequence[str], op_type: str, with_ids: bool
) -> bytes:
    """The NDJSON body: an action line, then the document, each newline-terminated.

    `indices[i]` is the index of `events[i]`. An event with an empty id gets none
    (Elasticsearch assigns one), as do all events when `with_ids` is false.
    """
    if not events:
        return b""
    op = orjson.dumps(op_type)
    dumps = orjson.dumps
    parts: list[bytes] = []
    append = parts.append
    last: str | None = None
    prefix = b""
    newline = b""  # each action line carries the newline that ends the document before it
    # Two appends per document and one copy of it (by the join): this loop is hot.
    for event, index in zip(events, indices, strict=True):
        if index != last:
            last = index
            prefix = b'{%s:{"_index":%s' % (op, dumps(index))
        if with_ids and event.id:
            append(b'%s%s,"_id":%s}}\n' % (newline, prefix, dumps(event.id)))
        else:
            append(b"%s%s}}\n" % (newline, prefix))
        append(event.doc)
        newline = b"\n"
    append(b"\n")
    return b"".join(parts)


def parse_bulk_response(body: bytes, count: int, op_type: str) -> BulkOutcome:
    """Sort the items of a 200 answer to a request of `count` items sent with `op_type`."""
    if b'"errors":false' in body[:_HEAD]:
        return BulkOutcome()
    try:
        items = orjson.loads(body)["items"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise BulkResponseError(f"unreadable _bulk answer: {body[:200]!r}") from exc
    if not isinstance(items, list):
        raise BulkResponseError(f"unreadable _bulk answer: {body[:200]!r}")
    if len(items) != count:
        raise BulkResponseError(f"_bulk answered {len(items)} items for {count} sent")
    outcome = BulkOutcome()
    for position, item in enumerate(items):
        try:
            (result,) = item.values()
            status = int(result["status"])
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise BulkResponseError(f"malformed _bulk item: {item!r:.200}") from exc
        if 200 <= status < 300 or (status == 409 and op_type == "create"):
            continue  # 409 on create: an earlier attempt already stored it
        if status == 429 or status >= 500:
            outcome.retry.append(position)
        else:
            outcome.rejected.append(ItemError(position, status, _error_of(result)))
    return outcome


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
