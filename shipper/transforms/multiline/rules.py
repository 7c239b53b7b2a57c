"""What a stack trace looks like, per runtime: which line opens one, which lines continue it.

Each runtime's trace is a small state machine. A line that opens a trace puts its
stream in a state; in each state, a line either matches one of the state's steps (it
belongs to the trace, and the step names the next state) or ends the trace. Blank
lines are *tentative*: they belong to the trace only if a line that continues it
follows (a Python chain's "During handling ..." after its blank line, the next
goroutine after the blank line between two); otherwise the trace ends before them,
and they are shipped as records of their own. (Tentative lines therefore never open
a trace themselves.)
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Step:
    """A kind of line, as a regular expression matched at the line's start."""

    pattern: str
    then: str  # the state after such a line
    tentative: bool = False


class Steps:
    """The steps of one state, compiled into a single alternation: one match per line."""

    __slots__ = ("_match", "_steps")

    def __init__(self, steps: tuple[Step, ...]) -> None:
        self._steps = {f"s{i}": step for i, step in enumerate(steps)}
        alternation = "|".join(f"(?P<{name}>{s.pattern})" for name, s in self._steps.items())
        self._match = re.compile(alternation).match

    def match(self, line: str) -> Step | None:
        """The step `line` takes, or None when it is not one of them."""
        found = self._match(line)
        return None if found is None else self._steps[str(found.lastgroup)]

    def any(self, lines: Iterable[str]) -> bool:
        """Whether any of `lines` is one of these steps (matched in C, line after line)."""
        return any(map(self._match, lines))


class Rules:
    """One runtime's traces. An opening line begins with one of `initials`: a cheap first
    test that spares the pattern match to nearly every line, which opens nothing."""

    __slots__ = ("initials", "kind", "opens", "states")

    def __init__(
        self,
        kind: str,
        initials: str,
        opens: tuple[Step, ...],
        states: Mapping[str, tuple[Step, ...]],
    ) -> None:
        self.kind = kind
        self.initials = frozenset(initials)
        self.opens = Steps(opens)
        self.states = {state: Steps(steps) for state, steps in states.items()}
        missing = {s.then for s in opens} | {s.then for ss in states.values() for s in ss}
        if missing - self.states.keys():
            raise ValueError(f"{kind}: steps lead to unknown states {missing - self.states.keys()}")


_BLANK = r"\s*$"

# The exception's line, `java.lang.IllegalStateException: message` (the log line before
# it, if any, stays a record of its own), then its frames, causes and suppressed
# exceptions at any indentation, elided frames, and the indented lines some messages
# carry (`  Detail: Key (id)=(42) already exists.`): any indented line.
JAVA = Rules(
    "java",
    initials=string.ascii_letters + "_$",
    opens=(
        Step(
            r'(?:Exception in thread ".*" )?(?:[\w$]+\.)+[\w$]*(?:Exception|Error|Throwable)'
            r"(?::|\s*$)",
            "frames",
        ),
    ),
    states={
        "frames": (
            Step(r"\s+\S", "frames"),
            Step(r"(?:Caused by|Suppressed|Wrapped by): ", "frames"),
            Step(r"\.\.\. \d+ (?:more|common frames omitted)", "frames"),
        ),
    },
)

_PY_TRACEBACK = r"Traceback \(most recent call last\):\s*$"
_PY_GROUP = r"\s*\+ Exception Group " + _PY_TRACEBACK

PYTHON = Rules(
    "python",
    initials="T ",
    opens=(Step(_PY_TRACEBACK, "frames"), Step(_PY_GROUP, "group")),
    states={
        # `  File "...", line N, in f`, the code line, carets, "[Previous line repeated ...]",
        # then the unindented `ExceptionType: message` that ends the traceback.
        "frames": (
            Step(r"\s+\S", "frames"),
            Step(r"[A-Za-z_][\w.]*(?::|\s*$)", "raised"),
        ),
        # An exception group (3.11+): every line of it is indented.
        "group": (
            Step(r"\s+\S", "group"),
            Step(_BLANK, "chained", tentative=True),
        ),
        "raised": (Step(_BLANK, "chained", tentative=True),),
        "chained": (
            Step(r"During handling of the above exception, another exception occurred:", "chain"),
            Step(r"The above exception was the direct cause of the following exception:", "chain"),
            Step(_BLANK, "chained", tentative=True),
        ),
        "chain": (
            Step(_PY_TRACEBACK, "frames"),
            Step(_PY_GROUP, "group"),
            Step(_BLANK, "chain", tentative=True),
        ),
    },
)

_GO_GOROUTINE = r"goroutine \d+ .*\]:\s*$"

GO = Rules(
    "go",
    initials="pf",
    opens=(Step(r"(?:panic|fatal error): ", "header"),),
    states={
        # `[signal SIGSEGV ...]`, nested panics (`\tpanic: ... [recovered]`), then the dump.
        "header": (
            Step(r"\[signal ", "header"),
            Step(r"\s+panic: ", "header"),
            Step(_GO_GOROUTINE, "frames"),
            Step(r"runtime stack:\s*$", "frames"),
            Step(_BLANK, "gap", tentative=True),
        ),
        "gap": (
            Step(_GO_GOROUTINE, "frames"),
            Step(r"runtime stack:\s*$", "frames"),
            Step(_BLANK, "gap", tentative=True),
        ),
        # Function lines `pkg.(*T).F(0xc000010000, {0x4b8f00, 0x5})`, their tab-indented
        # `file.go:NN +0x1d` lines, `created by ...`, and blank lines between goroutines.
        "frames": (
            Step(r"\t", "frames"),
            Step(r"[\w./%*\-\[\]()]+\(.*\)\s*$", "frames"),
            Step(r"created by ", "frames"),
            Step(r"\.\.\.additional frames elided\.\.\.", "frames"),
            Step(_GO_GOROUTINE, "frames"),
            Step(_BLANK, "gap", tentative=True),
        ),
    },
)

RULES: dict[str, Rules] = {rules.kind: rules for rules in (JAVA, PYTHON, GO)}
