"""What a `_bulk` request carries: its body (gzip or not), ids, index names."""

from pathlib import Path

import orjson

from shipper.sinks.elasticsearch.bulk import BULK_FILTER_PATH
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.sinks.support import (
    INDEX,
    Acks,
    bulk_bodies,
    doc_id,
    es_settings,
    running,
)


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
        (body,) = bulk_bodies(es)
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
