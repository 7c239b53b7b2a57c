"""The agent's own log: one JSON object per line on stderr, or short text lines.

On a terminal a status line (`--once`'s progress) may sit below the log: each log line
is written above it and the status drawn again, so the two never interleave.

Context goes in `extra={...}` and becomes fields of the JSON line. A warning or error
that repeats (same logger, level and message template) is written once per window;
the next line of its kind carries `"repeated": N`, the number left out in between.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import orjson

REPEAT_WINDOW_SECONDS = 10.0

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=str).decode()
        except TypeError:  # text holding undecodable bytes (a file name): shown as \xff
            return orjson.dumps({k: _printable(v) for k, v in entry.items()}).decode()


def _printable(value: object) -> str:
    """`value` as valid UTF-8 text: the bytes a file name could not decode as `\\xff`."""
    text = str(value)
    try:
        raw = text.encode("utf-8", "surrogateescape")  # back to the name's own bytes
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = {
            k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")
        }
        if extras:
            text += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return text


class TerminalHandler(logging.StreamHandler[TextIO]):
    """Log lines above a status line that is redrawn in place (`\r`, erase to the end)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._status = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            self.stream.write(f"\r\x1b[K{line}\n{self._status}")
            self.flush()
        except Exception:  # logging's own convention: report, never raise
            self.handleError(record)

    def set_status(self, text: str, *, final: bool = False) -> None:
        """Draw `text` as the status line; `final` leaves it on screen and ends it."""
        self.acquire()
        try:
            self.stream.write(f"\r{text}\x1b[K" + ("\n" if final else ""))
            self.flush()
            self._status = "" if final else text
        finally:
            self.release()


_terminal: TerminalHandler | None = None


def show_status(text: str, *, final: bool = False) -> None:
    """Draw a status line below the log on stderr (a terminal)."""
    global _terminal
    if _terminal is None:
        _terminal = TerminalHandler(sys.stderr)
    _terminal.set_status(text, final=final)


@dataclass
class _Repeats:
    until: float  # end of the window in which this kind of line is held back
    held: int = 0  # lines held back in the window
    last: logging.LogRecord | None = None  # the latest of them


class RateLimitedHandler(logging.Handler):
    """Wraps a handler so that an outage's error every second becomes one line per window.

    A kind of line is its logger, level and message template. Held-back lines are
    reported by the next line of their kind (`repeated`: how many were left out
    before it), or, when that kind has gone quiet, by its latest held-back line once
    the window is over (noticed at the next log call of any kind, or at close).
    Printed lines plus the sum of `repeated` is the number of calls made.
    """

    def __init__(
        self,
        inner: logging.Handler,
        window: float = REPEAT_WINDOW_SECONDS,
        min_level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._inner = inner
        self._window = window
        self._min_level = min_level
        self._clock = clock
        self._kinds: dict[tuple[str, int, str], _Repeats] = {}

    def emit(self, record: logging.LogRecord) -> None:
        # logging.Handler.handle holds self.lock around emit: one thread at a time here.
        now = self._clock()
        if record.levelno < self._min_level:
            self._report_quiet(now)
            self._inner.handle(record)
            return
        kind = (record.name, record.levelno, str(record.msg))
        seen = self._kinds.get(kind)
        if seen is not None and now < seen.until:
            seen.held += 1
            seen.last = record
            return
        if seen is not None and seen.held:
            record.repeated = seen.held
        self._kinds[kind] = _Repeats(until=now + self._window)
        self._report_quiet(now)
        self._inner.handle(record)

    def flush(self) -> None:
        """Report what is held back now (so a final line comes last), then flush."""
        self.acquire()
        try:
            self._report_quiet(float("inf"))
        finally:
            self.release()
        self._inner.flush()

    def close(self) -> None:
        """Report what is still held back, then close the wrapped handler."""
        self.acquire()
        try:
            self._report_quiet(float("inf"))
        finally:
            self.release()
        self._inner.close()
        super().close()

    def _report_quiet(self, now: float) -> None:
        """Print the latest held-back line of each kind whose window is over, then forget it."""
        over = [kind for kind, seen in self._kinds.items() if now >= seen.until]
        for kind in over:
            seen = self._kinds.pop(kind)
            if seen.last is not None:
                if seen.held > 1:
                    seen.last.repeated = seen.held - 1
                self._inner.handle(seen.last)


def setup_logging(level: str, fmt: str) -> None:
    """Route the `shipper` loggers to stderr in the chosen format, repeats rate-limited."""
    global _terminal
    stream: logging.StreamHandler[TextIO]
    if sys.stderr.isatty():
        stream = _terminal = TerminalHandler(sys.stderr)
    else:
        stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("shipper")
    for old in root.handlers:
        old.close()
    root.handlers[:] = [RateLimitedHandler(stream)]
    root.setLevel(level.upper())
    root.propagate = False
