"""Stack traces as one record: continuation lines join the record that opened the trace.

One `TraceJoiner` per file (so never across containers), one open trace per stream.
A joined record keeps its first line's time, stream and offset (hence its id), and is
emitted when a line that does not continue it arrives, after `IDLE_SECONDS` without a
line, at the end of the file, or as soon as it reaches `max_record_bytes` (cut there and
marked truncated; the rest of that trace is then discarded, as a cut line's rest is).

Delivery stays exact through `resume_offset`, which applies the restart rule
(`shipper.restart`): a restart point never falls inside a trace, open or closed. Each
trace remembers a `base`: a point at or before its first line where the decoder may
restart (the line itself when the read held whole lines only, else where re-reading
that read starts), and each closed trace its span while a restart could fall inside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import compress
from operator import itemgetter

from shipper.record import Record
from shipper.restart import Span, trace_restart
from shipper.transforms.decoding.lines import bounded_text
from shipper.transforms.multiline.custom import CustomRule, custom_rules
from shipper.transforms.multiline.rules import RULES, Rules, Step

IDLE_SECONDS = 1.0
_FIRST = itemgetter(slice(0, 1))
MAX_SPANS = 256  # closed traces remembered for restart points; beyond, merged into one


class _Trace:
    """One stream's open trace."""

    __slots__ = (
        "base",
        "first",
        "last",
        "lines",
        "pending",
        "reach",
        "size",
        "spent",
        "state",
        "truncated",
    )

    def __init__(self, first: Record, state: str, base: int, now: float) -> None:
        self.first = first
        self.state = state
        self.base = base
        self.reach = first.offset  # offset of the last line it took
        self.last = now  # clock reading when that line came
        self.lines = [first.log]
        self.size = _utf8_len(first.log)
        self.truncated = first.truncated
        self.pending: list[Record] = []  # tentative lines: in only if the trace goes on
        self.spent = False  # emitted at the size bound; its further lines are discarded

    def record(self, text: str, truncated: bool) -> Record:
        first = self.first
        return Record(first.time, first.stream, text, first.offset, truncated)


class TraceJoiner:
    """Joins one file's records into traces by `rules` (see the module docstring)."""

    def __init__(
        self,
        rules: Rules | None,
        max_record_bytes: int,
        idle: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = rules
        self._limit = max_record_bytes
        self._idle = idle
        self._clock = clock
        self._open: dict[str, _Trace] = {}
        self._spans: list[Span] = []

    @property
    def kind(self) -> str | None:
        return None if self.rules is None else self.rules.kind

    @property
    def idle(self) -> bool:
        """True when no trace is open."""
        return not self._open

    def passes(self, texts: list[str]) -> bool:
        """Whether records with these texts come out of `join` as they are: no trace is
        open and none of them opens one (a check without a Python step per record)."""
        rules = self.rules
        if rules is None:
            return True
        if self._open:
            return False
        openable = map(rules.initials.__contains__, map(_FIRST, texts))
        return not rules.opens.any(compress(texts, openable))

    def join(self, records: list[Record], before: int, exact: Callable[[], bool]) -> list[Record]:
        """The records of one read, in order, traces joined.

        `before` is where the decoder would re-read this read from; `exact()` says whether
        every record of it is one whole line, so each record's own offset is such a point
        (asked only when a trace opens: it costs a pass over the read's bytes).
        """
        rules = self.rules
        if rules is None:
            return records
        out: list[Record] = []
        traces = self._open
        initials = rules.initials
        opening = rules.opens.match
        whole_lines: bool | None = None
        for rec in records:
            if traces:
                trace = traces.get(rec.stream)
                if trace is not None:
                    step = rules.states[trace.state].match(rec.log)
                    if step is not None:
                        self._continue(trace, rec, step, out)
                        continue
                    self._close(trace, out)
            text = rec.log
            step = opening(text) if text[:1] in initials else None
            if step is None:
                out.append(rec)
            else:
                if whole_lines is None:
                    whole_lines = exact()
                base = rec.offset if whole_lines else before
                traces[rec.stream] = _Trace(rec, step.then, base, self._clock())
        return out

    def flush_idle(self, now: float) -> list[Record]:
        """Emit the traces that got no line for `idle` seconds."""
        out: list[Record] = []
        idle = self._idle if self.rules is None or self.rules.idle is None else self.rules.idle
        for trace in [t for t in self._open.values() if now - t.last >= idle]:
            self._close(trace, out)
        return out

    def flush(self) -> list[Record]:
        """Emit every open trace (end of the file, or the rules change)."""
        out: list[Record] = []
        for trace in list(self._open.values()):
            self._close(trace, out)
        return out

    def resume_offset(self, decoder_resume: int) -> int:
        """Where reading must restart, given the decoder's own resume offset
        (`shipper.restart.trace_restart`)."""
        if not self._open and not self._spans:
            return decoder_resume
        opened = ((t.first.offset, t.reach, t.base) for t in self._open.values())
        resume, self._spans = trace_restart(decoder_resume, opened, self._spans)
        return resume

    def _continue(self, trace: _Trace, rec: Record, step: Step, out: list[Record]) -> None:
        trace.state = step.then
        trace.reach = rec.offset
        trace.last = self._clock()
        if step.tentative:
            trace.pending.append(rec)
            return
        if trace.spent:
            trace.pending.clear()
            return
        for line in [*trace.pending, rec]:
            trace.lines.append(line.log)
            trace.size += 1 + _utf8_len(line.log)
            trace.truncated |= line.truncated
        trace.pending.clear()
        if trace.size > self._limit:
            text, _ = bounded_text("\n".join(trace.lines).encode(), self._limit)
            out.append(trace.record(text, True))
            trace.lines = []
            trace.spent = True

    def _close(self, trace: _Trace, out: list[Record]) -> None:
        """The trace ended: emit it, then its tentative lines as records of their own."""
        del self._open[trace.first.stream]
        if len(trace.lines) == 1 and not trace.spent:
            out.append(trace.first)  # nothing joined it: the record as it came
        elif not trace.spent:
            out.append(trace.record("\n".join(trace.lines), trace.truncated))
        out.extend(trace.pending)
        if trace.reach > trace.first.offset:
            self._remember((trace.first.offset, trace.reach, trace.base))

    def _remember(self, span: Span) -> None:
        spans = self._spans
        spans.append(span)
        if len(spans) > MAX_SPANS:  # one span over them all: coarser, never wrong
            first = min(s[0] for s in spans)
            self._spans = [(first, max(s[1] for s in spans), min(s[2] for s in spans))]


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def rules_for(kind: str | None, custom: tuple[CustomRule, ...] = ()) -> Rules | None:
    """The rules of a multiline kind (`java`, `python`, `go`, a custom rule's name or a
    rule given whole), or None for no joining."""
    if not kind:
        return None
    return RULES[kind] if kind in RULES else custom_rules(kind, custom)
