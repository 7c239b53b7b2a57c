"""One index's dynamic mapping: the first document to use a field path fixes its kind.

Only the conflict that bites log shippers is modelled: object versus concrete value. A later
document that sends an object where a value was mapped, or a value where an object was mapped,
is refused with Elasticsearch's own error text. Dotted keys expand into objects first, so
`{"app": "web"}` and `{"app.kubernetes.io/name": "web"}` collide exactly as they do for real.
A field mapped `flattened` (OpenSearch: `flat_object`), or an object with `enabled: false`,
accepts anything below it. Concrete types never conflict with each
other (no coercion errors, no date detection). The default limits apply: 1000 fields (a dynamic
string counts twice, text plus keyword) and objects 20 levels deep.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from tests.fakes.es_protocol import JsonDict, java_preview

OBJECT = "object"
FLATTENED = "flattened"
DISABLED = "disabled"  # an object mapped `enabled: false`: kept in _source, never mapped
# Kinds that take any value or object below them without mapping it.
_ANYTHING_KINDS = frozenset({FLATTENED, "flat_object", DISABLED})
_OBJECT_KINDS = frozenset({OBJECT, "nested"})
_SCALARS = frozenset({str, int, float, bool})
TOTAL_FIELDS_LIMIT = 1000  # index.mapping.total_fields.limit
DEPTH_LIMIT = 20  # index.mapping.depth.limit


class IndexMapping:
    """Field path (dotted) -> kind: "object", "flattened" or a concrete type such as "text"."""

    def __init__(self, major_version: int) -> None:
        self.fields: dict[str, str] = {}
        self.major = major_version

    def put(self, path: str, kind: str) -> None:
        """Map `path` as `kind`, its parents as objects (as an explicit mapping would)."""
        parts = path.split(".")
        for depth in range(1, len(parts)):
            self.fields.setdefault(".".join(parts[:depth]), OBJECT)
        self.fields[path] = kind

    def put_properties(self, properties: JsonDict, prefix: str = "") -> None:
        """Apply a `mappings.properties` tree, e.g. from an index template."""
        for name, spec in properties.items():
            if not isinstance(spec, dict):
                continue
            path = _join(prefix, name)
            children = spec.get("properties")
            kind = DISABLED if spec.get("enabled") is False else spec.get("type") or OBJECT
            self.put(path, kind)
            if isinstance(children, dict):
                self.put_properties(children, path)

    def as_properties(self) -> JsonDict:
        """The mapping as a `properties` tree, the way GET /<index> shows it."""
        root: JsonDict = {}
        for path in sorted(self.fields, key=lambda p: p.count(".")):
            *parents, leaf = path.split(".")
            node = root
            for part in parents:
                node = node.setdefault(part, {}).setdefault("properties", {})
            kind = self.fields[path]
            node[leaf] = {"properties": {}} if kind == OBJECT else {"type": kind}
        return root

    def check(self, source: JsonDict, raw: bytes, doc_id: str) -> JsonDict | None:
        """Map the document's new fields, or return the error refusing it (mapping untouched)."""
        walk = _Walk(self, raw, doc_id)
        error = walk.object(source, "")
        added = _field_count(walk.pending.values())
        if (
            error is None
            and added
            and _field_count(self.fields.values()) + added > TOTAL_FIELDS_LIMIT
        ):
            limit = f"Limit of total fields [{TOTAL_FIELDS_LIMIT}] has been exceeded"
            error = self.limit_error(f"{limit} while adding new fields [{added}]", len(raw))
        if error is None:
            self.fields.update(walk.pending)
        return error

    def parsing_error(self, reason: str, column: int, **extra: Any) -> JsonDict:
        """A document-parsing error in this version's words (8.x adds the position)."""
        if self.major >= 8:
            return {
                "type": "document_parsing_exception",
                "reason": f"[1:{column}] {reason}",
                **extra,
            }
        return {"type": "mapper_parsing_exception", "reason": reason, **extra}

    def limit_error(self, reason: str, column: int) -> JsonDict:
        """A mapping limit hit while parsing: "failed to parse", the limit as the cause."""
        cause = {"type": "illegal_argument_exception", "reason": reason}
        summary = f"failed to parse: {reason}" if self.major >= 8 else "failed to parse"
        return self.parsing_error(summary, column, caused_by=cause)


class _Walk:
    """One document's pass over the mapping; new fields wait in `pending` until it succeeds."""

    def __init__(self, mapping: IndexMapping, raw: bytes, doc_id: str) -> None:
        self.mapping = mapping
        self.raw = raw
        self.doc_id = doc_id
        self.pending: dict[str, str] = {}

    def kind(self, path: str) -> str | None:
        return self.pending.get(path) or self.mapping.fields.get(path)

    def object(self, obj: JsonDict, prefix: str) -> JsonDict | None:
        for key, value in obj.items():
            if "." in key:
                error = self.dotted(prefix, key, value)
            else:
                path = f"{prefix}.{key}" if prefix else key
                kind = self.kind(path)
                if kind is not None and kind not in _OBJECT_KINDS and type(value) in _SCALARS:
                    continue  # the common case, a value where a value is mapped: nothing to do
                error = self.value(path, key, key, value)
            if error is not None:
                return error
        return None

    def dotted(self, prefix: str, key: str, value: Any) -> JsonDict | None:
        """A dotted key is a path of objects: `{"a.b": 1}` maps like `{"a": {"b": 1}}`."""
        *heads, leaf = key.split(".")
        parent = prefix
        for depth, head in enumerate(heads):
            parent = _join(parent, head)
            kind = self.kind(parent)
            if kind in _ANYTHING_KINDS:
                return None
            if kind is None:
                error = self.new_object(parent, key)
                if error is not None:
                    return error
            elif kind not in _OBJECT_KINDS:
                rest = _expand([*heads[depth + 1 :], leaf], value)
                return self.dotted_under_concrete(parent, kind, key, rest)
        return self.value(_join(parent, leaf), leaf, key, value)

    def value(self, path: str, leaf: str, key: str, value: Any) -> JsonDict | None:
        kind = self.kind(path)
        if kind in _ANYTHING_KINDS or value is None:
            return None
        if isinstance(value, list):
            for item in _flat(value):
                error = self.value(path, leaf, key, item)
                if error is not None:
                    return error
            return None
        if isinstance(value, dict):
            if kind is not None and kind not in _OBJECT_KINDS:
                return self.object_under_concrete(path, kind, key, value)
            error = self.new_object(path, key) if kind is None else None
            return error if error is not None else self.object(value, path)
        if kind in _OBJECT_KINDS:
            reason = (
                f"object mapping for [{path}] tried to parse field [{leaf}] as object, "
                "but found a concrete value"
            )
            return self.mapping.parsing_error(reason, self.column(key))
        if kind is None:
            self.pending[path] = _dynamic_kind(value)
        return None

    def new_object(self, path: str, key: str) -> JsonDict | None:
        depth = path.count(".") + 2  # the root object is level 1
        if depth > DEPTH_LIMIT:
            limit = f"Limit of mapping depth [{DEPTH_LIMIT}] has been exceeded"
            reason = f"{limit} due to object field [{path}]"
            return self.mapping.limit_error(reason, self.column(key))
        self.pending[path] = OBJECT
        return None

    def object_under_concrete(self, path: str, kind: str, key: str, value: Any) -> JsonDict:
        column = self.column(key)
        reason = (
            f"failed to parse field [{path}] of type [{kind}] in document with id "
            f"'{self.doc_id}'. Preview of field's value: '{java_preview(value)}'"
        )
        cause = {
            "type": "illegal_state_exception",
            "reason": f"Can't get text on a START_OBJECT at 1:{column}",
        }
        return self.mapping.parsing_error(reason, column, caused_by=cause)

    def dotted_under_concrete(self, path: str, kind: str, key: str, rest: Any) -> JsonDict:
        if self.mapping.major >= 8:  # 8.x expands the dots first, then fails like any object
            return self.object_under_concrete(path, kind, key, rest)
        reason = (
            f"Could not dynamically add mapping for field [{key}]. Existing mapping for "
            f"[{path}] must be of type object but found [{kind}]."
        )
        return self.mapping.parsing_error(reason, 0)

    def column(self, key: str) -> int:
        """Roughly where Elasticsearch's parser stood: just after the key in the source."""
        quoted = orjson.dumps(key)
        return max(self.raw.find(quoted), 0) + len(quoted) + 2


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _expand(parts: list[str], value: Any) -> Any:
    for part in reversed(parts):
        value = {part: value}
    return value


def _flat(values: list[Any]) -> Iterator[Any]:
    """The non-list items of nested lists, without recursion (JSON allows deep nesting)."""
    stack = [iter(values)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            yield item
        else:
            stack.pop()


def _field_count(kinds: Iterable[str]) -> int:
    """Fields as the limit counts them: a dynamic string is text plus its keyword sub-field."""
    return sum(2 if kind == "text" else 1 for kind in kinds)


def _dynamic_kind(value: Any) -> str:
    """The type dynamic mapping gives a first value (strings are text with a keyword)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "float"
    return "text"
