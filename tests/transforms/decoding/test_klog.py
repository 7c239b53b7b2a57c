"""Node files' lines to records: klog headers parsed, continuations joined, plain text kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from shipper.transforms.decoding.klog import IDLE_FLUSH, KlogDecoder, klog_time

KLOG = (
    b"I0102 15:04:05.123456    1234 server.go:42] Starting proxier\n"
    b"E0102 15:04:06.000001    1234 proxier.go:7] sync failed: boom\n"
    b"goroutine 1 [running]:\n"
    b"main.main()\n"
    b"W0102 15:04:07.5 99 x.go:1] last\n"
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_klog_headers_and_continuations() -> None:
    decoder = KlogDecoder(1024, Clock())
    records = decoder.feed(KLOG, 0) + decoder.finish()
    assert [(r.severity, r.pid, r.source, r.message) for r in records] == [
        ("I", "1234", "server.go:42", "Starting proxier"),
        ("E", "1234", "proxier.go:7", "sync failed: boom\ngoroutine 1 [running]:\nmain.main()"),
        ("W", "99", "x.go:1", "last"),
    ]
    assert [r.offset for r in records] == [0, KLOG.index(b"E0102"), KLOG.index(b"W0102")]
    assert records[0].time.endswith("-01-02T15:04:05.123456Z")
    assert records[2].time.endswith("-01-02T15:04:07.500000Z")


def test_records_do_not_depend_on_chunking_and_resume_where_a_record_is_open() -> None:
    whole = KlogDecoder(1024, Clock())
    expected = whole.feed(KLOG, 0) + whole.finish()
    decoder = KlogDecoder(1024, Clock())
    got = []
    for i in range(len(KLOG)):
        got += decoder.feed(KLOG[i : i + 1], i)
        if i == KLOG.index(b"main.main()"):
            assert decoder.resume_offset == KLOG.index(b"E0102")  # the open record's start
    got += decoder.finish()
    assert [(r.offset, r.message, r.source) for r in got] == [
        (r.offset, r.message, r.source) for r in expected
    ]


def test_plain_lines_are_records_of_their_own() -> None:
    decoder = KlogDecoder(1024, Clock())
    data = b'time="2024-01-02T03:04:05Z" level=info msg="hi"\n\nplain etcd line\r\n'
    records = decoder.feed(data, 0)
    assert [(r.message, r.severity, r.offset) for r in records] == [
        ('time="2024-01-02T03:04:05Z" level=info msg="hi"', None, 0),
        ("plain etcd line", None, data.index(b"plain")),
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", r.time) for r in records)


def test_an_open_record_goes_out_after_the_idle_flush() -> None:
    clock = Clock()
    decoder = KlogDecoder(1024, clock)
    assert decoder.feed(b"I0102 15:04:05.123456 1 a.go:1] waiting\n", 0) == []
    clock.now += IDLE_FLUSH - 0.1
    assert decoder.flush_idle(clock.now) == []
    clock.now += 0.2
    assert [r.message for r in decoder.flush_idle(clock.now)] == ["waiting"]
    assert decoder.resume_offset == len(b"I0102 15:04:05.123456 1 a.go:1] waiting\n")


def test_long_records_are_cut_and_marked() -> None:
    decoder = KlogDecoder(1024, Clock())
    records = decoder.feed(b"I0102 15:04:05.1 1 a.go:1] " + b"x" * 5000 + b"\n", 0)
    records += decoder.finish()
    assert len(records) == 1 and records[0].truncated and len(records[0].message) <= 1024


def test_the_year_of_a_klog_time() -> None:
    head = re.compile(rb"([IWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{1,9})")
    december = head.match(b"I1231 23:59:59.000001")
    assert december is not None
    january = datetime(2027, 1, 1, 0, 0, 5, tzinfo=UTC)
    assert klog_time(december, january) == "2026-12-31T23:59:59.000001Z"
    same_day = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert klog_time(december, same_day) == "2026-12-31T23:59:59.000001Z"
