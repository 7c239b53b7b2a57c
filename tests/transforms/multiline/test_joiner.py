"""Stack traces joined into one record per stream, with exact resume offsets."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.budget import ByteBudget
from shipper.file_pipeline import FilePipeline
from shipper.observe.metrics import Metrics
from shipper.pipeline import Pipeline
from shipper.record import AckTracker, Documents, Record
from shipper.settings import FilterSettings, KubernetesSettings, RecordSettings
from shipper.sinks.base import Sink
from shipper.sources.tail.consumer import FileInfo
from shipper.transforms.enrichment.enrich import Enricher
from shipper.transforms.enrichment.naming import FileNames
from shipper.transforms.kubernetes import PodMetadata
from shipper.transforms.multiline.joiner import TraceJoiner, rules_for
from tests.transforms.conftest import FakeClock

PATH = "/var/log/pods/default_web-1_0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/app/0.log"

SPRING = [
    "2024-05-01T12:00:01.234Z ERROR 1 --- [nio-8080-exec-3] o.a.c.c.C.[.[.[/].[dispatcherServlet]"
    "    : Servlet.service() for servlet [dispatcherServlet] threw exception [Request processing"
    " failed: org.springframework.dao.DataIntegrityViolationException: could not execute"
    " statement] with root cause",
    "",
    "org.springframework.dao.DataIntegrityViolationException: could not execute statement;"
    " SQL [n/a]; constraint [orders_pkey]",
    "\tat org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException"
    "(HibernateJpaDialect.java:290) ~[spring-orm-6.1.6.jar:6.1.6]",
    "\tat com.example.orders.OrderService.settle(OrderService.java:57) ~[classes/:na]",
    "\tat com.example.orders.OrderController.settle(OrderController.java:31) ~[classes/:na]",
    "Caused by: org.hibernate.exception.ConstraintViolationException: could not execute statement",
    "\tat org.hibernate.exception.internal.SQLStateConversionDelegate.convert"
    "(SQLStateConversionDelegate.java:95) ~[hibernate-core-6.4.4.Final.jar:6.4.4.Final]",
    "\t... 12 common frames omitted",
    "Caused by: org.postgresql.util.PSQLException: ERROR: duplicate key value violates unique"
    ' constraint "orders_pkey"',
    "  Detail: Key (id)=(42) already exists.",
    "\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse"
    "(QueryExecutorImpl.java:2725) ~[postgresql-42.7.3.jar:42.7.3]",
    "\t... 20 more",
]
SPRING_TRACE = SPRING[2:]

SUPPRESSED = [
    "java.lang.IllegalStateException: settlement aborted",
    "\tat com.example.ledger.Settlement.run(Settlement.java:88)",
    "\tSuppressed: java.io.UncheckedIOException: close failed",
    "\t\tat com.example.ledger.Journal.close(Journal.java:40)",
    "\t\t... 1 more",
    "\tCaused by: java.io.IOException: No space left on device",
    "\t\tat java.base/java.io.FileOutputStream.writeBytes(Native Method)",
    "\t\t... 2 more",
    "Caused by: java.util.concurrent.TimeoutException",
    "\tat com.example.ledger.Lock.acquire(Lock.java:17)",
    "\t[CIRCULAR REFERENCE: java.util.concurrent.TimeoutException]",
]

PYTHON_CHAINED = [
    "Traceback (most recent call last):",
    '  File "/app/ledger/settle.py", line 41, in settle',
    "    balance = accounts[order.account_id]",
    "              ~~~~~~~~^^^^^^^^^^^^^^^^^^",
    "KeyError: 'acct-42'",
    "",
    "During handling of the above exception, another exception occurred:",
    "",
    "Traceback (most recent call last):",
    '  File "/app/ledger/settle.py", line 43, in settle',
    '    raise LookupError(f"no account for order {order.id}")',
    "LookupError: no account for order 42",
    "",
    "The above exception was the direct cause of the following exception:",
    "",
    "Traceback (most recent call last):",
    '  File "/app/ledger/worker.py", line 88, in run',
    "    self.settle(order)",
    '  File "/app/ledger/worker.py", line 12, in settle',
    '    raise SettlementError("order 42 not settled") from exc',
    "ledger.errors.SettlementError: order 42 not settled",
]

PYTHON_GROUP = [
    "  + Exception Group Traceback (most recent call last):",
    '  |   File "/app/fanout.py", line 9, in main',
    "  |     raise ExceptionGroup('fan-out failed', errors)",
    "  | ExceptionGroup: fan-out failed (2 sub-exceptions)",
    "  +-+---------------- 1 ----------------",
    "    | TimeoutError: shard 3",
    "    +------------------------------------",
]

GO_PANIC = [
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6b8f2e]",
    "",
    "goroutine 42 [running]:",
    "github.com/acme/ledger/internal/settle.(*Service).Settle(0x0, {0x8c5e40, 0xc0001a2000})",
    "\t/src/internal/settle/service.go:57 +0x2e",
    "net/http.HandlerFunc.ServeHTTP(0xc000126080?, {0x8c8f10?, 0xc0001c8000?}, 0x46c2b5?)",
    "\t/usr/local/go/src/net/http/server.go:2166 +0x29",
    "created by net/http.(*Server).Serve in goroutine 1",
    "\t/usr/local/go/src/net/http/server.go:3285 +0x4b4",
    "",
    "goroutine 1 [IO wait]:",
    "internal/poll.runtime_pollWait(0x7f2c5c1a0e28, 0x72)",
    "\t/usr/local/go/src/runtime/netpoll.go:345 +0x85",
    "main.main()",
    "\t/src/cmd/ledger/main.go:31 +0x1d5",
    "",
    "goroutine 7 [select, 2 minutes]:",
    "database/sql.(*DB).connectionOpener(0xc0001b8000, {0x8c6a88, 0xc0001ba000})",
    "\t/usr/local/go/src/database/sql/sql.go:1246 +0x87",
    "...additional frames elided...",
    "created by database/sql.OpenDB in goroutine 1",
    "\t/usr/local/go/src/database/sql/sql.go:824 +0x14c",
]


def cri(text: str, stream: str = "stdout", tag: str = "F", second: int = 0) -> bytes:
    return f"2024-05-01T12:00:{second:02d}.5Z {stream} {tag} {text}\n".encode()


def cri_file(lines: list[str], stream: str = "stdout") -> bytes:
    return b"".join(cri(text, stream, second=i % 60) for i, text in enumerate(lines))


class Collector(Pipeline):
    """A pipeline whose output acknowledges every document at once, and keeps them."""

    def __init__(
        self,
        settings: RecordSettings,
        enricher: Enricher | None = None,
        filters: FilterSettings | None = None,
    ) -> None:
        enricher = enricher or Enricher(KubernetesSettings(), None)
        sink, budget = cast(Sink, None), ByteBudget(1 << 30)
        super().__init__(settings, sink, Metrics(), enricher, budget, filters=filters)
        self.blocks: list[Documents] = []

    def submit(self, file: FilePipeline, documents: Documents) -> None:
        self.blocks.append(documents)
        documents.ack()


class File:
    """One followed file through a real FilePipeline; `committed` as positions would save it."""

    def __init__(
        self,
        settings: RecordSettings,
        committed: int = 0,
        enricher: Enricher | None = None,
        filters: FilterSettings | None = None,
    ) -> None:
        self.pipeline = Collector(settings, enricher, filters)
        self.committed = committed
        tracker = AckTracker(committed, self._commit, lambda n: None)
        self.consumer = cast(FilePipeline, self.pipeline.open(FileInfo(PATH, None, "k"), tracker))

    def _commit(self, offset: int) -> None:
        self.committed = offset

    def feed(self, data: bytes, start: int = 0, cuts: list[int] | None = None) -> None:
        at = 0
        for cut in [*sorted(set(cuts or [])), len(data)]:
            if at < cut <= len(data):
                self.consumer.feed(data[at:cut], start + at)
                at = cut

    def docs(self) -> list[dict[str, Any]]:
        return [
            orjson.loads(doc) | {"_offset": offset(id)}
            for block in self.pipeline.blocks
            for doc, id in zip(block.docs, block.id_list(), strict=True)
        ]

    def logs(self) -> list[str]:
        return [doc["log"] for doc in self.docs()]


def offset(id: str) -> int:
    return int(id.rsplit("-", 1)[1], 16)


def run(data: bytes, kind: str | None, cuts: list[int] | None = None, **extra: Any) -> File:
    f = File(RecordSettings(multiline=cast(Any, kind), **extra))
    f.feed(data, cuts=cuts)
    f.consumer.finish()
    return f


def test_a_spring_exception_with_causes_is_one_record_with_its_log_line() -> None:
    lines = ["GET /orders/41 200", *SPRING, "GET /orders/43 200"]
    data = cri_file(lines)
    f = run(data, "java")
    assert f.logs() == [lines[0], "\n".join(SPRING), lines[-1]]
    trace = f.docs()[1]
    header = cri(SPRING[0], second=1)
    assert trace["_offset"] == data.index(header)  # the log line's offset, hence its id
    assert trace["@timestamp"] == "2024-05-01T12:00:01.5Z"


def test_a_bare_exception_still_opens_a_trace_and_a_header_alone_stays_alone() -> None:
    lines = [
        "12:00:01.234 [main] ERROR c.e.App - retrying",
        "",
        "12:00:02.234 [main] INFO c.e.App - retried",
        *SPRING_TRACE,
        "2024-05-01 12:00:03,123 WARN [main] c.e.App: slow settle",
    ]
    f = run(cri_file(lines), "java")
    assert f.logs() == [lines[0], "", lines[2], "\n".join(SPRING_TRACE), lines[-1]]


def test_suppressed_and_nested_causes_keep_their_indentation() -> None:
    f = run(cri_file([*SUPPRESSED, "done"]), "java")
    assert f.logs() == ["\n".join(SUPPRESSED), "done"]


def test_a_chained_python_traceback_is_one_record_and_a_trailing_blank_line_is_not() -> None:
    lines = ["settling order 42", *PYTHON_CHAINED, "", "next order"]
    f = run(cri_file(lines), "python")
    assert f.logs() == ["settling order 42", "\n".join(PYTHON_CHAINED), "", "next order"]


def test_a_python_exception_group_is_one_record() -> None:
    f = run(cri_file([*PYTHON_GROUP, "retrying"]), "python")
    assert f.logs() == ["\n".join(PYTHON_GROUP), "retrying"]


def test_a_go_panic_with_several_goroutines_is_one_record() -> None:
    f = run(cri_file(["serving on :8080", *GO_PANIC, "", "exit status 2"]), "go")
    assert f.logs() == ["serving on :8080", "\n".join(GO_PANIC), "", "exit status 2"]


@pytest.mark.parametrize(
    ("kind", "lines"),
    [
        ("java", SPRING + SUPPRESSED),
        ("python", PYTHON_CHAINED + PYTHON_GROUP),
        ("go", GO_PANIC),
    ],
)
def test_a_read_with_no_opening_line_passes_unless_a_trace_is_open(
    kind: str, lines: list[str]
) -> None:
    rules = rules_for(kind)
    assert rules is not None
    opener = next(line for line in lines if rules.opens.match(line))
    joiner = TraceJoiner(rules, 1 << 20)
    plain = ["GET /orders 200", "ERROR db timeout", "retrying in 5 s"]
    assert joiner.passes(plain) and not joiner.passes([*plain, opener])
    joiner.join([Record("t", "stdout", opener, 0)], 0, lambda: True)
    assert not joiner.passes(plain)  # a trace is open: the next lines may continue it


def test_traces_join_per_stream_never_across_streams() -> None:
    data = b""
    for i, line in enumerate(GO_PANIC[:6]):
        data += cri(line, "stderr") + cri(f"request {i}", "stdout")
    data += cri("\tat com.example.Orphan.frame(Orphan.java:1)", "stdout")
    f = run(data, "go")
    by_stream = {(d["stream"], d["log"]) for d in f.docs()}
    assert ("stderr", "\n".join(GO_PANIC[:6])) in by_stream
    assert {log for stream, log in by_stream if stream == "stdout"} == {
        *(f"request {i}" for i in range(6)),
        "\tat com.example.Orphan.frame(Orphan.java:1)",
    }


def test_traces_on_both_streams_at_once_stay_apart() -> None:
    java = SUPPRESSED[:5]
    data = b"".join(cri(a, "stdout") + cri(b, "stderr") for a, b in zip(java, java, strict=True))
    f = run(data, "java")
    assert sorted((d["stream"], d["log"]) for d in f.docs()) == [
        ("stderr", "\n".join(java)),
        ("stdout", "\n".join(java)),
    ]


def test_trace_lines_split_across_cri_partials_join_whole() -> None:
    header, frame = SPRING_TRACE[0], SPRING_TRACE[1]
    data = cri(header[:30], tag="P") + cri("noise", "stderr") + cri(header[30:])
    data += cri(frame[:10], tag="P") + cri(frame[10:40], tag="P") + cri(frame[40:])
    data += cri("after", "stdout")
    for cuts in ([], list(range(1, len(data), 7))):
        f = run(data, "java", cuts)
        assert sorted(f.logs()) == sorted(["noise", f"{header}\n{frame}", "after"])


def test_a_rule_for_another_runtime_joins_nothing() -> None:
    lines = [*GO_PANIC, *PYTHON_CHAINED]
    assert run(cri_file(lines), "java").logs() == lines
    assert run(cri_file(lines), None).logs() == lines


def test_a_trace_is_emitted_after_one_second_without_a_line() -> None:
    clock = FakeClock()
    joiner = TraceJoiner(rules_for("java"), 1 << 20, clock=clock)
    lines = [Record("t", "stdout", text, i * 100) for i, text in enumerate(SUPPRESSED)]
    assert joiner.join(lines[:3], 0, lambda: True) == []
    clock.now = 0.6
    assert joiner.join(lines[3:5], 0, lambda: True) == []
    assert joiner.flush_idle(1.5) == []  # 0.9 s since its last line
    [trace] = joiner.flush_idle(1.6)
    assert (trace.log, trace.offset, trace.time) == ("\n".join(SUPPRESSED[:5]), 0, "t")
    # A frame after that is a record of its own; nothing is left open.
    assert joiner.join(lines[5:6], 0, lambda: True) == [lines[5]]
    assert joiner.flush() == []


def test_a_trace_reaching_max_record_bytes_is_cut_there_and_the_rest_discarded() -> None:
    frames = [f"\tat com.example.Deep.call{i}(Deep.java:{i})" for i in range(40)]
    lines = ["java.lang.StackOverflowError", *frames, "recovered"]
    f = run(cri_file(lines), "java", max_record_bytes=300)
    [cut, after] = f.docs()
    whole = "\n".join(lines[:-1])
    assert cut["log"] == whole[:300] and cut["log_truncated"] is True
    assert after["log"] == "recovered" and "log_truncated" not in after


def test_reading_resumes_at_an_open_trace_first_line_until_it_is_emitted() -> None:
    f = File(RecordSettings(multiline="python"))
    head = cri_file(["starting", "ready"])
    trace = cri_file(PYTHON_CHAINED[:3])
    f.feed(head + trace)
    assert f.logs() == ["starting", "ready"]
    assert f.committed == len(head)  # the trace's first line: nothing of it is lost
    rest = cri_file([*PYTHON_CHAINED[3:5], "next"])
    f.feed(rest, len(head + trace))
    assert f.logs()[2:] == ["\n".join(PYTHON_CHAINED[:5]), "next"]
    assert f.committed == len(head + trace + rest)


def test_a_trace_opened_among_partials_resumes_where_the_decoder_may() -> None:
    # An open partial group on stderr: the header's own offset is no safe restart point.
    f = File(RecordSettings(multiline="java"))
    f.feed(cri("ok"))
    data = cri("ok") + cri("part one ", "stderr", "P") + cri(SUPPRESSED[0]) + cri(SUPPRESSED[1])
    f.feed(data[len(cri("ok")) :], len(cri("ok")))
    assert f.committed == len(cri("ok"))  # before the partial, not at the header
    f.feed(cri("part two", "stderr") + cri("next"), len(data))
    assert f.logs() == ["ok", "part one part two", "\n".join(SUPPRESSED[:2]), "next"]


def test_changing_the_rules_emits_the_open_trace_first() -> None:
    f = File(RecordSettings(multiline="java"))
    f.feed(cri_file(SUPPRESSED[:3]))
    f.consumer.apply(pod(multiline="python"))
    assert f.logs() == ["\n".join(SUPPRESSED[:3])]
    f.feed(cri_file(PYTHON_CHAINED[:5]), len(cri_file(SUPPRESSED[:3])))
    f.consumer.finish()
    assert f.logs()[1:] == ["\n".join(PYTHON_CHAINED[:5])]


async def test_reads_wait_for_the_pod_rules_before_being_joined_or_ticketed() -> None:
    metadata = asyncio.Event()

    class SlowApi(Enricher):
        def can_know(self, names: FileNames) -> bool:
            return True

        async def lookup(self, names: FileNames) -> PodMetadata | None:
            await metadata.wait()
            return pod(multiline="java")

    f = File(RecordSettings(), enricher=SlowApi(KubernetesSettings(), None))
    data = cri_file([*SUPPRESSED[:3], "done"])
    f.feed(data)
    assert (f.logs(), f.committed) == ([], 0)
    metadata.set()
    await f.pipeline.flushed()
    assert f.logs() == ["\n".join(SUPPRESSED[:3]), "done"]
    assert f.committed == len(data)


def pod(multiline: str | None = None, parser: str | None = None) -> PodMetadata:
    return PodMetadata(
        uid="0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
        name="web-1",
        namespace="default",
        host=None,
        pod_ip=None,
        labels={},
        annotations=None,
        namespace_labels=None,
        excluded=False,
        parser=parser,
        multiline=multiline,
    )


# --- a restart at any point neither loses nor doubles anything


def test_a_restart_inside_an_earlier_trace_of_the_other_stream_is_avoided() -> None:
    # stdout's trace goes on after stderr's opens: restarting at stderr's header would
    # bring stdout's later frames back as records of their own.
    f = File(RecordSettings(multiline="java"))
    data = cri(SUPPRESSED[0]) + cri(SUPPRESSED[0], "stderr") + cri(SUPPRESSED[1]) + cri("done")
    f.feed(data)
    assert f.logs() == ["\n".join(SUPPRESSED[:2]), "done"]
    assert f.committed == 0


def test_a_restart_never_splits_a_partial_group_closed_inside_an_open_trace() -> None:
    f = File(RecordSettings(multiline="java"))
    data = cri("part one ", "stderr", "P") + cri(SUPPRESSED[0]) + cri("part two", "stderr")
    f.feed(data)
    assert f.logs() == ["part one part two"]
    assert f.committed == 0  # not the header's offset: that would cut stderr's record


POOLS = {
    "java": [
        "java.lang.IllegalStateException: boom",
        "\tat com.example.A.run(A.java:1)",
        "Caused by: java.io.IOException: disk",
        "\t" + "x" * 70,
        "plain",
        "",
    ],
    "python": [
        "Traceback (most recent call last):",
        '  File "a.py", line 1, in f',
        "KeyError: 'k'",
        "",
        "During handling of the above exception, another exception occurred:",
        "plain",
    ],
}


@st.composite
def trace_file(draw: st.DrawFn, kind: str) -> bytes:
    """CRI lines from traces and plain lines on two streams; `P` ones join the next lines
    of their stream, with the other stream's lines in between."""
    lines = st.tuples(
        st.sampled_from(POOLS[kind]),
        st.sampled_from(["stdout", "stderr"]),
        st.sampled_from(["F", "F", "F", "P"]),
    )
    return b"".join(cri(*line) for line in draw(st.lists(lines, max_size=30)))


def contents(f: File) -> dict[int, tuple[str, str, bool]]:
    docs: dict[int, tuple[str, str, bool]] = {}
    for doc in f.docs():
        seen = (doc["stream"], doc["log"], doc.get("log_truncated", False))
        assert docs.setdefault(doc["_offset"], seen) == seen, "one id, two contents"
    return docs


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["java", "python"]).flatmap(lambda k: st.tuples(st.just(k), trace_file(k))),
    st.data(),
)
def test_restarting_at_the_committed_offset_rebuilds_exactly_what_was_not_emitted(
    case: tuple[str, bytes], draw: st.DataObject
) -> None:
    kind, data = case
    options: dict[str, Any] = {"multiline": kind, "max_record_bytes": 200}
    expected = contents(run(data, kind, max_record_bytes=200))
    # Crash after any read: everything emitted so far was delivered and acknowledged.
    cuts = sorted(set(draw.draw(st.lists(st.integers(1, max(len(data) - 1, 1)), max_size=10))))
    first = File(RecordSettings(**options))
    at = 0
    for cut in [*cuts, len(data)]:
        first.feed(data[at:cut], at)
        at = cut
        resume = first.committed
        assert resume <= at
        second = File(RecordSettings(**options), committed=resume)
        second.feed(data[resume:], resume)
        second.consumer.finish()
        merged = contents(first)
        for key, value in contents(second).items():
            assert merged.setdefault(key, value) == value, "a record rebuilt differently"
        assert merged == expected
