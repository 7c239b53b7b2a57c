"""Drop and keep rules: records whose message matches a drop rule (or misses a keep rule)
go no further.

Rules come from `SHIPPER_FILTERS` (each optionally scoped to namespaces, containers and a
pod label selector) and from the pod annotations `shipper.io/drop` and `shipper.io/keep`
(or their `-<container>` forms). A file resolves the rules that apply to it once, when its
pod's metadata arrives or changes (`file_filter`): a file with none has no filter at all
and pays nothing per record. A filter runs each rule over the column of texts (one
C-level `map` of the rule's search) and rebuilds the columns only when a rule hit.

Dropped records are left out of the documents; the ticket of the read they came in still
covers their bytes, so the file's position moves past them as usual.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import accumulate, compress
from operator import is_, truth
from typing import TYPE_CHECKING, Any

from shipper.observe.metrics import Metrics
from shipper.record import Records
from shipper.transforms.enrichment.options import pod_option
from shipper.transforms.filtering.rule_lists import parse_list
from shipper.transforms.filtering.selector import Selector, parse_selector

if TYPE_CHECKING:  # the config parses rules without loading the API client
    from shipper.transforms.kubernetes.metadata import PodMetadata

log = logging.getLogger(__name__)

ANNOTATION_RULE = "annotation"  # the rule name drops by a pod annotation are counted under
_RULE_KEYS = frozenset({"name", "drop", "keep", "namespaces", "containers", "pods"})
_is_none = partial(is_, None)


@dataclass(frozen=True, slots=True)
class FilterRule:
    """One rule: `keep` rules drop what does not match, drop rules what does."""

    name: str
    pattern: re.Pattern[str]
    keep: bool = False
    namespaces: frozenset[str] = frozenset()  # empty: every namespace
    containers: frozenset[str] = frozenset()  # empty: every container
    pods: Selector | None = None  # None: every pod

    def applies(self, namespace: str | None, container: str | None, labels: Any) -> bool:
        """Whether the rule covers a file of this namespace, container and pod labels
        (None when the pod's labels are not known: a rule with a selector then does not)."""
        if self.namespaces and namespace not in self.namespaces:
            return False
        if self.containers and container not in self.containers:
            return False
        return self.pods is None or (labels is not None and self.pods.matches(labels))


def parse_filters(text: str) -> tuple[FilterRule, ...]:
    """`SHIPPER_FILTERS`: a list of rules, each `{drop: REGEX}` or `{keep: REGEX}` with
    optional `name`, `namespaces`, `containers` (lists or one name) and `pods` (a label
    selector)."""
    rules = []
    names: set[str] = set()
    for n, entry in enumerate(parse_list(text), 1):
        where = f"rule {n}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} is not a mapping (example: {{drop: 'kube-probe/'}})")
        unknown = set(entry) - _RULE_KEYS
        if unknown:
            raise ValueError(
                f"{where} has unknown keys {sorted(unknown)}; known: {sorted(_RULE_KEYS)}"
            )
        if ("drop" in entry) == ("keep" in entry):
            raise ValueError(f"{where} needs exactly one of drop or keep (a regular expression)")
        keep = "keep" in entry
        name = str(entry.get("name") or f"filter-{n}")
        if name in names:
            raise ValueError(f"{where}: the name {name!r} is used twice")
        names.add(name)
        selector = entry.get("pods")
        try:
            rules.append(
                FilterRule(
                    name=name,
                    pattern=compile_message_pattern(entry["keep" if keep else "drop"]),
                    keep=keep,
                    namespaces=_names(entry.get("namespaces"), "namespaces"),
                    containers=_names(entry.get("containers"), "containers"),
                    pods=None if selector is None else parse_selector(str(selector)),
                )
            )
        except ValueError as exc:
            raise ValueError(f"{where} ({name}): {exc}") from None
    return tuple(rules)


def compile_message_pattern(pattern: Any) -> re.Pattern[str]:
    """A rule's regular expression, searched anywhere in the message."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("the pattern must be a non-empty string")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None


def _names(value: Any, key: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{key} must be a name or a list of names")
    return frozenset(value)


class FileFilter:
    """The rules of one file, ready to run over its records' texts."""

    __slots__ = ("_metrics", "_rules")

    def __init__(self, rules: Sequence[FilterRule], metrics: Metrics) -> None:
        self._metrics = metrics
        self._rules: list[tuple[Callable[[str], Any], bool, Any]] = [
            (rule.pattern.search, rule.keep, metrics.records_filtered.labels(rule=rule.name))
            for rule in rules
        ]

    def apply(self, records: Records) -> Records:
        """The records no rule drops; the dropped ones counted by rule."""
        for search, keep, counter in self._rules:
            if not records:
                break
            texts = records.texts
            # A first pass that stops at the first record dropped: usually none is, and
            # then no mask is built.
            if keep:
                if all(map(search, texts)):
                    continue
                mask = list(map(truth, map(search, texts)))
            else:
                if not any(map(search, texts)):
                    continue
                mask = list(map(_is_none, map(search, texts)))
            kept = sum(mask)
            counter.inc(len(mask) - kept)
            self._metrics.dropped("filter", len(mask) - kept)
            records = select(records, mask)
        return records


def select(records: Records, mask: list[bool]) -> Records:
    """The rows of `records` whose `mask` entry is true, as records of their own."""
    part = Records()
    part.times = list(compress(records.times, mask))
    part.streams = list(compress(records.streams, mask))
    part.texts = list(compress(records.texts, mask))
    part.offsets = list(compress(records.offsets, mask))
    if records.truncated:
        position = list(accumulate(mask))  # a kept row's index in `part`, plus one
        part.truncated = [position[i] - 1 for i in records.truncated if mask[i]]
    part.utc = records.utc
    return part


def file_filter(
    rules: Iterable[FilterRule],
    namespace: str | None,
    container: str | None,
    meta: PodMetadata | None,
    metrics: Metrics,
) -> FileFilter | None:
    """The filter of a file: the configured rules covering it, then its pod's annotation
    rules (`shipper.io/drop`, `shipper.io/keep`, per container first); None when none."""
    labels = None if meta is None else meta.raw_labels
    chosen = [rule for rule in rules if rule.applies(namespace, container, labels)]
    for keep in (False, True):
        text = pod_option(meta, "keep" if keep else "drop", container)
        rule = None if text is None else annotated_rule(text, keep)
        if rule is not None:
            chosen.append(rule)
    return FileFilter(chosen, metrics) if chosen else None


@lru_cache(maxsize=1024)
def annotated_rule(pattern: str, keep: bool) -> FilterRule | None:
    """The rule of a `shipper.io/drop` or `shipper.io/keep` annotation; None (said once)
    when its regular expression is not valid."""
    try:
        return FilterRule(ANNOTATION_RULE, compile_message_pattern(pattern), keep)
    except ValueError as exc:
        kind = "keep" if keep else "drop"
        log.warning("annotation shipper.io/%s ignored: %s", kind, exc)
        return None
