"""The CRI log format of containerd and CRI-O: `<time> <stdout|stderr> <P|F>[:tags] <content>`.

The runtime cuts long lines into `P` records ended by an `F` one, per stream; the
streams interleave independently (reference: kubelet-logs.md, 6a).
"""

from __future__ import annotations

from shipper.record import Record
from shipper.transforms.lines import Assembler, bounded_text
from shipper.transforms.timestamps import is_timestamp

_STREAMS = {b"stdout": "stdout", b"stderr": "stderr"}


class CriParser:
    """Parses complete CRI lines into records (one loop per chunk: this is the hot path)."""

    def __init__(self, assembler: Assembler) -> None:
        self._asm = assembler

    def parse(self, lines: list[bytes], offset: int, out: list[Record]) -> None:
        """Append the records that `lines`, starting at file offset `offset`, complete."""
        asm = self._asm
        groups = asm.groups
        limit = asm.limit
        streams = _STREAMS
        append = out.append
        pos = offset
        for line in lines:
            start = pos
            pos += len(line) + 1
            fields = line.split(b" ", 3)
            if len(fields) == 4:
                ts, stream_name, tag, content = fields
            elif len(fields) == 3:  # no content, not even its leading space
                ts, stream_name, tag = fields
                content = b""
            else:
                asm.raw(line, start, out)
                continue
            stream = streams.get(stream_name)
            if stream is None or not is_timestamp(ts):
                asm.raw(line, start, out)
                continue
            if tag != b"F":
                kind = tag.partition(b":")[0]  # further tags are reserved: only the first counts
                if kind == b"P":
                    asm.partial(stream, ts.decode("ascii"), start, content)
                    continue
                if kind != b"F":
                    asm.raw(line, start, out)
                    continue
            if stream in groups:
                append(asm.close(stream, content))
                continue
            if content[-1:] == b"\r":
                content = content[:-1]
            if len(content) <= limit:
                append(
                    Record(ts.decode("ascii"), stream, content.decode("utf-8", "replace"), start)
                )
            else:
                text, _ = bounded_text(content, limit)
                append(Record(ts.decode("ascii"), stream, text, start, True))
