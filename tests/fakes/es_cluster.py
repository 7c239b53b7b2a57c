"""The fake cluster's state: indices with their documents and mappings, and index templates.

Not thread-safe on its own: FakeElasticsearch holds one lock around every call.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from tests.fakes.es_bulk import BulkOperation
from tests.fakes.es_mapping import IndexMapping
from tests.fakes.es_protocol import JsonDict, auto_id, error_body, version_conflict_error

_SHARDS = {"total": 2, "successful": 1, "failed": 0}
_BAD_INDEX_CHARS = '\\/*?"<>| ,#:'

ItemAnswer = tuple[int, JsonDict]


@dataclass
class Index:
    """One index (or data stream) and what it holds."""

    name: str
    mapping: IndexMapping
    data_stream: bool = False
    uuid: str = field(default_factory=auto_id)
    docs: dict[str, JsonDict] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    seq_no: int = 0
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    generation: int = 1  # a data stream's: its write index is the latest backing index
    dated: bool = True  # backing index names carry the date (Elasticsearch 7.11+)

    @property
    def write_name(self) -> str:
        """The `_index` answers name: a data stream's backing index, else the index itself."""
        if not self.data_stream:
            return self.name
        date = f"{self.created:%Y.%m.%d}-" if self.dated else ""
        return f".ds-{self.name}-{date}{self.generation:06d}"


class Cluster:
    """Indices and templates, and the execution of bulk operations against them."""

    def __init__(
        self,
        major_version: int,
        *,
        typed: bool | None = None,
        unknown_types: frozenset[str] = frozenset({"flat_object"}),
        dated_backing: bool = True,
    ) -> None:
        """`major_version`: the Elasticsearch major whose wording the answers use; `typed`:
        items carry `_type` (default: before 8); `unknown_types`: field types refused;
        `dated_backing`: data stream backing indices are named with their date."""
        self.dated_backing = dated_backing
        self.major = major_version
        self.typed = major_version < 8 if typed is None else typed
        self.unknown_types = unknown_types
        self.indices: dict[str, Index] = {}
        self.templates: dict[str, JsonDict] = {}

    # -- documents -----------------------------------------------------------------------------

    def execute(self, op: BulkOperation) -> ItemAnswer:
        """Run one bulk operation; the answer is (status, item body without the status)."""
        assert op.index is not None  # parse_bulk refused the request otherwise
        problem = None if op.index in self.indices else _index_name_problem(op.index)
        if problem is not None:
            error = _error(
                "invalid_index_name_exception", f"Invalid index name [{op.index}], {problem}"
            )
            error.update(index_uuid="_na_", index=op.index)
            return 400, {"_index": op.index, "_id": op.doc_id, "error": error}
        index = self.index(op.index)
        doc_id = op.doc_id or auto_id()
        if op.op_type == "delete":
            return self._delete(index, doc_id)
        if op.op_type == "update":
            reason = "the fake Elasticsearch does not support update actions"
            return 400, _failure(index, doc_id, _error("illegal_argument_exception", reason))
        return self._write(index, op, doc_id)

    def _write(self, index: Index, op: BulkOperation, doc_id: str) -> ItemAnswer:
        assert op.source is not None
        if index.data_stream and op.op_type != "create":
            reason = "only write ops with an op_type of create are allowed in data streams"
            return 400, _failure(index, doc_id, _error("illegal_argument_exception", reason))
        try:
            source = orjson.loads(op.source)
        except orjson.JSONDecodeError as exc:
            unparsable = index.mapping.parsing_error(f"failed to parse: {exc.msg}", exc.colno)
            return 400, _failure(index, doc_id, unparsable)
        if not isinstance(source, dict):
            reason = "failed to parse: Malformed content, must start with an object"
            return 400, _failure(index, doc_id, index.mapping.parsing_error(reason, 1))
        if index.data_stream and "@timestamp" not in source:
            reason = "data stream timestamp field [@timestamp] is missing"
            return 400, _failure(index, doc_id, index.mapping.parsing_error(reason, 1))
        error = index.mapping.check(source, op.source, doc_id)
        if error is not None:
            return 400, _failure(index, doc_id, error)
        exists = doc_id in index.docs
        if exists and op.op_type == "create":
            current = index.versions[doc_id]
            conflict = version_conflict_error(index.write_name, doc_id, index.uuid, current)
            return 409, _failure(index, doc_id, conflict)
        index.docs[doc_id] = source
        if exists:
            return 200, self._success(index, doc_id, "updated")
        return 201, self._success(index, doc_id, "created")

    def _delete(self, index: Index, doc_id: str) -> ItemAnswer:
        if index.docs.pop(doc_id, None) is None:
            return 404, self._success(index, doc_id, "not_found")
        return 200, self._success(index, doc_id, "deleted")

    def _success(self, index: Index, doc_id: str, result: str) -> JsonDict:
        version = index.versions.get(doc_id, 0) + 1
        index.versions[doc_id] = version
        index.seq_no += 1
        typed = {"_type": "_doc"} if self.typed else {}
        return {
            "_index": index.write_name,
            **typed,
            "_id": doc_id,
            "_version": version,
            "result": result,
            "_shards": dict(_SHARDS),
            "_seq_no": index.seq_no - 1,
            "_primary_term": 1,
        }

    def index(self, name: str) -> Index:
        """The index called `name`, created (from the best matching template) when absent."""
        existing = self.indices.get(name)
        if existing is not None:
            return existing
        template = self._template_for(name)
        mapping = IndexMapping(self.major)
        properties = template.get("template", {}).get("mappings", {}).get("properties", {})
        mapping.put_properties(properties)
        data_stream = "data_stream" in template
        created = Index(name, mapping, data_stream=data_stream, dated=self.dated_backing)
        self.indices[name] = created
        return created

    def _template_for(self, name: str) -> JsonDict:
        matching = [
            body
            for body in self.templates.values()
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in _patterns(body))
        ]
        return max(matching, key=lambda body: body.get("priority") or 0, default={})

    # -- index templates -----------------------------------------------------------------------

    def put_template(self, name: str, body: bytes, create: bool) -> ItemAnswer:
        """PUT /_index_template/<name>: store it (settings normalized as ES stores them)."""
        try:
            template = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return 400, error_body("x_content_parse_exception", f"[1:{exc.colno}] {exc.msg}", 400)
        if not isinstance(template, dict) or not template.get("index_patterns"):
            reason = "Validation Failed: 1: index patterns are missing;"
            return 400, error_body("action_request_validation_exception", reason, 400)
        unknown = _unknown_type(template, self.unknown_types)
        if unknown is not None:
            field_name, kind = unknown
            reason = f"No handler for type [{kind}] declared on field [{field_name}]"
            cause = {"type": "mapper_parsing_exception", "reason": reason}
            wrapped = f"Failed to parse mapping [_doc]: {reason}"
            return 400, error_body("mapper_parsing_exception", wrapped, 400, caused_by=cause)
        if create and name in self.templates:
            reason = f"index template [{name}] already exists"
            return 400, error_body("illegal_argument_exception", reason, 400)
        inner = template.get("template")
        if isinstance(inner, dict) and isinstance(inner.get("settings"), dict):
            inner["settings"] = _normalize_settings(inner["settings"])
        self.templates[name] = {**template, "composed_of": template.get("composed_of", [])}
        return 200, {"acknowledged": True}

    def rollover(self, name: str) -> ItemAnswer:
        """POST /<data stream>/_rollover: a new backing index takes the writes."""
        index = self.indices.get(name)
        if index is None or not index.data_stream:
            reason = f"no such index [{name}]"
            return 404, error_body("index_not_found_exception", reason, 404, index=name)
        old = index.write_name
        index.generation += 1
        index.created = datetime.now(UTC)
        return 200, {
            "acknowledged": True,
            "shards_acknowledged": True,
            "old_index": old,
            "new_index": index.write_name,
            "rolled_over": True,
            "dry_run": False,
            "conditions": {},
        }

    def get_templates(self, pattern: str) -> ItemAnswer:
        """GET /_index_template/<name or wildcard>."""
        names = [n for n in sorted(self.templates) if fnmatch.fnmatchcase(n, pattern)]
        if not names and "*" not in pattern:
            reason = f"index template matching [{pattern}] not found"
            return 404, error_body("resource_not_found_exception", reason, 404)
        listed = [{"name": n, "index_template": self.templates[n]} for n in names]
        return 200, {"index_templates": listed}


def _unknown_type(template: JsonDict, unknown: frozenset[str]) -> tuple[str, str] | None:
    """The first (field, type) of the template's mappings this engine has no handler for."""
    inner = template.get("template")
    mappings = inner.get("mappings") if isinstance(inner, dict) else None
    stack = [mappings.get("properties") if isinstance(mappings, dict) else None]
    while stack:
        properties = stack.pop()
        if not isinstance(properties, dict):
            continue
        for name, spec in properties.items():
            if isinstance(spec, dict):
                if spec.get("type") in unknown:
                    return name, spec["type"]
                stack.append(spec.get("properties"))
    return None


def _error(kind: str, reason: str) -> JsonDict:
    return {"type": kind, "reason": reason}


def _failure(index: Index, doc_id: str, error: JsonDict) -> JsonDict:
    return {"_index": index.write_name, "_id": doc_id, "error": error}


def _patterns(template: JsonDict) -> list[str]:
    patterns = template.get("index_patterns", [])
    return [patterns] if isinstance(patterns, str) else list(patterns)


def _index_name_problem(name: str) -> str | None:
    """Why Elasticsearch would refuse to create an index of that name, if it would."""
    if name != name.lower():
        return "must be lowercase"
    if any(char in _BAD_INDEX_CHARS for char in name):
        return 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, #, :]'
    if name.startswith(("_", "-", "+")):
        return "must not start with '_', '-', or '+'"
    if name in ("", ".", ".."):
        return "must not be '.' or '..'"
    if len(name.encode()) > 255:
        return f"index name is too long, ({len(name.encode())} > 255)"
    return None


def _normalize_settings(settings: JsonDict) -> JsonDict:
    """Settings as ES gives them back: nested under "index", every value a string."""
    flat: dict[str, Any] = {}
    _flatten(settings, "", flat)
    nested: JsonDict = {}
    for key, value in flat.items():
        *parents, leaf = (key if key.startswith("index.") else f"index.{key}").split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _setting_text(value)
    return nested


def _flatten(tree: JsonDict, prefix: str, into: dict[str, Any]) -> None:
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, f"{path}.", into)
        else:
            into[path] = value


def _setting_text(value: Any) -> Any:
    if isinstance(value, list):
        return [_setting_text(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)
