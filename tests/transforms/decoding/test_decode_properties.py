"""Properties that make positions exact: chunking never matters; resuming loses nothing."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.observe.metrics import Metrics
from shipper.record import Record, Records
from shipper.transforms.decoding.cri import CriParser
from shipper.transforms.decoding.detect import DetectingDecoder
from shipper.transforms.decoding.lines import Assembler
from tests.transforms.conftest import feed_at

# Small bounds, so that cut records and overlong lines come up often.
MAX_RECORD_BYTES = 24
LINE_SLACK = 56  # longer than any CRI header generated below (at most 50 bytes)
DOCKER_LINE_SLACK = 100

TIMES = [
    "2024-05-01T12:00:00Z",
    "2024-05-01T12:00:00.5Z",
    "2024-05-01T12:00:00.6697942Z",
    "2024-05-01T12:00:00.669794202Z",
    "2024-05-01T17:30:00.12+05:30",
]
PIECES = [b"a", b"b", b" ", b"\r", b"{", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9d\x84\x9e"]
INVALID = [b"\xff", b"\xc3", b"\x80"]

content = st.builds(
    lambda pieces, repeat: b"".join(pieces) * repeat,
    st.lists(st.sampled_from(PIECES + INVALID), max_size=30),
    st.sampled_from([1, 1, 1, 4]),
)
garbage = st.sampled_from([b"", b"\r", b"  ", b"oops", b"{", b"\x00\x00", b"2024 stdout F x"])


@st.composite
def cri_line(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(garbage)
    ts = draw(st.sampled_from(TIMES))
    stream = draw(st.sampled_from(["stdout", "stderr"]))
    tag = draw(st.sampled_from(["F", "P", "P", "P:more", "F:x"]))
    return f"{ts} {stream} {tag} ".encode() + draw(content)


@st.composite
def docker_line(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(garbage)
    ts = draw(st.sampled_from(TIMES))
    stream = draw(st.sampled_from(["stdout", "stderr"]))
    end = draw(st.sampled_from(["\n", "\r\n", "", ""]))
    if kind == 1:  # invalid UTF-8 straight in the JSON string
        raw = draw(st.lists(st.sampled_from([b"a", b" ", b"\xc3\xa9", *INVALID])).map(b"".join))
        escaped = raw + end.encode().replace(b"\r", b"\\r").replace(b"\n", b"\\n")
        return b'{"log":"' + escaped + f'","stream":"{stream}","time":"{ts}"}}'.encode()
    text = draw(st.text(alphabet='ab é€𝄞\t"\\', max_size=30)) * draw(st.sampled_from([1, 1, 4]))
    text += end
    return orjson.dumps({"log": text, "stream": stream, "time": ts})


def file_of(lines: list[bytes], terminated: bool) -> bytes:
    return b"\n".join(lines) + (b"\n" if terminated and lines else b"")


def decoder(docker: bool) -> DetectingDecoder:
    slack = DOCKER_LINE_SLACK if docker else LINE_SLACK
    return DetectingDecoder(MAX_RECORD_BYTES, Metrics(), line_slack=slack)


def norm(records: list[Record]) -> list[tuple[str, str, str, int, bool]]:
    """Records comparable across runs: raw lines are stamped with the time they were read."""
    return [
        ("now" if r.stream == "unknown" else r.time, r.stream, r.log, r.offset, r.truncated)
        for r in records
    ]


def decode(data: bytes, docker: bool, cuts: list[int]) -> list[Record]:
    d = decoder(docker)
    return feed_at(d, data, cuts) + list(d.finish())


files = st.one_of(
    st.tuples(st.just(False), st.lists(cri_line(), max_size=30), st.booleans()),
    st.tuples(st.just(True), st.lists(docker_line(), max_size=30), st.booleans()),
)


@settings(max_examples=200, deadline=None)
@given(files, st.data())
def test_any_chunking_gives_the_same_records(
    file: tuple[bool, list[bytes], bool], data: st.DataObject
) -> None:
    docker, lines, terminated = file
    raw = file_of(lines, terminated)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
    assert norm(decode(raw, docker, cuts)) == norm(decode(raw, docker, []))


@settings(max_examples=200, deadline=None)
@given(files, st.data())
def test_resuming_at_resume_offset_yields_the_records_not_yet_returned(
    file: tuple[bool, list[bytes], bool], data: st.DataObject
) -> None:
    docker, lines, terminated = file
    raw = file_of(lines, terminated)
    full = norm(decode(raw, docker, []))
    prefix = data.draw(st.integers(0, len(raw)))
    first = decoder(docker)
    returned = norm(feed_at(first, raw[:prefix], data.draw(st.lists(st.integers(0, prefix)))))
    resume = first.resume_offset
    assert resume <= prefix
    second = decoder(docker)
    tail = raw[resume:]
    cuts = data.draw(st.lists(st.integers(0, len(tail)), max_size=5))
    rest = norm(feed_at(second, tail, cuts, resume) + list(second.finish()))
    # What was returned is the start of the whole; what the resumed decoder returns is
    # the end of the whole: together nothing is lost, and any overlap is the very same
    # records (same offsets, so the same ids downstream).
    assert returned == full[: len(returned)]
    assert rest == full[len(full) - len(rest) :]
    # Records are repeated only when they completed while another stream's group was
    # open, and then they are the returned ones at or after the resume offset.
    repeated = sum(1 for r in returned if r[3] >= resume)
    assert len(returned) + len(rest) == len(full) + repeated


def parse_cri(lines: list[bytes], line_by_line: bool) -> tuple[list[tuple], int, int]:
    """The records, malformed and blank tallies of one CRI parser given `lines`."""
    asm = Assembler(MAX_RECORD_BYTES, MAX_RECORD_BYTES + LINE_SLACK, lambda: 0.0)
    parser = CriParser(asm)
    out = Records()
    if line_by_line:
        start = 0
        for line in lines:
            parser._line(line, start, out)
            start += len(line) + 1
    else:
        parser.parse(lines, 0, out)
    return norm(list(out)), asm.malformed, asm.empty


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(cri_line(), cri_line().map(lambda line: line.rstrip(b"\r"))), max_size=40)
)
def test_cri_columns_give_what_parsing_line_by_line_gives(lines: list[bytes]) -> None:
    # plain runs go through the columnar path, the rest line by line: the same records
    assert parse_cri(lines, line_by_line=False) == parse_cri(lines, line_by_line=True)
