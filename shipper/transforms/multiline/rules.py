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
from collections.abc import Container, Iterable, Mapping
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


class _Every:
    """Every first character (custom rules' patterns may begin with anything)."""

    def __contains__(self, item: object) -> bool:
        return True


class Rules:
    """One runtime's traces. An opening line begins with one of `initials`: a cheap first
    test that spares the pattern match to nearly every line, which opens nothing (None:
    any line may). `idle`: seconds without a line before a trace goes out, if not the
    joiner's default."""

    __slots__ = ("idle", "initials", "kind", "opens", "states")

    def __init__(
        self,
        kind: str,
        initials: str | None,
        opens: tuple[Step, ...],
        states: Mapping[str, tuple[Step, ...]],
        idle: float | None = None,
    ) -> None:
        self.kind = kind
        self.idle = idle
        self.initials: Container[str] = _Every() if initials is None else frozenset(initials)
        self.opens = Steps(opens)
        self.states = {state: Steps(steps) for state, steps in states.items()}
        missing = {s.then for s in opens} | {s.then for ss in states.values() for s in ss}
        if missing - self.states.keys():
            raise ValueError(f"{kind}: steps lead to unknown states {missing - self.states.keys()}")


_BLANK = r"\s*$"

_JAVA_EXCEPTION = (
    r'(?:Exception in thread ".*" )?(?:[\w$]+\.)+[\w$]*(?:Exception|Error|Throwable)(?::|\s*$)'
)
# A logging framework's line at a level that stack traces follow: Spring Boot's
# `2024-05-01T12:00:01.234Z ERROR 1 --- [main] o.s.b.SpringApplication : ...`, Logback's
# `12:00:01.234 [main] ERROR c.e.App - ...`, Log4j's `2024-05-01 12:00:01,234 ERROR [main]`.
_JAVA_HEADER = r"[\d\[][^\t]{0,120}?\b(?:ERROR|FATAL|SEVERE|WARN(?:ING)?)\b"

# The exception's line, `java.lang.IllegalStateException: message`, or the log line just
# before it (a header as above, blank lines between them tentative); then its frames,
# causes and suppressed exceptions at any indentation, elided frames, and the indented
# lines some messages carry (`  Detail: Key (id)=(42) already exists.`): any indented line.
# A header that no exception follows stays a record of its own.
JAVA = Rules(
    "java",
    initials=string.ascii_letters + "_$" + string.digits + "[",
    opens=(Step(_JAVA_EXCEPTION, "frames"), Step(_JAVA_HEADER, "header")),
    states={
        "header": (Step(_JAVA_EXCEPTION, "frames"), Step(_BLANK, "header", tentative=True)),
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

# `panic: ...` and `fatal error: ...`, and net/http's recovered panics, written with the log
# package's date: `2024/05/01 12:00:01 http: panic serving 10.0.0.7:51234: ...`.
GO = Rules(
    "go",
    initials="pfh" + string.digits,
    opens=(
        Step(r"(?:panic|fatal error): ", "header"),
        Step(r"(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)? )?http: panic serving ", "header"),
    ),
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
