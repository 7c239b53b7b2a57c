"""The CRI log format of containerd and CRI-O: `<time> <stdout|stderr> <P|F>[:tags] <content>`.

The runtime cuts long lines into `P` records ended by an `F` one, per stream; the
streams interleave independently (reference: kubelet-logs.md, 6a).

Nearly every line is a plain full one (`F`, a valid `Z` time, a known stream, no `\\r`,
within max_record_bytes). Runs of those are parsed as whole columns by C-level
`map`/`zip` calls, with no Python step per line; the rest (partials and the lines
while a partial group is open, malformed lines, numeric offsets, `\\r\\n` endings,
overlong lines) go through the line-by-line parser, which gives the same records.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from itertools import accumulate, repeat
from operator import add, itemgetter

from shipper.record import Record, Records
from shipper.timestamps import ZULU, all_zulu, is_timestamp
from shipper.transforms.decoding.lines import Assembler, bounded_text

_STREAMS = {b"stdout": "stdout", b"stderr": "stderr"}
_ONE_ZULU = re.compile(ZULU).fullmatch
_LAST_BYTE = itemgetter(slice(-1, None))
_NO_FIELDS = [b"", b"", b"", b""]  # stands in for a line of fewer than four fields


class CriParser:
    """Parses complete CRI lines into records."""

    def __init__(self, assembler: Assembler) -> None:
        self._asm = assembler

    def parse(self, lines: list[bytes], offset: int, out: Records) -> None:
        """Append the records that `lines`, starting at file offset `offset`, complete."""
        if not lines:
            return
        asm = self._asm
        starts = list(accumulate(map(add, map(len, lines), repeat(1)), initial=offset))
        columns, irregular = self._columns(lines)
        n = len(lines)
        i = 0
        while i < n:
            if not asm.groups:
                # the plain lines up to the next irregular one, as columns
                at = bisect_left(irregular, i)
                j = irregular[at] if at < len(irregular) else n
                if j > i:
                    stamps, streams, _, contents = columns
                    out.add_columns(stamps[i:j], streams[i:j], _texts(contents[i:j]), starts[i:j])
                    i = j
                    continue
            # line by line while a group is open, and for an irregular line
            self._line(lines[i], starts[i], out)
            i += 1

    def _columns(self, lines: list[bytes]) -> tuple[list[tuple[bytes, ...]], list[int]]:
        """The lines' four fields as columns, and the sorted positions of irregular lines.

        Each test runs over a whole column in C (`count`, a regex over the joined times);
        only a column that fails it is searched line by line for the culprits.
        """
        rows = list(map(bytes.split, lines, repeat(b" "), repeat(3)))
        columns = list(zip(*rows, strict=False))
        irregular: set[int] = set()
        if len(columns) < 4:  # some line has fewer than four fields
            irregular.update(k for k, row in enumerate(rows) if len(row) < 4)
            for k in irregular:
                rows[k] = _NO_FIELDS
            columns = list(zip(*rows, strict=False))
        stamps, streams, tags, contents = columns
        n = len(rows)
        if tags.count(b"F") != n:
            irregular.update(k for k, tag in enumerate(tags) if tag != b"F")
        if streams.count(b"stdout") + streams.count(b"stderr") != n:
            irregular.update(k for k, stream in enumerate(streams) if stream not in _STREAMS)
        if not all_zulu(stamps):
            irregular.update(k for k, stamp in enumerate(stamps) if not _ONE_ZULU(stamp))
        if b"\r" in map(_LAST_BYTE, contents):
            irregular.update(k for k, content in enumerate(contents) if content[-1:] == b"\r")
        limit = self._asm.limit
        if max(map(len, contents)) > limit:
            irregular.update(k for k, content in enumerate(contents) if len(content) > limit)
        return columns, sorted(irregular)

    def _line(self, line: bytes, start: int, out: Records) -> None:
        """One line, parsed on its own."""
        asm = self._asm
        fields = line.split(b" ", 3)
        if len(fields) == 4:
            ts, stream_name, tag, content = fields
        elif len(fields) == 3:  # no content, not even its leading space
            ts, stream_name, tag = fields
            content = b""
        else:
            asm.raw(line, start, out)
            return
        stream = _STREAMS.get(stream_name)
        if stream is None or not is_timestamp(ts):
            asm.raw(line, start, out)
            return
        if tag != b"F":
            kind = tag.partition(b":")[0]  # further tags are reserved: only the first counts
            if kind == b"P":
                asm.partial(stream, ts.decode("ascii"), start, content)
                return
            if kind != b"F":
                asm.raw(line, start, out)
                return
        if stream in asm.groups:
            out.append(asm.close(stream, content))
            return
        if content[-1:] == b"\r":
            content = content[:-1]
        text, truncated = bounded_text(content, asm.limit)
        out.append(Record(ts.decode("ascii"), stream, text, start, truncated))


def _texts(contents: tuple[bytes, ...]) -> list[str]:
    """`contents` as text, invalid UTF-8 replaced (checking for it only when there is some)."""
    try:
        return list(map(bytes.decode, contents))
    except UnicodeDecodeError:
        return list(map(bytes.decode, contents, repeat("utf-8"), repeat("replace")))
