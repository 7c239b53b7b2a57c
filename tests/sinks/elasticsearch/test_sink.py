"""The sink against a real HTTP server that answers like Elasticsearch."""

import asyncio
import logging
import ssl
from pathlib import Path

import orjson
import pytest
import trustme

from shipper import supervisor as supervisor_module
from shipper.observe.metrics import Metrics
from shipper.record import Documents
from shipper.sinks.elasticsearch.bulk import BULK_FILTER_PATH
from shipper.sinks.elasticsearch.hosts import HostPool
from shipper.sinks.elasticsearch.sink import ElasticsearchSink
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.sinks.support import (
    Acks,
    closed_port_url,
    doc_id,
    es_settings,
    eventually,
    running,
    sample,
)

INDEX = "logstash-2024.05.01"


def _all_acked_once(blocks: list[Documents]) -> bool:
    # a ticket acked twice would go below zero
    return all(block.ticket.pending == 0 for block in blocks)


def _bulk_bodies(es: FakeElasticsearch) -> list[bytes]:
    return [r.body for r in es.requests if r.path == "/_bulk" and r.status == 200]


async def test_delivers_every_document_once_and_acks(tmp_path: Path) -> None:
    metrics, acks = Metrics(), Acks()
    events = acks.events(250)
    with FakeElasticsearch() as es:
        async with running(es_settings(tmp_path, es.url, batch_max_records=40), metrics) as sink:
            await sink.send(events)
            assert await sink.drain(10)
            assert sink.failed == 0
        assert es.count() == 250
        stored = es.documents(INDEX)
        assert sorted(stored) == sorted(doc_id(n) for n in range(250))
        assert stored[doc_id(7)]["log"] == "line 7"
        assert len(_bulk_bodies(es)) >= 7  # 250 / 40
    assert _all_acked_once(events)
    assert acks.committed == 25_000 and acks.commits[-1] == 25_000
    assert acks.released == 25_000
    assert sample(metrics, "shipper_records_delivered_total") == 250
    assert sample(metrics, "shipper_bulk_requests_total", status="200") >= 7
    assert sample(metrics, "shipper_output_up") == 1
    assert sample(metrics, "shipper_bulk_request_duration_seconds_count") >= 7
    assert sample(metrics, "shipper_delivery_latency_seconds_count") >= 1
    assert not (tmp_path / "dead-letter.ndjson").exists()


async def test_batches_are_cut_at_records_and_bytes(tmp_path: Path) -> None:
    acks = Acks()
    with FakeElasticsearch() as es:
        async with running(es_settings(tmp_path, es.url, batch_max_records=10)) as sink:
            await sink.send(acks.events(35))
            assert await sink.drain(5)
        counts = sorted(body.count(b"\n") // 2 for body in _bulk_bodies(es))
        assert counts == [5, 10, 10, 10]
    with FakeElasticsearch() as es:
        limit = 1000
        settings = es_settings(tmp_path, es.url, batch_max_bytes=limit, concurrency=1)
        async with running(settings) as sink:
            await sink.send(acks.events(40, start=100))
            assert await sink.drain(5)
        bodies = _bulk_bodies(es)
        assert es.count() == 40 and len(bodies) > 3
        assert all(len(body) <= limit for body in bodies)


async def test_a_partial_batch_waits_at_most_the_flush_interval(tmp_path: Path) -> None:
    acks = Acks()
    events = acks.events(3)
    with FakeElasticsearch() as es:
        async with running(es_settings(tmp_path, es.url, flush_interval=0.1)) as sink:
            await sink.send(events)
            await eventually(lambda: _all_acked_once(events), timeout=2)
        assert es.count() == 3


async def test_409_on_create_counts_as_delivered(tmp_path: Path) -> None:
    metrics, first, again = Metrics(), Acks(), Acks()
    with FakeElasticsearch() as es:
        async with running(es_settings(tmp_path, es.url), metrics) as sink:
            await sink.send(first.events(20))
            assert await sink.drain(5)
            replayed = again.events(20)  # same ids: a replay after a crash
            await sink.send(replayed)
            assert await sink.drain(5)
        assert es.item_statuses[409] == 20
        assert es.count() == 20
    assert _all_acked_once(replayed) and again.committed == 2000
    assert sample(metrics, "shipper_records_delivered_total") == 40
    assert sample(metrics, "shipper_records_dead_lettered_total") == 0


async def test_rejected_items_are_retried_alone_until_stored_once(tmp_path: Path) -> None:
    metrics, acks = Metrics(), Acks()
    events = acks.events(300)
    with FakeElasticsearch() as es:
        es.set_item_rejections(0.3, status=429, seed=1)
        settings = es_settings(tmp_path, es.url, retry_max_backoff=0.05)
        async with running(settings, metrics) as sink:
            await sink.send(events)
            assert await sink.drain(15)
        assert es.item_statuses[429] > 0
        assert es.count() == 300
        # retries carry only the rejected items, never the whole batch again
        assert es.item_statuses[409] == 0
    assert _all_acked_once(events) and acks.committed == 30_000
    assert sample(metrics, "shipper_records_retried_total") == es.item_statuses[429]
    assert sample(metrics, "shipper_records_delivered_total") == 300


async def test_mapping_conflict_is_dead_lettered_and_the_rest_delivered(tmp_path: Path) -> None:
    metrics, acks = Metrics(), Acks()
    events = acks.events(9)
    bad = acks.events(1, start=9, doc={"status": {"code": 1}})
    more = acks.events(10, start=10)
    with FakeElasticsearch() as es:
        es.put_mapping(INDEX, "status", "keyword")
        async with running(es_settings(tmp_path, es.url), metrics) as sink:
            await sink.send(events + bad + more)
            assert await sink.drain(5)
        assert es.count() == 19 and doc_id(9) not in es.documents(INDEX)
    assert _all_acked_once(events + bad + more) and acks.committed == 2000
    (line,) = (tmp_path / "dead-letter.ndjson").read_bytes().splitlines()
    entry = orjson.loads(line)
    assert entry["index"] == INDEX and entry["id"] == doc_id(9) and entry["status"] == 400
    assert entry["error"]["type"] == "document_parsing_exception"
    assert "status" in entry["error"]["reason"]
    assert entry["document"]["status"] == {"code": 1}
    assert sample(metrics, "shipper_records_dead_lettered_total") == 1
    assert sample(metrics, "shipper_records_delivered_total") == 19


async def test_a_request_refused_whole_is_halved_but_a_single_document_is_never_dead_lettered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Halving finds the culprit; refused whole alone, it is the endpoint's fault (issue 13):
    sent again, given up only when the --once budget is spent, never dead-lettered."""
    metrics, acks = Metrics(), Acks()
    events = acks.events(10)
    (block,) = events
    block.ids = block.id_list()
    block.ids[6] = "x" * 600  # Elasticsearch refuses the whole request: ids are <= 512 bytes
    with FakeElasticsearch() as es:
        settings = es_settings(
            tmp_path, es.url, once=True, once_retry_timeout=1.0, retry_max_backoff=0.2
        )
        async with running(settings, metrics) as sink:
            await sink.send(events)
            assert not await sink.drain(10)
            assert sink.failed == 1
        assert es.count() == 9 and doc_id(6) not in es.documents()
        single = [r for r in es.requests if r.path == "/_bulk" and r.body.count(b"\n") == 2]
        assert len(single) >= 2  # the culprit alone, sent again
    assert not (tmp_path / "dead-letter.ndjson").exists()
    assert sample(metrics, "shipper_records_dead_lettered_total") == 0
    assert sum(block.ticket.pending for block in events) == 1  # only the culprit unacked
    assert sample(metrics, "shipper_bulk_requests_total", status="400") >= 5  # 10, 5, 3, 2, 1, 1
    assert "the endpoint is at fault" in caplog.text
    assert "nothing is dead-lettered" in caplog.text


async def test_an_outage_is_waited_out_without_loss_or_doubles(tmp_path: Path) -> None:
    metrics, acks = Metrics(), Acks()
    events = acks.events(120)
    with FakeElasticsearch() as es:
        es.set_outage(True, status=503)
        async with running(es_settings(tmp_path, es.url), metrics) as sink:
            await sink.send(events)
            await eventually(
                lambda: sample(metrics, "shipper_bulk_requests_total", status="503") >= 4
            )
            assert sample(metrics, "shipper_output_up") == 0
            assert acks.commits == []
            es.set_outage(False)
            assert await sink.drain(10)
        assert es.count() == 120
    assert _all_acked_once(events) and acks.committed == 12_000
    assert sample(metrics, "shipper_output_up") == 1
    assert sample(metrics, "shipper_records_retried_total") >= 4


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
        bulk_requests = len(_bulk_bodies(es))
    assert _all_acked_once(events)
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


async def test_reset_connections_are_retried(tmp_path: Path) -> None:
    metrics, acks = Metrics(), Acks()
    events = acks.events(100)
    with FakeElasticsearch() as es:
        async with running(es_settings(tmp_path, es.url, batch_max_records=20), metrics) as sink:
            es.reset_connections(3)
            await sink.send(events)
            assert await sink.drain(10)
        assert sum(1 for r in es.requests if r.status == 0) == 3
        assert es.count() == 100
    assert _all_acked_once(events)
    assert sample(metrics, "shipper_bulk_requests_total", status="error") == 3


async def test_request_timeout_is_retried_without_doubles(tmp_path: Path) -> None:
    metrics, acks = Metrics(), Acks()
    events = acks.events(30)
    with FakeElasticsearch() as es:
        es.set_delay(0.6)
        settings = es_settings(tmp_path, es.url, request_timeout=0.2)
        async with running(settings, metrics) as sink:
            await sink.send(events)
            await eventually(
                lambda: sample(metrics, "shipper_bulk_requests_total", status="error") >= 1
            )
            # the timed-out request still lands: its retry must answer 409, not store twice
            await eventually(lambda: es.count() == 30)
            es.set_delay(0)
            assert await sink.drain(10)
        assert es.count() == 30
        assert es.item_statuses[409] >= 1
    assert _all_acked_once(events)


async def test_once_mode_gives_up_after_its_budget(tmp_path: Path) -> None:
    acks = Acks()
    events = acks.events(30)
    with FakeElasticsearch() as es:
        es.set_outage(True, status=503)
        settings = es_settings(tmp_path, es.url, once=True, once_retry_timeout=0.5)
        async with running(settings) as sink:
            await sink.send(events)
            assert not await sink.drain(5)
            assert sink.failed == 30
        assert es.count() == 0
    assert acks.commits == [] and all(block.ticket.pending > 0 for block in events)


async def test_drain_timeout_counts_what_is_left(tmp_path: Path) -> None:
    acks = Acks()
    with FakeElasticsearch() as es:
        es.set_outage(True, status=429)
        async with running(es_settings(tmp_path, es.url)) as sink:
            await sink.send(acks.events(10))
            assert not await sink.drain(0.3)
            assert sink.failed == 10
            es.set_outage(False)
            assert await sink.drain(5)
            assert sink.failed == 0
    assert acks.committed == 1000


async def test_send_waits_while_enough_batches_are_queued(tmp_path: Path) -> None:
    acks = Acks()
    events = acks.events(20)
    with FakeElasticsearch() as es:
        es.set_outage(True)
        settings = es_settings(tmp_path, es.url, batch_max_records=1, concurrency=1)
        async with running(settings) as sink:
            sending = asyncio.create_task(sink.send(events))
            await eventually(lambda: len(es.requests) >= 2)
            await asyncio.sleep(0.2)  # proving a wait: nothing to poll for
            assert not sending.done()
            es.set_outage(False)
            await asyncio.wait_for(sending, 5)
            assert await sink.drain(5)
        assert es.count() == 20


async def test_gzip_bodies_arrive_decompressed(tmp_path: Path) -> None:
    acks = Acks()
    with FakeElasticsearch() as es:
        settings = es_settings(tmp_path, es.url, es_compression="gzip", es_pipeline="k8s")
        async with running(settings) as sink:
            await sink.send(acks.events(40))
            assert await sink.drain(5)
        bulk = [r for r in es.requests if r.path == "/_bulk"]
        assert bulk and all(r.headers.get("content-encoding") == "gzip" for r in bulk)
        assert all(r.headers["content-type"] == "application/x-ndjson" for r in bulk)
        assert all(r.query["pipeline"] == "k8s" for r in bulk)
        assert all(r.query["filter_path"] == BULK_FILTER_PATH for r in bulk)
        assert es.count() == 40


async def test_es_id_none_lets_elasticsearch_choose(tmp_path: Path) -> None:
    acks = Acks()
    with FakeElasticsearch() as es:
        settings = es_settings(tmp_path, es.url, es_id="none", es_op_type="index")
        async with running(settings) as sink:
            await sink.send(acks.events(5))
            assert await sink.drain(5)
        (body,) = _bulk_bodies(es)
        assert orjson.loads(body.split(b"\n")[0]) == {"index": {"_index": INDEX}}
        assert es.count() == 5 and doc_id(0) not in es.documents()


async def test_index_names_come_from_the_pattern(tmp_path: Path) -> None:
    acks = Acks()
    with FakeElasticsearch() as es:
        settings = es_settings(tmp_path, es.url, es_index="Logs-{kubernetes.namespace_name}-%Y.%m")
        async with running(settings) as sink:
            await sink.send(acks.events(3, timestamp="2023-12-31T23:00:00Z"))
            assert await sink.drain(5)
        assert es.indices() == ["logs-default-2023.12"]


@pytest.mark.parametrize("api_key", [False, True])
async def test_credentials(tmp_path: Path, api_key: bool) -> None:
    acks = Acks()
    if api_key:
        fake = FakeElasticsearch(api_key="a2V5OnNlY3JldA==")
        credentials = {"es_api_key": "a2V5OnNlY3JldA=="}
    else:
        fake = FakeElasticsearch(username="elastic", password="changeme")
        credentials = {"es_user": "elastic", "es_password": "changeme"}
    with fake as es:
        async with running(es_settings(tmp_path, es.url, **credentials)) as sink:
            await sink.send(acks.events(5))
            assert await sink.drain(5)
        assert es.count() == 5
        expected = "ApiKey a2V5OnNlY3JldA==" if api_key else "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="
        assert all(r.headers["authorization"] == expected for r in es.requests)


async def test_wrong_credentials_are_retried_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics, acks = Metrics(), Acks()
    with FakeElasticsearch(username="elastic", password="right") as es:
        settings = es_settings(tmp_path, es.url, es_user="elastic", es_password="wrong")
        async with running(settings, metrics) as sink:
            await sink.send(acks.events(5))
            await eventually(
                lambda: sample(metrics, "shipper_bulk_requests_total", status="401") >= 2
            )
            assert not await sink.drain(0.1)
        assert es.count() == 0
    assert acks.commits == []
    assert any(r.levelno == logging.ERROR and "401" in r.getMessage() for r in caplog.records)


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_fake(authority: trustme.CA):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    with FakeElasticsearch(ssl_context=context) as es:
        yield es


async def test_tls_with_a_private_ca(tmp_path: Path, authority: trustme.CA, tls_fake) -> None:
    acks = Acks()
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    assert tls_fake.url.startswith("https://")
    async with running(es_settings(tmp_path, tls_fake.url, es_ca_file=str(ca_file))) as sink:
        await sink.send(acks.events(5))
        assert await sink.drain(5)
    assert tls_fake.count() == 5


async def test_tls_verify_off_and_on(tmp_path: Path, tls_fake) -> None:
    acks = Acks()
    async with running(es_settings(tmp_path, tls_fake.url, es_tls_verify=False)) as sink:
        await sink.send(acks.events(5))
        assert await sink.drain(5)
    assert tls_fake.count() == 5
    metrics = Metrics()
    async with running(es_settings(tmp_path, tls_fake.url), metrics) as sink:  # unknown CA
        await sink.send(acks.events(5, start=5))
        assert not await sink.drain(0.5)
    assert sample(metrics, "shipper_bulk_requests_total", status="error") >= 1
    assert tls_fake.count() == 5


async def test_start_logs_the_version_or_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shipper.elasticsearch")
    with FakeElasticsearch(version="8.15.0") as es:
        async with running(es_settings(tmp_path, closed_port_url(), es.url)):
            pass
    assert any("8.15.0" in r.getMessage() for r in caplog.records)
    caplog.clear()
    async with running(es_settings(tmp_path, closed_port_url())):  # never fails start-up
        pass
    assert any(r.levelno == logging.WARNING for r in caplog.records)


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


async def test_flush_soon_sends_a_partial_batch_without_waiting_out_the_interval(
    tmp_path: Path,
) -> None:
    acks = Acks()
    events = acks.events(3)
    with FakeElasticsearch() as es:
        async with running(es_settings(tmp_path, es.url, flush_interval=30.0)) as sink:
            await sink.send(events)
            sink.flush_soon()
            await eventually(lambda: _all_acked_once(events), timeout=5)
        assert es.count() == 3


async def test_a_document_bigger_than_a_batch_goes_alone_and_the_next_ones_follow(
    tmp_path: Path,
) -> None:
    acks = Acks()
    small = acks.events(3, start=0)
    big = acks.events(1, start=10)
    big[0].docs[0] = orjson.dumps({"log": "x" * 3000}) + b"\n"
    more = acks.events(3, start=20)
    with FakeElasticsearch() as es:
        settings = es_settings(tmp_path, es.url, batch_max_bytes=1024, concurrency=1)
        async with running(settings) as sink:
            await sink.send(small)
            await sink.send(big)  # the last of its call: it stays in the open batch alone
            await sink.send(more)
            assert await sink.drain(5)
        assert es.count() == 7
        sizes = sorted(body.count(b"\n") // 2 for body in _bulk_bodies(es))
        assert 1 in sizes  # the big one went alone
        assert all(_all_acked_once(group) for group in (small, big, more))


async def test_a_batch_cut_inside_a_block_acks_exactly_its_part(tmp_path: Path) -> None:
    acks = Acks()
    (first,) = acks.events(6, per_ticket=6)
    (second,) = acks.events(5, start=6, per_ticket=5)
    with FakeElasticsearch() as es:
        settings = es_settings(
            tmp_path, es.url, batch_max_records=4, flush_interval=30.0, concurrency=1
        )
        async with running(settings) as sink:
            await sink.send([first])  # 4 go at once; 2 wait in the open batch
            await eventually(lambda: first.ticket.pending == 2)
            await sink.send([second])  # the 2 with 2 of the second block; 3 wait
            await eventually(lambda: first.ticket.pending == 0 and second.ticket.pending == 3)
            assert acks.commits == [600]
            sink.flush_soon()  # reaches the open batch though the flusher waited on the last one
            await eventually(lambda: second.ticket.pending == 0)
            await asyncio.sleep(0.1)  # no ack comes twice
        assert es.count() == 11
    assert _all_acked_once([first, second]) and acks.commits == [600, 1100]


async def test_an_item_refused_in_the_second_block_of_a_request_is_dead_lettered(
    tmp_path: Path,
) -> None:
    metrics, acks = Metrics(), Acks()
    (one,) = acks.events(4, fields={"kubernetes": {"namespace_name": "one"}})
    (two,) = acks.events(5, start=4, fields={"kubernetes": {"namespace_name": "two"}})
    bad = {"@timestamp": "2024-05-01T12:00:00Z", "log": "line 6", "status": {"code": 1}}
    two.docs[2] = orjson.dumps(bad) + b"\n"
    with FakeElasticsearch() as es:
        es.put_mapping("logs-two-2024.05.01", "status", "keyword")
        settings = es_settings(
            tmp_path, es.url, es_index="logs-{kubernetes.namespace_name}-%Y.%m.%d"
        )
        async with running(settings, metrics) as sink:
            await sink.send([one, two])
            assert await sink.drain(5)
        assert len(_bulk_bodies(es)) == 1  # both blocks went in one request
        assert len(es.documents("logs-one-2024.05.01")) == 4
        assert sorted(es.documents("logs-two-2024.05.01")) == [doc_id(n) for n in (4, 5, 7, 8)]
    assert _all_acked_once([one, two]) and acks.committed == 900
    (line,) = (tmp_path / "dead-letter.ndjson").read_bytes().splitlines()
    entry = orjson.loads(line)
    assert entry["index"] == "logs-two-2024.05.01" and entry["id"] == doc_id(6)
    assert entry["document"] == bad
    assert sample(metrics, "shipper_records_delivered_total") == 8


async def test_a_worker_that_fails_is_started_again_and_the_drain_counts_what_it_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a worker (here: the handler of refused documents raising) is counted and
    the worker started again: later batches are delivered, and the drain does not claim
    the lost batch arrived."""
    monkeypatch.setattr(supervisor_module, "FIRST_DELAY", 0.05)
    metrics, acks = Metrics(), Acks()
    bad = acks.events(1, doc={"status": {"code": 1}})
    good = acks.events(30, start=1)

    async def broken(rejected: object) -> None:
        raise RuntimeError("a bug in the dead-letter handler")

    with FakeElasticsearch() as es:
        es.put_mapping(INDEX, "status", "keyword")
        settings = es_settings(tmp_path, es.url, concurrency=1, batch_max_records=10)
        sink = ElasticsearchSink(settings, metrics, reject=broken)
        await sink.start()
        try:
            await sink.send(bad)
            worker = "elasticsearch-worker-0"
            await eventually(
                lambda: sample(metrics, "shipper_internal_errors_total", task=worker) == 1
            )
            await sink.send(good)
            assert not await sink.drain(5)
            assert sink.failed == 1  # the refused document: neither delivered nor dead-lettered
        finally:
            await sink.close()
        assert es.count() == 30
    assert _all_acked_once(good) and bad[0].ticket.pending == 1
