"""Custom multiline rules: a start pattern, a continuation pattern and a flush timeout.

Named rules come from `SHIPPER_MULTILINE_RULES` and are chosen like a built-in kind
(`SHIPPER_MULTILINE=<name>`, `shipper.io/multiline[-<container>]: <name>`); an annotation
may also give a rule whole, as a JSON object (`{"start": "...", "continue": "..."}`).
Either becomes `Rules` of one state, so it goes through the same `TraceJoiner` as the
built-in ones, exact across restarts alike. Both patterns match at the start of a line.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shipper.transforms.filtering.rule_lists import parse_list
from shipper.transforms.multiline.rules import RULES, Rules, Step
from shipper.units import parse_duration

log = logging.getLogger(__name__)

NONE = "none"  # turns joining off (a global default, or the pod-wide annotation)
_KEYS = frozenset({"name", "start", "continue", "timeout"})
_NAME = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.]*")


@dataclass(frozen=True, slots=True)
class CustomRule:
    name: str
    start: str  # a line that opens a record
    continuation: str  # a line that continues it
    timeout: float | None = None  # seconds without a line before it goes out


def parse_rule(entry: Any, where: str, named: bool) -> CustomRule:
    """One rule from its mapping; ValueError naming what is wrong."""
    if not isinstance(entry, dict):
        raise ValueError(
            f"{where} is not a mapping (example: {{start: '^\\\\d', continue: '^\\\\s'}})"
        )
    unknown = set(entry) - _KEYS
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    name = entry.get("name", "")
    if named and (not isinstance(name, str) or not _NAME.fullmatch(name) or name in RULES):
        raise ValueError(
            f"{where} needs a name (letters, digits, -_.) other than {', '.join(RULES)}"
        )
    patterns = []
    for key in ("start", "continue"):
        pattern = entry.get(key)
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f"{where} needs {key}: a regular expression")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{where}: bad regular expression {pattern!r} ({exc})") from None
        patterns.append(pattern)
    timeout = entry.get("timeout")
    seconds = None
    if timeout is not None:
        seconds = parse_duration(str(timeout))
        if seconds <= 0:
            raise ValueError(f"{where}: timeout must be more than 0")
    return CustomRule(str(name), patterns[0], patterns[1], seconds)


def parse_multiline_rules(text: str) -> tuple[CustomRule, ...]:
    """`SHIPPER_MULTILINE_RULES`: a JSON or YAML list of named rules."""
    rules = [parse_rule(e, f"rule {n}", True) for n, e in enumerate(parse_list(text), 1)]
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise ValueError("a rule name is used twice")
    return tuple(rules)


@lru_cache(maxsize=256)
def rules_of(rule: CustomRule, kind: str) -> Rules:
    """The joining rules of a custom rule (`kind` is what chose it)."""
    return Rules(
        kind,
        initials=None,
        opens=(Step(rule.start, "body"),),
        states={"body": (Step(rule.continuation, "body"),)},
        idle=rule.timeout,
    )


@lru_cache(maxsize=256)
def annotated_rules(text: str) -> Rules | None:
    """The rules an annotation gives whole as a JSON object; None (said once) when bad."""
    try:
        return rules_of(parse_rule(json.loads(text), "the rule", False), text)
    except ValueError as exc:
        log.warning("shipper.io/multiline annotation %r ignored: %s", text[:200], exc)
        return None


def custom_rules(kind: str, custom: tuple[CustomRule, ...]) -> Rules | None:
    """The rules of a custom rule's name or of a rule given whole, else None."""
    for rule in custom:
        if rule.name == kind:
            return rules_of(rule, kind)
    return annotated_rules(kind) if kind.startswith("{") else None


def multiline_value(text: str, custom: tuple[CustomRule, ...]) -> str | None:
    """An annotation's multiline choice as `rules_for` takes it, None when not one
    (a built-in kind, a custom rule's name, `none`, or a rule as a JSON object)."""
    text = text.strip()
    lowered = text.lower()
    if lowered in RULES or lowered == NONE:
        return lowered
    return text if custom_rules(text, custom) is not None else None
