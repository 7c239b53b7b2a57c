"""Rate limits through a real FilePipeline: excess dropped and counted, positions moving
on, one marker per interval saying how many lines of which container were dropped."""

from __future__ import annotations

import dataclasses

import pytest

from shipper.config import ConfigError, load_settings
from shipper.observe.metrics import Metrics
from shipper.settings import RecordSettings
from shipper.transforms.filtering.rate_limit import (
    RateLimit,
    RateLimiter,
    parse_annotation,
    parse_rate_limits,
)
from tests.transforms.conftest import FakeClock
from tests.transforms.filtering.test_filters import meta, value
from tests.transforms.multiline.test_joiner import File, cri, cri_file

MARKER_INTERVAL = 10.0


def limited(limits: str, clock: FakeClock) -> File:
    f = File(RecordSettings())
    f.pipeline.limiter = RateLimiter(parse_rate_limits(limits), f.pipeline.metrics, clock)
    f.consumer.apply(meta())  # the file's limit resolved again, on the test's clock
    return f


def test_excess_is_dropped_counted_acknowledged_and_marked_once_per_interval() -> None:
    clock = FakeClock()
    f = limited("[{namespace: default, rate: 10, burst: 5}]", clock)
    first = cri_file([f"line {i}" for i in range(20)])
    f.feed(first)
    assert f.logs() == [f"line {i}" for i in range(5)]
    assert f.committed == len(first)  # dropped records acknowledge their bytes
    metrics = f.pipeline.metrics
    assert value(metrics, "shipper_records_rate_limited_total", namespace="default") == 15
    assert value(metrics, "shipper_records_dropped_total", reason="rate_limit") == 15
    clock.now = 0.5  # 5 more tokens
    second = b"".join(cri(f"more {i}") for i in range(8))
    f.feed(second, len(first))
    assert f.logs()[5:] == [f"more {i}" for i in range(5)]
    f.consumer.flush_idle(clock.now)
    assert len(f.logs()) == 10  # no marker before the interval is over
    clock.now = MARKER_INTERVAL + 0.1
    f.consumer.flush_idle(clock.now)
    marker = f.docs()[-1]
    assert marker["log"].startswith("shipper: rate limit dropped 18 lines of default/web-1/app")
    assert marker["_offset"] == first.index(cri("line 5", second=5))  # the first dropped line's id
    assert f.committed == len(first) + len(second)
    f.consumer.flush_idle(clock.now + MARKER_INTERVAL)
    assert len(f.docs()) == 11  # nothing dropped since: no other marker


def test_the_marker_rides_with_records_when_the_file_is_busy() -> None:
    clock = FakeClock()
    f = limited("[{namespace: '*', rate: 1, burst: 1}]", clock)
    f.feed(cri_file(["a", "b"]))
    clock.now = MARKER_INTERVAL
    f.feed(cri_file(["c"]), f.committed)
    assert f.logs()[:2] == ["a", "c"]
    assert f.logs()[2].startswith("shipper: rate limit dropped 1 lines of default/web-1/app")


def test_the_namespace_annotation_wins_and_changes_take_effect() -> None:
    clock = FakeClock()
    f = limited("[{namespace: default, rate: 100, burst: 100}]", clock)
    f.feed(cri_file([str(i) for i in range(10)]))
    assert len(f.logs()) == 10
    annotated = dataclasses.replace(
        meta(), namespace_annotations={"shipper.io/rate-limit": "rate=1,burst=2"}
    )
    f.consumer.apply(annotated)
    f.feed(cri_file([str(i) for i in range(10)]), f.committed)
    assert len(f.logs()) == 12


def test_buckets_are_shared_per_namespace_pod_or_container() -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        (RateLimit("shop", 1, 3), RateLimit("web", 1, 3, "container")), Metrics(), clock
    )
    a = limiter.file_limit("shop", "a", "app", None, None)
    b = limiter.file_limit("shop", "b", "app", None, None)
    assert a is not None and b is not None and a.key == b.key  # one bucket for the namespace
    x = limiter.file_limit("web", "p", "app", None, None)
    y = limiter.file_limit("web", "p", "sidecar", None, None)
    assert x is not None and y is not None and x.key != y.key
    assert limiter.file_limit("quiet", "p", "app", None, None) is None  # no limit: no cost
    assert limiter.file_limit("web", "p", "app", None, x) is x  # unchanged: same state


def test_annotation_forms() -> None:
    assert parse_annotation("50", "ns") == RateLimit("ns", 50.0, 50)
    assert parse_annotation("rate=2.5, burst=10, per=pod", "ns") == RateLimit("ns", 2.5, 10, "pod")
    with pytest.raises(ValueError, match="rate must be more than 0"):
        parse_annotation("rate=0", "ns")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[{rate: 5}]", "limit 1 needs a namespace"),
        ("[{namespace: a, rate: fast}]", "needs rate: records per second"),
        ("[{namespace: a, rate: 5, burst: 0}]", "burst must be at least 1"),
        ("[{namespace: a, rate: 5, per: node}]", "per must be one of namespace, pod, container"),
        ("[{namespace: a, rate: 5}, {namespace: a, rate: 6}]", "a namespace has two limits"),
    ],
)
def test_bad_limits_fail_at_startup_naming_the_variable(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"SHIPPER_RATE_LIMITS": text})
    assert caught.value.errors[0].startswith("SHIPPER_RATE_LIMITS=")
    assert message in caught.value.errors[0]


def test_an_annotation_names_no_namespace() -> None:
    with pytest.raises(ValueError, match=r"unknown keys \['namespace'\]"):
        parse_annotation("rate=5,namespace=other", "ns")
