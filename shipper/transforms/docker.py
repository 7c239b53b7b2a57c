"""Docker's json-file format: `{"log":"…\\n","stream":"stdout","time":"…"}` per line.

Docker cuts lines longer than 16 KiB into entries whose `log` does not end in
`\\n`; the entries that follow on the same stream continue them (kubelet-logs.md, 6b).
"""

from __future__ import annotations

from typing import Any

from orjson import JSONDecodeError, loads

from shipper.record import Record, Records
from shipper.transforms.lines import Assembler, bounded_text
from shipper.transforms.timestamps import is_timestamp

_STREAMS = {"stdout": "stdout", "stderr": "stderr"}


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
                asm.raw(line, start, out)
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


def _loads_replaced(line: bytes) -> Any:
    """`line` parsed as JSON after replacing its invalid UTF-8, or None if it still is not."""
    try:
        return loads(line.decode("utf-8", "replace"))
    except JSONDecodeError:
        return None
