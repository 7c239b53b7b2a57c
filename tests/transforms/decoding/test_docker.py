from __future__ import annotations

from collections.abc import Callable

import orjson

from shipper.observe.metrics import Metrics
from shipper.record import Record
from shipper.transforms.decoding.detect import LINE_SLACK, make_decoder
from tests.transforms.conftest import Decode, FakeClock

T1 = "2016-10-20T18:39:20.57606443Z"
T2 = "2016-10-20T18:39:20.6Z"
T3 = "2016-10-20T20:39:21+02:00"


def entry(log: str, stream: str = "stdout", ts: str = T1) -> bytes:
    return orjson.dumps({"log": log, "stream": stream, "time": ts}) + b"\n"


def test_lines_become_records_without_their_newline(decode: Decode) -> None:
    a = entry("hello\n")
    b = entry("crlf\r\n", "stderr", T2)
    c = entry("\n", ts=T3)
    assert decode(a + b + c) == [
        Record(T1, "stdout", "hello", 0),
        Record(T2, "stderr", "crlf", len(a)),
        Record(T3, "stdout", "", len(a + b)),
    ]


def test_logs_without_newline_are_joined_with_the_following_ones(decode: Decode) -> None:
    a = entry("x" * 10, ts=T1)
    data = a + entry("y" * 10, ts=T2) + entry("z\r\n", ts=T3) + entry("next\n")
    assert decode(data) == [
        Record(T1, "stdout", "x" * 10 + "y" * 10 + "z", 0),
        Record(T1, "stdout", "next", len(data) - len(entry("next\n"))),
    ]


def test_streams_are_joined_independently(decode: Decode) -> None:
    a = entry("out-1 ")
    b = entry("err-1 ", "stderr")
    c = entry("err-2\n", "stderr", T2)
    d = entry("out-2\n", "stdout", T2)
    assert decode(a + b + c + d) == [
        Record(T1, "stderr", "err-1 err-2", len(a)),
        Record(T1, "stdout", "out-1 out-2", 0),
    ]


def test_escapes_and_unicode_are_decoded(decode: Decode) -> None:
    data = b'{"log":"tab\\there \\u00e9\\ud834\\udd1e \xe2\x82\xac \\"q\\"\\n","stream":"stdout",'
    data += b'"time":"2016-10-20T18:39:20Z"}\n'
    assert [r.log for r in decode(data)] == ['tab\there é𝄞 € "q"']


def test_invalid_utf8_is_replaced(decode: Decode) -> None:
    data = b'{"log":"bad \xff\xc3 bytes\\n","stream":"stderr","time":"2016-10-20T18:39:20Z"}\n'
    assert decode(data) == [Record("2016-10-20T18:39:20Z", "stderr", "bad \ufffd\ufffd bytes", 0)]


def test_malformed_lines_are_shipped_raw_and_counted(
    decode: Decode, counted: Callable[..., float]
) -> None:
    bad = [
        b'{"log":"truncated json',
        b'{"stream":"stdout","time":"2016-10-20T18:39:20Z"}',
        b'{"log":42,"stream":"stdout","time":"2016-10-20T18:39:20Z"}',
        b'{"log":"x\\n","stream":"stdin","time":"2016-10-20T18:39:20Z"}',
        b'{"log":"x\\n","stream":["stdout"],"time":"2016-10-20T18:39:20Z"}',
        b'{"log":"x\\n","stream":"stdout","time":"yesterday"}',
        b'{"log":"x\\n","stream":"stdout"}',
        b'{"log":"x\\n","stream":"stdout","time":"2024-13-45T99:99:99Z"}',
        b'{"log":"x\\n","stream":"stdout","time":"2023-02-29T12:00:00.5Z"}',
        b'{"log":"x\\n","stream":"stdout","time":"0001-01-01T00:30:00+01:00"}',
        b'["log","stream","time"]',
        b'"just a string"',
        b"2016-10-20T18:39:20Z stdout F a CRI line in a docker file",
    ]
    good = entry("first\n")
    records = decode(good + b"\n".join(bad) + b"\n")
    assert records[0] == Record(T1, "stdout", "first", 0)
    raw = records[1:]
    assert [r.log for r in raw] == [b.decode() for b in bad]
    assert {r.stream for r in raw} == {"unknown"}
    offsets = [len(good) + sum(len(b) + 1 for b in bad[:i]) for i in range(len(bad))]
    assert [r.offset for r in raw] == offsets
    assert counted("shipper_records_malformed_total") == len(bad)


def test_empty_lines_are_dropped_and_counted(decode: Decode, counted: Callable[..., float]) -> None:
    a = entry("a\n")
    records = decode(b"\n \n" + a + b"\r\n" + entry("b\n"))
    assert [(r.log, r.offset) for r in records] == [("a", 3), ("b", 3 + len(a) + 2)]
    assert counted("shipper_records_dropped_total", reason="empty") == 3


def test_a_long_record_is_cut_at_a_utf8_boundary(decode: Decode) -> None:
    assert decode(entry("ab" + "€" * 5 + "\n"), max_record_bytes=7) == [
        Record(T1, "stdout", "ab€", 0, truncated=True)
    ]
    assert decode(entry("ab" + "€" * 5 + "\n"), max_record_bytes=17) == [
        Record(T1, "stdout", "ab" + "€" * 5, 0)
    ]
    joined = entry("€" * 3) + entry("€" * 3 + "\n")
    assert decode(joined, max_record_bytes=10) == [Record(T1, "stdout", "€€€", 0, truncated=True)]


def test_a_line_too_long_to_be_held_keeps_its_stream_and_time_and_is_cut(
    decode: Decode, counted: Callable[..., float]
) -> None:
    first = entry("a\n")
    huge = entry("x" * (100 + LINE_SLACK) + "\n", "stderr", T2)
    endless = entry("y" * (5 * LINE_SLACK) + "\n", ts=T3)  # far longer: only its end is kept
    data = first + huge + endless
    expected = [
        Record(T1, "stdout", "a", 0),
        Record(T2, "stderr", "x" * 100, len(first), truncated=True),
        Record(T3, "stdout", "y" * 100, len(first) + len(huge), truncated=True),
    ]
    assert decode(data, max_record_bytes=100) == expected
    assert decode(data, max_record_bytes=100, chunk=1000) == expected
    assert counted("shipper_records_malformed_total") == 0


def test_a_long_line_cut_inside_an_escape_keeps_the_text_before_it(decode: Decode) -> None:
    for escape in (r"\u00e9", r"\ud83d\ude00", r"\\\"", r"\t"):
        body = escape * (200 + LINE_SLACK)
        line = b'{"log":"' + body.encode() + b'\\n","stream":"stdout","time":"' + T1.encode()
        [record] = decode(line + b'"}\n', max_record_bytes=100)
        assert (record.stream, record.time, record.truncated) == ("stdout", T1, True)
        expected = orjson.loads(b'"' + escape.encode() + b'"') * 100
        assert expected.encode()[: len(record.log.encode())] == record.log.encode()
        assert len(record.log.encode()) > 90


def test_a_long_line_that_is_not_one_docker_entry_is_shipped_raw(
    decode: Decode, counted: Callable[..., float]
) -> None:
    long = "z" * (100 + LINE_SLACK)
    bad = [
        orjson.dumps({"log": "short\n", "stream": "stdout", "time": T1, "x": long}),
        orjson.dumps({"log": long, "stream": "stdin", "time": T1}),
        orjson.dumps({"log": long, "stream": "stdout", "time": "2024-02-30T00:00:00Z"}),
        orjson.dumps({"stream": "stdout", "time": T1, "log": long}),
        long.encode() + b'","stream":"stdout","time":"' + T1.encode() + b'"}',
    ]
    records = decode(entry("a\n") + b"\n".join(bad) + b"\n", max_record_bytes=100)
    assert [r.stream for r in records] == ["stdout"] + ["unknown"] * len(bad)
    assert all(r.truncated for r in records[1:])
    assert counted("shipper_records_malformed_total") == len(bad)


def test_a_group_left_open_is_flushed_after_the_partial_timeout(
    metrics: Metrics, clock: FakeClock
) -> None:
    decoder = make_decoder(1024, metrics, partial_timeout=4.0, clock=clock)
    first = entry("partial ")
    assert list(decoder.feed(first, 0)) == []
    clock.now = 3.0
    assert list(decoder.flush_idle(3.0)) == []
    assert list(decoder.flush_idle(4.0)) == [Record(T1, "stdout", "partial ", 0)]
    assert list(decoder.feed(entry("rest\n", ts=T2), len(first))) == [
        Record(T2, "stdout", "rest", len(first))
    ]


def test_finish_emits_open_groups_and_the_unterminated_last_line(decode: Decode) -> None:
    a = entry("open ")
    raw, joined = decode(a + b'{"log":"cut off')
    assert (raw.stream, raw.log, raw.offset) == ("unknown", '{"log":"cut off', len(a))
    assert joined == Record(T1, "stdout", "open ", 0)


def test_the_format_is_detected_past_blank_and_garbage_lines(decode: Decode) -> None:
    garbage = b"\x00\x00\x00\x00"
    records = decode(b"\n\n" + garbage + b"\n" + entry("json\n"))
    assert [(r.stream, r.log, r.offset) for r in records] == [
        ("unknown", "\x00" * 4, 2),
        ("stdout", "json", 7),
    ]
