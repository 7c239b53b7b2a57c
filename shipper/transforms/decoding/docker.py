"""Docker's json-file format: `{"log":"…\\n","stream":"stdout","time":"…"}` per line.

Docker cuts lines longer than 16 KiB into entries whose `log` does not end in
`\\n`; the entries that follow on the same stream continue them (kubelet-logs.md, 6b).
A line too long to be held whole (another writer's) arrives as its head and its end
(see `LineSplitter`): its `log` is read from the head, its stream and time from the end.
"""

from __future__ import annotations

import re
from typing import Any

from orjson import JSONDecodeError, loads

from shipper.record import Record, Records
from shipper.timestamps import is_timestamp
from shipper.transforms.decoding.lines import Assembler, bounded_text

_STREAMS = {"stdout": "stdout", "stderr": "stderr"}
_LOG_START = b'{"log":"'
# The end of an entry as docker writes it: the quote closing `log` (escaped if after an
# odd number of backslashes), then the stream and the time.
_ENTRY_END = re.compile(
    rb'(\\*)"\s*,\s*"stream"\s*:\s*"(\w+)"\s*,\s*"time"\s*:\s*"([^"\\]+)"\s*}\s*\Z'
).search
_CUT_ESCAPE = 12  # bytes a cut may leave of an escape (a surrogate pair `\\ud83d\\ude00`)


class DockerParser:
    """Parses complete json-file lines into records (one loop per chunk: this is the hot path)."""

    def __init__(self, assembler: Assembler) -> None:
        self._asm = assembler

    def parse(self, lines: list[bytes], offset: int, out: Records) -> None:
        """Append the records that `lines`, starting at file offset `offset`, complete."""
        asm = self._asm
        groups = asm.groups
        limit = asm.limit
        surely_fits = limit // 4  # characters: even at 4 UTF-8 bytes each they fit
        line_limit = asm.line_limit
        streams = _STREAMS
        append = out.append
        pos = offset
        for line in lines:
            start = pos
            pos += len(line) + 1
            if len(line) > line_limit:  # arrived cut (see LineSplitter): not JSON any more
                self._overlong(line, start, out)
                continue
            entry: Any
            try:
                entry = loads(line)
            except JSONDecodeError:
                entry = _loads_replaced(line)
            try:
                log = entry["log"]
                stream = streams[entry["stream"]]
                ts = entry["time"]
            except (KeyError, TypeError):
                asm.raw(line, start, out)
                continue
            if type(log) is not str or type(ts) is not str or not is_timestamp(ts.encode()):
                asm.raw(line, start, out)
                continue
            if log[-1:] != "\n":
                asm.partial(stream, ts, start, log.encode())
                continue
            text = log[:-1]
            if stream in groups:
                append(asm.close(stream, text.encode()))
                continue
            if text[-1:] == "\r":
                text = text[:-1]
            if len(text) <= surely_fits or len(data := text.encode()) <= limit:
                append(Record(ts, stream, text, start))
            else:
                text, _ = bounded_text(data, limit)
                append(Record(ts, stream, text, start, True))

    def _overlong(self, line: bytes, start: int, out: Records) -> None:
        """A line cut on arrival: its head's `log`, cut at max_record_bytes, with the stream
        and time of its end; raw when the two do not make a docker entry."""
        asm = self._asm
        head, end = line[: asm.line_limit + 1], line[asm.line_limit + 1 :]
        found = _ENTRY_END(end)
        stream = _STREAMS.get(found[2].decode("latin-1")) if found else None
        text = _string_prefix(head[len(_LOG_START) :]) if head.startswith(_LOG_START) else None
        if found is None or len(found[1]) % 2 or stream is None or text is None:
            asm.raw(line, start, out)
            return
        ts = found[3]
        if not is_timestamp(ts):
            asm.raw(line, start, out)
            return
        data = text.encode()
        if stream in asm.groups:
            out.append(asm.close(stream, data))
            return
        cut, _ = bounded_text(data, asm.limit)
        out.append(Record(ts.decode("ascii"), stream, cut, start, True))


def _string_prefix(body: bytes) -> str | None:
    """The text of a JSON string's content cut anywhere, even inside an escape; None if
    the content ends (an unescaped quote) or is no JSON string."""
    text = body.decode("utf-8", "replace")
    for cut in range(min(_CUT_ESCAPE, len(text)) + 1):
        try:
            value = loads('"' + text[: len(text) - cut] + '"')
        except JSONDecodeError:
            continue
        return value if type(value) is str else None
    return None


def _loads_replaced(line: bytes) -> Any:
    """`line` parsed as JSON after replacing its invalid UTF-8, or None if it still is not."""
    try:
        return loads(line.decode("utf-8", "replace"))
    except JSONDecodeError:
        return None
