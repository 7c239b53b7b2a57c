"""Kubernetes label selectors (`app=web,tier in (front,edge),!canary`), to scope filters.

The same syntax as `kubectl get pods -l`: `key=value` (or `==`), `key!=value`,
`key in (a,b)`, `key notin (a,b)`, `key` (has the label) and `!key` (has not).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_PARTS = re.compile(r"(?:[^,(]|\([^)]*\))+")
_EQUALS = re.compile(rf"\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*")
_SET = re.compile(rf"\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*")
_EXISTS = re.compile(rf"\s*(!?)\s*({_KEY})\s*")


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        inside = labels.get(self.key) in self.values
        return inside if self.op == "in" else not inside


@dataclass(frozen=True, slots=True)
class Selector:
    """Every requirement holds (an empty selector selects every pod)."""

    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


def parse_selector(text: str) -> Selector:
    """A selector from its text; ValueError naming the part that is not one."""
    requirements = []
    for part in _PARTS.findall(text):
        if not part.strip():
            continue
        if found := _SET.fullmatch(part):
            values = frozenset(v.strip() for v in found[3].split(",") if v.strip())
            requirements.append(Requirement(found[1], found[2], values))
        elif found := _EQUALS.fullmatch(part):
            op = "notin" if found[2] == "!=" else "in"
            requirements.append(Requirement(found[1], op, frozenset({found[3]})))
        elif found := _EXISTS.fullmatch(part):
            requirements.append(Requirement(found[2], "!exists" if found[1] else "exists"))
        else:
            raise ValueError(
                f"{part.strip()!r} is not a label selector requirement "
                "(examples: app=web, tier in (front,edge), !canary)"
            )
    return Selector(tuple(requirements))
