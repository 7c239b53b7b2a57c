"""SHIPPER_ES_HOSTS: requests spread over the hosts, failing hosts rest."""

from pathlib import Path

import pytest

from shipper.observe.metrics import Metrics
from shipper.sinks.elasticsearch.hosts import HostPool
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.sinks.support import (
    Acks,
    all_acked_once,
    bulk_bodies,
    closed_port_url,
    es_settings,
    running,
    sample,
)


async def test_fails_over_from_a_dead_host(tmp_path: Path) -> None:
    metrics, acks = Metrics(), Acks()
    events = acks.events(200)
    with FakeElasticsearch() as es:
        settings = es_settings(
            tmp_path, closed_port_url(), es.url, batch_max_records=20, retry_max_backoff=2.0
        )
        async with running(settings, metrics) as sink:
            await sink.send(events)
            assert await sink.drain(10)
        assert es.count() == 200
        bulk_requests = len(bulk_bodies(es))
    assert all_acked_once(events)
    failed = sample(metrics, "shipper_bulk_requests_total", status="error")
    assert failed >= 1
    # the dead host rests after failing instead of taking every other turn
    assert failed < bulk_requests


async def test_requests_spread_over_hosts(tmp_path: Path) -> None:
    acks = Acks()
    with FakeElasticsearch() as one, FakeElasticsearch() as two:
        settings = es_settings(tmp_path, one.url, two.url, batch_max_records=10)
        async with running(settings) as sink:
            await sink.send(acks.events(100))
            assert await sink.drain(5)
        assert one.count() > 0 and two.count() > 0
        assert one.count() + two.count() == 100


def test_host_pool_rotates_and_rests_failed_hosts() -> None:
    now = [0.0]
    pool = HostPool(["http://a/", "http://b", "http://c"], max_rest=5.0, clock=lambda: now[0])
    assert [pool.pick() for _ in range(4)] == ["http://a", "http://b", "http://c", "http://a"]
    pool.failed("http://b")
    assert [pool.pick() for _ in range(3)] == ["http://c", "http://a", "http://c"]
    now[0] = 1.0  # a first failure rests 1 s
    assert "http://b" in {pool.pick() for _ in range(3)}
    pool.failed("http://b")
    pool.failed("http://b")  # consecutive failures rest longer: 4 s
    now[0] = 4.0
    assert "http://b" not in {pool.pick() for _ in range(3)}
    pool.succeeded("http://b")
    assert "http://b" in {pool.pick() for _ in range(3)}


def test_host_pool_never_runs_dry() -> None:
    now = [0.0]
    pool = HostPool(["http://a", "http://b"], max_rest=0.5, clock=lambda: now[0])
    pool.failed("http://a")
    now[0] = 0.1
    pool.failed("http://b")
    assert pool.pick() == "http://a"  # all rest: the one back first
    with pytest.raises(ValueError, match="SHIPPER_ES_HOSTS"):
        HostPool([], max_rest=1.0)
