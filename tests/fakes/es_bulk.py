"""The `_bulk` body: NDJSON action lines and sources, checked the way BulkRequestParser does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import orjson

from tests.fakes.es_protocol import JsonDict, error_body

ACTIONS = ("create", "delete", "index", "update")
_META_KEYS = frozenset(
    {
        "_index",
        "_id",
        "routing",
        "op_type",
        "version",
        "version_type",
        "retry_on_conflict",
        "pipeline",
        "_source",
        "if_seq_no",
        "if_primary_term",
        "require_alias",
        "require_data_stream",
        "dynamic_templates",
        "list_executed_pipelines",
    }
)
_OBJECT_META_KEYS = frozenset({"_source", "dynamic_templates"})
_MAX_ID_BYTES = 512


class BulkRequestError(Exception):
    """The whole bulk request is refused; `body` is the answer."""

    def __init__(self, body: JsonDict) -> None:
        super().__init__(body["error"]["reason"])
        self.body = body


@dataclass(frozen=True)
class BulkOperation:
    """One action; `op_type` keys its answer (`index` with op_type create answers as create)."""

    op_type: str
    index: str | None
    doc_id: str | None
    source: bytes | None


def parse_bulk(body: bytes, default_index: str | None, major: int) -> list[BulkOperation]:
    """Split and validate a bulk body; raises BulkRequestError as Elasticsearch answers 400."""
    if body and not body.endswith(b"\n"):
        _refuse(
            "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"
        )
    lines = body.split(b"\n")[:-1]
    operations: list[BulkOperation] = []
    position = 0
    while position < len(lines):
        number, text = position + 1, lines[position].rstrip(b"\r")
        position += 1
        if not text.strip():
            continue
        action, meta = _parse_action(text, number, major)
        doc_id = _text(meta.get("_id"))
        index = _text(meta.get("_index")) or default_index
        op_type = "create" if action == "index" and meta.get("op_type") == "create" else action
        source = None
        if action != "delete":
            if position >= len(lines):  # an action without its source line is dropped, as ES does
                break
            source = lines[position].rstrip(b"\r")
            position += 1
        operations.append(BulkOperation(op_type, index, doc_id, source))
    _validate(operations)
    return operations


def _parse_action(text: bytes, number: int, major: int) -> tuple[str, JsonDict]:
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        _refuse("x_content_parse_exception", f"[{number}:{exc.colno}] {exc.msg}")
    malformed = f"Malformed action/metadata line [{number}], expected"
    if not isinstance(parsed, dict):
        _refuse(
            "illegal_argument_exception", f"{malformed} START_OBJECT but found [{_token(parsed)}]"
        )
    if not parsed:
        _refuse("illegal_argument_exception", f"{malformed} FIELD_NAME but found [END_OBJECT]")
    action, meta = next(iter(parsed.items()))
    if action not in ACTIONS:
        found = f"but found [{action}]"
        _refuse(
            "illegal_argument_exception",
            f"{malformed} field [create], [delete], [index] or [update] {found}",
        )
    if not isinstance(meta, dict):
        found = f"but found [{_token(meta)}]"
        _refuse("illegal_argument_exception", f"{malformed} START_OBJECT or END_OBJECT {found}")
    if len(parsed) > 1:
        _refuse("illegal_argument_exception", f"{malformed} END_OBJECT but found [FIELD_NAME]")
    for key, value in meta.items():
        known = key in _META_KEYS or (key == "_type" and major < 8)
        if not known:
            reason = f"Action/metadata line [{number}] contains an unknown parameter [{key}]"
            _refuse("illegal_argument_exception", reason)
        if isinstance(value, list | dict) and key not in _OBJECT_META_KEYS:
            found = f"but found [{_token(value)}]"
            _refuse(
                "illegal_argument_exception",
                f"{malformed} a simple value for field [{key}] {found}",
            )
    return action, meta


def _validate(operations: list[BulkOperation]) -> None:
    """BulkRequest.validate: every problem numbered in one action_request_validation_exception."""
    problems = [] if operations else ["no requests added"]
    for op in operations:
        if op.index is None:
            problems.append("index is missing")
        if op.doc_id is None and op.op_type in ("update", "delete"):
            problems.append("id is missing")
        elif op.doc_id == "":
            problems.append("if _id is specified it must not be empty")
        elif op.doc_id is not None and len(op.doc_id.encode()) > _MAX_ID_BYTES:
            size = len(op.doc_id.encode())
            problems.append(
                f"id [{op.doc_id}] is too long, must be no longer than 512 bytes but was: {size}"
            )
    if problems:
        listed = "".join(f"{n}: {problem};" for n, problem in enumerate(problems, 1))
        _refuse("action_request_validation_exception", f"Validation Failed: {listed}")


def _refuse(kind: str, reason: str) -> NoReturn:
    raise BulkRequestError(error_body(kind, reason, 400))


def _text(value: Any) -> str | None:
    """A metadata value as the parser's text() reads it (numbers and booleans too)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _token(value: Any) -> str:
    """The Jackson token name Elasticsearch reports for a JSON value."""
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    return "VALUE_NULL" if value is None else "VALUE_NUMBER"
