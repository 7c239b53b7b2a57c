"""The agent's own log: JSON lines, and repeated warnings collapsed into one line per window."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator

import orjson
import pytest

from shipper.observe.logging import JsonFormatter, RateLimitedHandler, setup_logging


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[tuple[str, int | None]]:
        return [(r.getMessage(), getattr(r, "repeated", None)) for r in self.records]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> Collect:
    return Collect()


@pytest.fixture
def log(sink: Collect, clock: Clock) -> Iterator[logging.Logger]:
    logger = logging.getLogger("shipper.test_logging")
    logger.handlers[:] = [RateLimitedHandler(sink, window=10.0, clock=clock)]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    logger.handlers[:] = []
    logger.propagate = True


@pytest.fixture
def shipper_logger() -> Iterator[logging.Logger]:
    """setup_logging() reconfigures the `shipper` logger; put it back for the other tests."""
    logger = logging.getLogger("shipper")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield logger
    logger.handlers[:], level, logger.propagate = saved
    logger.setLevel(level)


def test_a_repeating_error_is_written_once_per_window_with_the_count(
    log: logging.Logger, sink: Collect, clock: Clock
) -> None:
    for i in range(5):
        log.error("bulk request to %s answered %s", f"http://es-{i}:9200", 503)
        clock.now += 1
    assert sink.lines() == [("bulk request to http://es-0:9200 answered 503", None)]
    clock.now += 6  # 11 s after the first line: the window is over
    log.error("bulk request to %s answered %s", "http://es-9:9200", 503)
    assert sink.lines()[1:] == [("bulk request to http://es-9:9200 answered 503", 4)]
    log.error("bulk request to %s answered %s", "http://es-9:9200", 503)
    assert len(sink.records) == 2  # a new window began with the line that carried the count


def test_logger_level_and_template_each_make_a_kind_of_their_own(
    log: logging.Logger, sink: Collect
) -> None:
    other = logging.getLogger("shipper.test_logging.other")
    for _ in range(3):
        log.error("cannot open %s", "a")
        log.warning("cannot open %s", "a")
        log.error("cannot read %s", "a")
        other.error("cannot open %s", "a")  # propagates to the same handler
    assert [(r.name, r.levelname, r.msg) for r in sink.records] == [
        ("shipper.test_logging", "ERROR", "cannot open %s"),
        ("shipper.test_logging", "WARNING", "cannot open %s"),
        ("shipper.test_logging", "ERROR", "cannot read %s"),
        ("shipper.test_logging.other", "ERROR", "cannot open %s"),
    ]


def test_info_and_debug_lines_are_never_held_back(log: logging.Logger, sink: Collect) -> None:
    for i in range(4):
        log.info("opened %s", i)
        log.debug("read %d bytes", i)
    assert len(sink.records) == 8
    assert all(not hasattr(r, "repeated") for r in sink.records)


def test_a_kind_gone_quiet_is_reported_by_the_next_line_after_its_window(
    log: logging.Logger, sink: Collect, clock: Clock
) -> None:
    for i in range(4):
        log.warning("Kubernetes API GET %s failed", f"/pods/{i}")
    clock.now += 5
    log.info("still within the window")
    assert sink.lines() == [
        ("Kubernetes API GET /pods/0 failed", None),
        ("still within the window", None),
    ]
    clock.now += 5
    log.info("the window is over")
    # The latest held-back line, counting the two held back before it.
    assert sink.lines()[2:] == [
        ("Kubernetes API GET /pods/3 failed", 2),
        ("the window is over", None),
    ]
    log.warning("Kubernetes API GET %s failed", "/pods/4")
    assert sink.lines()[4:] == [("Kubernetes API GET /pods/4 failed", None)]


def test_a_single_held_back_line_is_reported_without_a_count(
    log: logging.Logger, sink: Collect, clock: Clock
) -> None:
    log.error("positions not saved: %s", "disk full")
    log.error("positions not saved: %s", "read-only file system")
    clock.now += 10
    log.info("tick")
    assert sink.lines() == [
        ("positions not saved: disk full", None),
        ("positions not saved: read-only file system", None),
        ("tick", None),
    ]


def test_close_reports_what_is_still_held_back(
    log: logging.Logger, sink: Collect, clock: Clock
) -> None:
    for _ in range(7):
        log.error("worker failed")
    log.handlers[0].close()
    assert sink.lines() == [("worker failed", None), ("worker failed", 5)]


def test_lines_written_plus_counts_equal_calls_made_from_many_threads(
    log: logging.Logger, sink: Collect, clock: Clock
) -> None:
    calls_per_thread, threads = 500, 8

    def hammer() -> None:
        for i in range(calls_per_thread):
            log.warning("reading %s failed", i)
            if i % 100 == 0:
                clock.now += 3  # windows end while the threads race

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    log.handlers[0].close()
    written = len(sink.records)
    counted = sum(getattr(r, "repeated", 0) for r in sink.records)
    assert 1 < written < calls_per_thread
    assert written + counted == calls_per_thread * threads


def test_setup_logging_writes_json_lines_with_the_repeated_field(
    shipper_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("info", "json")
    log = logging.getLogger("shipper.sinks.elasticsearch")
    log.debug("not at info level")
    log.info("shipper starting", extra={"version": "0.1.0"})
    for i in range(6):
        log.warning("bulk request to %s failed: %r", "http://es:9200", OSError(i))
    shipper_logger.handlers[0].close()
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["level"], line["message"], line.get("repeated")) for line in lines] == [
        ("info", "shipper starting", None),
        ("warning", "bulk request to http://es:9200 failed: OSError(0)", None),
        ("warning", "bulk request to http://es:9200 failed: OSError(5)", 4),
    ]
    assert lines[0]["version"] == "0.1.0"
    assert lines[0]["logger"] == "shipper.sinks.elasticsearch"
    assert lines[0]["time"].endswith("Z")


def test_setup_logging_text_format_shows_the_count_as_a_field(
    shipper_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("warning", "text")
    log = logging.getLogger("shipper.agent")
    for _ in range(3):
        log.error("cannot save positions")
    shipper_logger.handlers[0].close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert "ERROR shipper.agent: cannot save positions" in lines[0]
    assert lines[1].endswith("cannot save positions repeated=1")


def test_a_file_name_that_is_not_utf8_is_logged_as_valid_json_with_its_bytes() -> None:
    name = os.fsdecode(b"/var/log/containers/bad-\xff.log")
    record = logging.LogRecord(
        "shipper.tail", logging.WARNING, "", 0, "cannot read %s", (name,), None
    )
    record.path = name
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["message"] == "cannot read /var/log/containers/bad-\\xff.log"
    assert entry["path"] == "/var/log/containers/bad-\\xff.log"
