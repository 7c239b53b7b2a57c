"""What both line formats share: cutting chunks into lines, and lines into bounded records.

Memory stays bounded whatever the file holds: an unterminated line keeps at most
`limit + 1` bytes, and a partial group at most `max_record_bytes + 1`; the rest of
an overlong record is counted, then discarded.
"""

from __future__ import annotations

from collections.abc import Callable

from shipper.record import Record, Records
from shipper.timestamps import now_rfc3339

Run = tuple[list[bytes], int]  # complete lines (without b"\n") and the file offset of the first
END_BYTES = 256  # of an overlong line, kept besides its head: where docker writes stream and time


def _cut_utf8(data: bytes, limit: int) -> bytes:
    """`data` cut to at most `limit` bytes, never inside a UTF-8 sequence (`len(data) > limit`)."""
    end = limit
    floor = max(limit - 3, 0)
    while end > floor and data[end] & 0xC0 == 0x80:  # a continuation byte: step back to its lead
        end -= 1
    return data[:end]


def bounded_text(data: bytes, limit: int) -> tuple[str, bool]:
    """`data` as text (invalid UTF-8 replaced) cut at `limit` bytes, and whether it was cut."""
    if len(data) <= limit:
        return data.decode("utf-8", "replace"), False
    return _cut_utf8(data, limit).decode("utf-8", "replace"), True


class LineSplitter:
    """Cuts a file's chunks into complete lines, however the file was chunked.

    A line longer than `limit` comes out as its first `limit + 1` bytes followed by its
    last `END_BYTES` bytes after those (its end, where docker's json-file writes the
    stream and time), whether it came whole in one chunk or not, so chunking never
    changes a record; an endless line costs `limit + 1 + END_BYTES` bytes. Parsers
    treat every line longer than `limit` as cut there.
    """

    __slots__ = ("_end", "_head", "_size", "limit", "start")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.start = 0  # file offset of the unterminated line: everything before is split
        self._head = b""  # the unterminated line's first bytes, at most `limit + 1`
        self._end = b""  # and its last bytes after those, at most END_BYTES
        self._size = 0  # the unterminated line's full length so far

    @property
    def held(self) -> int:
        return len(self._head) + len(self._end)

    def split(self, data: bytes, start: int) -> list[Run]:
        """The lines that `data`, the file's bytes from `start`, completes, in file order."""
        lines = data.split(b"\n")
        tail = lines.pop()
        line_start = start - self._size
        if not lines:
            self.start = line_start
            self._hold(tail)
            return []
        runs: list[Run] = []
        if self._size > self.limit:  # the held line is overlong: keep its end too
            self._hold(lines[0])
            runs.append(([self._head + self._end], line_start))
            line_start = start + len(lines[0]) + 1
            del lines[0]
        elif self._size:
            lines[0] = self._head + lines[0]
        if lines:
            if max(map(len, lines)) > self.limit:
                lines = [self._clip(line) for line in lines]
            runs.append((lines, line_start))
        self.start = start + len(data) - len(tail)
        self._head = self._end = b""
        self._size = 0
        self._hold(tail)
        return runs

    def take(self) -> Run | None:
        """The unterminated line as a run of its own (no more bytes will come), if any."""
        if not self._size:
            return None
        run = ([self._clip(self._head + self._end)], self.start)
        self.start += self._size
        self._head = self._end = b""
        self._size = 0
        return run

    def _clip(self, line: bytes) -> bytes:
        """A whole line as an overlong one comes out: its head and its end."""
        head = self.limit + 1
        if len(line) <= head + END_BYTES:
            return line
        return line[:head] + line[-END_BYTES:]

    def _hold(self, piece: bytes) -> None:
        self._size += len(piece)
        room = self.limit + 1 - len(self._head)
        if room > 0:
            self._head += piece[:room]
            piece = piece[room:]
        if piece:
            self._end = (self._end + piece)[-END_BYTES:]


class _Group:
    """The fragments of one stream's record so far, at most `limit + 1` bytes of them."""

    __slots__ = ("offset", "opened", "parts", "size", "time")

    def __init__(self, time: str, offset: int, opened: float) -> None:
        self.time = time  # the first fragment's
        self.offset = offset  # the first fragment's line
        self.opened = opened  # clock reading when the first fragment was parsed
        self.parts: list[bytes] = []
        self.size = 0  # every fragment's bytes, kept or not

    def add(self, content: bytes, limit: int) -> None:
        room = limit + 1 - self.size
        if room > 0:
            self.parts.append(content[:room] if len(content) > room else content)
        self.size += len(content)

    def record(self, stream: str, limit: int, complete: bool) -> Record:
        data = b"".join(self.parts)
        if complete and data[-1:] == b"\r" and self.size == len(data):
            data = data[:-1]  # part of the line's end, like a "\r\n" terminator
        text, truncated = bounded_text(data, limit)
        return Record(self.time, stream, text, self.offset, truncated)


class Assembler:
    """Turns parsed lines into records, shared by the parsers of one file.

    Joins partial fragments per stream, bounds every text by `max_record_bytes`, ships
    lines that do not parse as raw text, and tallies malformed and blank lines for the
    decoder to publish once per chunk. Also knows where re-reading must start to
    reproduce the groups still open.
    """

    __slots__ = (
        "_clock",
        "_now",
        "empty",
        "group_restart",
        "groups",
        "limit",
        "line_limit",
        "malformed",
    )

    def __init__(self, max_record_bytes: int, line_limit: int, clock: Callable[[], float]) -> None:
        self.limit = max_record_bytes
        self.line_limit = line_limit  # longer lines arrive cut (see `LineSplitter`)
        self.groups: dict[str, _Group] = {}  # open groups by stream, oldest first
        # While groups are open: the last line start at which none was. Re-reading from
        # there redoes every open group whole (and, with interleaved streams, may repeat
        # records already returned, with their same offsets: same ids downstream).
        # See `shipper.restart`.
        self.group_restart = 0
        self.malformed = 0
        self.empty = 0
        self._clock = clock
        self._now: str | None = None  # the time given to raw records of the current chunk

    @property
    def held(self) -> int:
        return sum(len(part) for group in self.groups.values() for part in group.parts)

    def partial(self, stream: str, time: str, offset: int, content: bytes) -> None:
        """A fragment that its stream's next ones continue."""
        group = self.groups.get(stream)
        if group is None:
            if not self.groups:
                self.group_restart = offset
            group = self.groups[stream] = _Group(time, offset, self._clock())
        group.add(content, self.limit)

    def close(self, stream: str, content: bytes) -> Record:
        """The last fragment of the open group of `stream`: the joined record."""
        group = self.groups.pop(stream)
        group.add(content, self.limit)
        return group.record(stream, self.limit, complete=True)

    def raw(self, line: bytes, offset: int, out: Records) -> None:
        """A line that does not parse: dropped when blank, else shipped as its text."""
        if len(line) <= self.line_limit and not line.strip():
            self.empty += 1
            return
        self.malformed += 1
        if line[-1:] == b"\r":
            line = line[:-1]
        if self._now is None:
            self._now = now_rfc3339()
        text, truncated = bounded_text(line, self.limit)
        out.append(Record(self._now, "unknown", text, offset, truncated))

    def flush(self, expired: Callable[[float], bool]) -> list[Record]:
        """Emit, as they are, the open groups whose opening time is `expired`."""
        streams = [stream for stream, group in self.groups.items() if expired(group.opened)]
        return [self.groups.pop(s).record(s, self.limit, complete=False) for s in streams]

    def end_chunk(self) -> tuple[int, int]:
        """The (malformed, empty) tallies since the last call, now reset."""
        tallies = self.malformed, self.empty
        self.malformed = self.empty = 0
        self._now = None
        return tallies
