"""The sink against a real HTTP server that answers like Elasticsearch."""

from pathlib import Path

import orjson
import pytest

from shipper import supervisor as supervisor_module
from shipper.observe.metrics import Metrics
from shipper.sinks.elasticsearch.sink import ElasticsearchSink
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.sinks.support import (
    INDEX,
    Acks,
    all_acked_once,
    bulk_bodies,
    doc_id,
    es_settings,
    eventually,
    running,
    sample,
)


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
        assert len(bulk_bodies(es)) >= 7  # 250 / 40
    assert all_acked_once(events)
    assert acks.committed == 25_000 and acks.commits[-1] == 25_000
    assert acks.released == 25_000
    assert sample(metrics, "shipper_records_delivered_total") == 250
    assert sample(metrics, "shipper_bulk_requests_total", status="200") >= 7
    assert sample(metrics, "shipper_output_up") == 1
    assert sample(metrics, "shipper_bulk_request_duration_seconds_count") >= 7
    assert sample(metrics, "shipper_delivery_latency_seconds_count") >= 1
    assert not (tmp_path / "dead-letter.ndjson").exists()


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
    assert all_acked_once(replayed) and again.committed == 2000
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
    assert all_acked_once(events) and acks.committed == 30_000
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
    assert all_acked_once(events + bad + more) and acks.committed == 2000
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
    assert all_acked_once(events) and acks.committed == 12_000
    assert sample(metrics, "shipper_output_up") == 1
    assert sample(metrics, "shipper_records_retried_total") >= 4


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
    assert all_acked_once(events)
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
    assert all_acked_once(events)


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
        assert len(bulk_bodies(es)) == 1  # both blocks went in one request
        assert len(es.documents("logs-one-2024.05.01")) == 4
        assert sorted(es.documents("logs-two-2024.05.01")) == [doc_id(n) for n in (4, 5, 7, 8)]
    assert all_acked_once([one, two]) and acks.committed == 900
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
    assert all_acked_once(good) and bad[0].ticket.pending == 1
