"""The node's own log files (kube-proxy.log, kube-apiserver.log, etcd.log...) as records,
parsed as the fluentd-elasticsearch image's `format kubernetes` parses them.

A klog/glog line starts with a header: severity letter, `MMDD hh:mm:ss.ffffff`, the thread
id, `file:line]`, then the message (`I0102 15:04:05.123456    1234 server.go:42] msg`).
Such a line starts a record; the lines after it that do not start with a header (a stack
trace, a multi-line message) are joined to it, as the image's multiline `format_firstline`
does, and a record still open after `IDLE_FLUSH` seconds without a new line goes out as
it is. A line of another format, with no record open, is a record of plain text.

klog times carry no year and no zone: the year is the current one (the previous one when
that would put the line more than a day in the future, for lines of late December read in
January), the zone UTC (what the node's components write).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shipper.timestamps import now_rfc3339
from shipper.transforms.decoding.lines import LineSplitter, bounded_text

IDLE_FLUSH = 5.0  # seconds, as the image's multiline flush_interval
_HEADER = re.compile(
    rb"([IWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{1,9})\s+(\d+)\s+([^ \]]+)\] ?(.*)",
    re.DOTALL,
)
_FIRST_LINE = re.compile(rb"\w\d{4}")  # the image's format_firstline


@dataclass(slots=True)
class NodeRecord:
    """One record of a node file: where it starts, its time, its text and klog fields."""

    offset: int
    time: str  # RFC 3339 UTC
    message: str = ""
    truncated: bool = False
    severity: str | None = None
    pid: str | None = None
    source: str | None = None


@dataclass(slots=True)
class _Open:
    """A klog record whose continuation lines may still come."""

    offset: int
    head: re.Match[bytes]
    opened: float
    parts: list[bytes] = field(default_factory=list)
    size: int = 0


class KlogDecoder:
    """One node file's bytes, fed in order, to records (klog joined, or plain lines)."""

    def __init__(self, max_record_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = max_record_bytes
        self._splitter = LineSplitter(max_record_bytes)
        self._open: _Open | None = None
        self._clock = clock

    @property
    def resume_offset(self) -> int:
        """Where reading must restart to reproduce every record not yet returned."""
        return self._open.offset if self._open is not None else self._splitter.start

    def feed(self, data: bytes, start: int) -> list[NodeRecord]:
        out: list[NodeRecord] = []
        for lines, offset in self._splitter.split(data, start):
            for line in lines:
                self._line(line, offset, out)
                offset += len(line) + 1
        return out

    def flush_idle(self, now: float) -> list[NodeRecord]:
        if self._open is not None and now - self._open.opened >= IDLE_FLUSH:
            return [self._close()]
        return []

    def finish(self) -> list[NodeRecord]:
        out: list[NodeRecord] = []
        run = self._splitter.take()
        if run is not None:
            self._line(run[0][0], run[1], out)
        if self._open is not None:
            out.append(self._close())
        return out

    def _line(self, line: bytes, offset: int, out: list[NodeRecord]) -> None:
        if line[-1:] == b"\r":
            line = line[:-1]
        head = _HEADER.fullmatch(line) if _FIRST_LINE.match(line) else None
        if head is not None:
            if self._open is not None:
                out.append(self._close())
            self._open = _Open(offset, head, self._clock())
        elif self._open is not None:
            self._open.parts.append(line)
            self._open.size += len(line) + 1
            self._open.opened = self._clock()
        elif line.strip():
            text, truncated = bounded_text(line, self._limit)
            out.append(NodeRecord(offset, now_rfc3339(), text, truncated))

    def _close(self) -> NodeRecord:
        record, self._open = self._open, None
        assert record is not None
        head = record.head
        message = head.group(10)
        if record.parts:
            message = b"\n".join([message, *record.parts])
        text, truncated = bounded_text(message, self._limit)
        return NodeRecord(
            record.offset,
            klog_time(head),
            text,
            truncated,
            severity=head.group(1).decode(),
            pid=head.group(8).decode(),
            source=head.group(9).decode("utf-8", "replace"),
        )


def klog_time(head: re.Match[bytes], now: datetime | None = None) -> str:
    """A klog header's time as RFC 3339 UTC, its year guessed (see the module docstring)."""
    now = now or datetime.now(UTC)
    month, day, hour, minute, second = (int(head.group(i)) for i in range(2, 7))
    fraction = head.group(7).decode()
    for year in (now.year, now.year - 1):
        try:
            moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:  # 29 February of a year without it, or a bad date
            continue
        if moment <= now + timedelta(days=1):
            return moment.strftime("%Y-%m-%dT%H:%M:%S.") + fraction.ljust(6, "0") + "Z"
    return now_rfc3339()
