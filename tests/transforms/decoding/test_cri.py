from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shipper.observe.metrics import Metrics
from shipper.record import Record
from shipper.transforms.decoding.detect import LINE_SLACK, make_decoder
from shipper.transforms.decoding.lines import END_BYTES
from tests.transforms.conftest import Decode, FakeClock, Feed

T1 = "2024-05-01T12:00:00.1Z"
T2 = "2024-05-01T12:00:00.22Z"
T3 = "2024-05-01T12:00:00.333Z"


def line(ts: str, stream: str, tag: str, content: bytes | str) -> bytes:
    text = content.encode() if isinstance(content, str) else content
    return f"{ts} {stream} {tag} ".encode() + text + b"\n"


def test_full_lines_become_records_with_their_offsets(decode: Decode) -> None:
    a = line(T1, "stdout", "F", "hello world")
    b = line(T2, "stderr", "F", "oops: it  broke ")
    assert decode(a + b) == [
        Record(T1, "stdout", "hello world", 0),
        Record(T2, "stderr", "oops: it  broke ", len(a)),
    ]


def test_partials_are_joined_up_to_the_full_record_of_their_stream(decode: Decode) -> None:
    data = line(T1, "stdout", "P", "one ") + line(T2, "stdout", "P", "two ")
    data += line(T3, "stdout", "F", "three")
    assert decode(data) == [Record(T1, "stdout", "one two three", 0)]


def test_streams_interleave_independently(decode: Decode) -> None:
    a = line(T1, "stdout", "P", "out-1 ")
    b = line(T1, "stderr", "P", "err-1 ")
    c = line(T2, "stderr", "F", "err-2")
    d = line(T2, "stdout", "F", "out-2")
    e = line(T3, "stderr", "F", "err-3")
    assert decode(a + b + c + d + e) == [
        Record(T1, "stderr", "err-1 err-2", len(a)),
        Record(T1, "stdout", "out-1 out-2", 0),
        Record(T3, "stderr", "err-3", len(a + b + c + d)),
    ]


def test_only_the_first_of_several_tags_counts(decode: Decode) -> None:
    data = line(T1, "stdout", "P:more:tags", "a") + line(T2, "stdout", "F:x", "b")
    assert decode(data) == [Record(T1, "stdout", "ab", 0)]


def test_time_is_kept_as_written_whatever_its_width_or_offset(decode: Decode) -> None:
    times = [
        "2016-10-06T00:17:09Z",
        "2016-10-06T00:17:09.6697942Z",
        "2016-10-06T00:17:09.669794202Z",
        "2016-10-06T05:47:09.5+05:30",
    ]
    records = decode(b"".join(line(ts, "stdout", "F", "x") for ts in times))
    assert [r.time for r in records] == times
    assert {r.stream for r in records} == {"stdout"}


def test_a_crlf_terminator_is_not_part_of_the_text(decode: Decode) -> None:
    data = line(T1, "stdout", "F", "windows\r") + line(T2, "stdout", "P", "a\r")
    data += line(T3, "stdout", "F", "b\r")
    assert [r.log for r in decode(data)] == ["windows", "a\rb"]


def test_invalid_utf8_is_replaced(decode: Decode) -> None:
    data = line(T1, "stdout", "F", b"bad \xff\xfe bytes \xc3") + line(T2, "stdout", "F", "ok")
    assert [r.log for r in decode(data)] == ["bad \ufffd\ufffd bytes \ufffd", "ok"]


def test_a_line_without_content_is_an_empty_record(decode: Decode) -> None:
    data = f"{T1} stdout F\n{T2} stdout F \n".encode()
    assert [r.log for r in decode(data)] == ["", ""]


def test_empty_lines_are_dropped_and_counted(decode: Decode, counted: Callable[..., float]) -> None:
    a = line(T1, "stdout", "F", "a")
    records = decode(b"\n\r\n" + a + b"\n  \n" + line(T2, "stdout", "F", "b"))
    assert [(r.log, r.offset) for r in records] == [("a", 3), ("b", 3 + len(a) + 4)]
    assert counted("shipper_records_dropped_total", reason="empty") == 4


def test_malformed_lines_are_shipped_raw_and_counted(
    decode: Decode, counted: Callable[..., float]
) -> None:
    bad = [
        b"not a log line at all",
        b"2024-05-01 12:00:00Z stdout F space in time",
        f"{T1} stdin F bad stream".encode(),
        f"{T1} stdout X bad tag".encode(),
        f"{T1} stdout".encode(),
        b'{"log":"json in a CRI file\\n"}',
        b"2024-13-45T99:99:99Z stdout F timestamp-shaped garbage",
        b"2024-02-30T12:00:00.5Z stdout F thirty february",
        b"2024-05-01T12:00:00+99:99 stdout F offset out of range",
        b"9999-12-31T23:30:00-01:00 stderr F year 10000 in UTC",
    ]
    good = line(T1, "stdout", "F", "first")
    records = decode(good + b"\n".join(bad) + b"\r\n")
    assert records[0] == Record(T1, "stdout", "first", 0)
    raw = records[1:]
    assert [r.log for r in raw] == [b.decode() for b in bad]
    assert {r.stream for r in raw} == {"unknown"}
    assert not any(r.truncated for r in raw)
    offsets = [len(good) + sum(len(b) + 1 for b in bad[:i]) for i in range(len(bad))]
    assert [r.offset for r in raw] == offsets
    for record in raw:
        assert record.time.endswith("Z") and len(record.time) == 30
    assert counted("shipper_records_malformed_total") == len(bad)


def test_malformed_lines_before_the_first_cri_line_do_not_change_the_format(
    decode: Decode,
) -> None:
    data = b"{garbage\n\x00\x00\x00\n" + line(T1, "stdout", "F", "cri")
    records = decode(data)
    assert [(r.stream, r.log) for r in records] == [
        ("unknown", "{garbage"),
        ("unknown", "\x00\x00\x00"),
        ("stdout", "cri"),
    ]


def test_a_long_record_is_cut_at_a_utf8_boundary(decode: Decode) -> None:
    text = "ab" + "é" * 10  # 2 + 20 bytes
    records = decode(line(T1, "stdout", "F", text), max_record_bytes=9)
    assert records == [Record(T1, "stdout", "abééé", 0, truncated=True)]
    records = decode(line(T1, "stdout", "F", text), max_record_bytes=10)
    assert records == [Record(T1, "stdout", "abéééé", 0, truncated=True)]
    records = decode(line(T1, "stdout", "F", text), max_record_bytes=22)
    assert records == [Record(T1, "stdout", text, 0)]


def test_a_long_joined_record_is_cut_and_its_other_fragments_are_not_kept(
    metrics: Metrics,
) -> None:
    decoder = make_decoder(10, metrics)
    first = line(T1, "stdout", "P", "12345678")
    records = list(decoder.feed(first, 0))
    offset = len(first)
    for _ in range(100):
        fragment = line(T2, "stdout", "P", "€" * 100)
        records += list(decoder.feed(fragment, offset))
        offset += len(fragment)
        assert decoder.buffered_bytes <= 11  # type: ignore[attr-defined]
    records += list(decoder.feed(line(T3, "stdout", "F", "end"), offset))
    assert records == [Record(T1, "stdout", "12345678", 0, truncated=True)]


def test_an_endless_line_holds_bounded_memory_and_yields_one_cut_record(
    metrics: Metrics,
) -> None:
    limit = 1024 * 1024
    decoder = make_decoder(limit, metrics)
    head = f"{T1} stdout F ".encode()
    chunk = b"x" * (256 * 1024)
    offset = len(head)
    assert list(decoder.feed(head, 0)) == []
    for _ in range(400):  # 100 MiB
        assert list(decoder.feed(chunk, offset)) == []
        offset += len(chunk)
        held = decoder.buffered_bytes  # type: ignore[attr-defined]
        assert held <= limit + LINE_SLACK + 1 + END_BYTES
        assert decoder.resume_offset == 0
    after = line(T2, "stderr", "F", "next")
    records = list(decoder.feed(b"yy\n" + after, offset))
    assert records == [
        Record(T1, "stdout", "x" * limit, 0, truncated=True),
        Record(T2, "stderr", "next", offset + 3),
    ]
    assert decoder.buffered_bytes == 0  # type: ignore[attr-defined]
    assert decoder.resume_offset == offset + 3 + len(after)


def test_an_endless_line_at_the_end_of_a_file_is_cut_by_finish(metrics: Metrics) -> None:
    decoder = make_decoder(100, metrics)
    decoder.feed(line(T1, "stdout", "F", "before"), 0)
    start = decoder.resume_offset
    head = f"{T2} stdout F ".encode()
    decoder.feed(head, start)
    for i in range(50):
        decoder.feed(b"z" * 10_000, start + len(head) + i * 10_000)
    assert list(decoder.finish()) == [Record(T2, "stdout", "z" * 100, start, truncated=True)]
    assert decoder.resume_offset == start + len(head) + 500_000


def test_a_group_left_open_is_flushed_after_the_partial_timeout(
    metrics: Metrics, clock: FakeClock
) -> None:
    decoder = make_decoder(1024, metrics, partial_timeout=4.0, clock=clock)
    clock.now = 100.0
    first = line(T1, "stdout", "P", "half ")
    assert list(decoder.feed(first, 0)) == []
    clock.now = 103.0
    second = line(T2, "stdout", "P", "more ")
    assert list(decoder.feed(second, len(first))) == []
    assert list(decoder.flush_idle(103.9)) == []
    assert decoder.resume_offset == 0
    assert list(decoder.flush_idle(104.0)) == [Record(T1, "stdout", "half more ", 0)]
    assert decoder.resume_offset == len(first + second)
    assert list(decoder.flush_idle(200.0)) == []
    rest = list(decoder.feed(line(T3, "stdout", "F", "end"), len(first + second)))
    assert rest == [Record(T3, "stdout", "end", len(first + second))]


def test_finish_emits_open_groups_and_the_unterminated_last_line(decode: Decode) -> None:
    a = line(T1, "stderr", "P", "err ")
    b = line(T2, "stdout", "F", "out")
    c = line(T3, "stdout", "P", "cut ")
    tail = f"{T3} stdout F unterminated".encode()
    assert decode(a + b + c + tail) == [
        Record(T2, "stdout", "out", len(a)),
        Record(T3, "stdout", "cut unterminated", len(a + b)),
        Record(T1, "stderr", "err ", 0),
    ]


def test_resume_offset_is_where_the_records_not_yet_returned_begin(
    metrics: Metrics,
) -> None:
    decoder = make_decoder(1024, metrics)
    assert decoder.resume_offset == 0
    a = line(T1, "stdout", "F", "done")
    decoder.feed(a, 0)
    assert decoder.resume_offset == len(a)
    b = line(T2, "stdout", "P", "open ")
    decoder.feed(b + b"2024-05-01", len(a))
    assert decoder.resume_offset == len(a)  # the open group, before the unterminated line
    rest = b"T12:00:00Z stdout F shut\n"
    decoder.feed(rest, len(a + b) + 10)
    assert decoder.resume_offset == len(a + b) + 10 + len(rest)
    decoder.feed(b"2024-05", len(a + b) + 10 + len(rest))
    assert decoder.resume_offset == len(a + b) + 10 + len(rest)  # the unterminated line


def test_resuming_at_resume_offset_yields_exactly_the_records_not_yet_returned(
    metrics: Metrics, feed: Feed
) -> None:
    data = line(T1, "stdout", "F", "a") + line(T1, "stdout", "P", "b1 ")
    data += line(T2, "stdout", "P", "b2 ") + line(T2, "stdout", "F", "b3")
    data += line(T3, "stderr", "F", "c") + f"{T3} stdout F d".encode()
    whole = make_decoder(1024, metrics)
    expected = list(whole.feed(data, 0)) + list(whole.finish())
    for cut in range(len(data) + 1):
        first = make_decoder(1024, metrics)
        returned = feed(first, data[:cut], [cut // 2])
        resume = first.resume_offset
        second = make_decoder(1024, metrics)
        rest = list(second.feed(data[resume:], resume)) + list(second.finish())
        assert returned + rest == expected, cut


def test_interleaved_partials_resume_without_inventing_records(
    metrics: Metrics, feed: Feed
) -> None:
    a = line(T1, "stdout", "P", "out-1 ")
    b = line(T1, "stderr", "P", "err-1 ")
    c = line(T2, "stdout", "F", "out-2")
    d = line(T2, "stderr", "F", "err-2")
    first = make_decoder(1024, metrics)
    returned = list(first.feed(a + b + c, 0))
    assert returned == [Record(T1, "stdout", "out-1 out-2", 0)]
    assert first.resume_offset == 0  # not len(a): re-reading from b would make c a record
    second = make_decoder(1024, metrics)
    replayed = list(second.feed(a + b + c + d, 0))
    assert replayed == [returned[0], Record(T1, "stderr", "err-1 err-2", len(a))]


def test_a_file_read_in_small_chunks_decodes_as_a_whole(tmp_path: Path, decode: Decode) -> None:
    path = tmp_path / "0.log"
    with path.open("wb") as file:
        for i in range(200):
            stream = "stderr" if i % 3 else "stdout"
            tag = "P" if i % 4 == 1 else "F"
            file.write(line(T1, stream, tag, f"line {i} ü€𝄞 \xff".encode() + b"\xff"))
    data = path.read_bytes()
    whole = decode(data)
    assert len(whole) == 150
    assert decode(data, chunk=7) == whole
    assert decode(data, chunk=4096) == whole
