"""The sink's batches: cut on records, bytes, time and `flush_soon`, inside blocks too."""

import asyncio
from pathlib import Path

import orjson

from tests.fakes.elasticsearch import FakeElasticsearch
from tests.sinks.support import (
    Acks,
    all_acked_once,
    bulk_bodies,
    es_settings,
    eventually,
    running,
)


async def test_batches_are_cut_at_records_and_bytes(tmp_path: Path) -> None:
    acks = Acks()
    with FakeElasticsearch() as es:
        async with running(es_settings(tmp_path, es.url, batch_max_records=10)) as sink:
            await sink.send(acks.events(35))
            assert await sink.drain(5)
        counts = sorted(body.count(b"\n") // 2 for body in bulk_bodies(es))
        assert counts == [5, 10, 10, 10]
    with FakeElasticsearch() as es:
        limit = 1000
        settings = es_settings(tmp_path, es.url, batch_max_bytes=limit, concurrency=1)
        async with running(settings) as sink:
            await sink.send(acks.events(40, start=100))
            assert await sink.drain(5)
        bodies = bulk_bodies(es)
        assert es.count() == 40 and len(bodies) > 3
        assert all(len(body) <= limit for body in bodies)


async def test_a_partial_batch_waits_at_most_the_flush_interval(tmp_path: Path) -> None:
    acks = Acks()
    events = acks.events(3)
    with FakeElasticsearch() as es:
        async with running(es_settings(tmp_path, es.url, flush_interval=0.1)) as sink:
            await sink.send(events)
            await eventually(lambda: all_acked_once(events), timeout=2)
        assert es.count() == 3


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


async def test_flush_soon_sends_a_partial_batch_without_waiting_out_the_interval(
    tmp_path: Path,
) -> None:
    acks = Acks()
    events = acks.events(3)
    with FakeElasticsearch() as es:
        async with running(es_settings(tmp_path, es.url, flush_interval=30.0)) as sink:
            await sink.send(events)
            sink.flush_soon()
            await eventually(lambda: all_acked_once(events), timeout=5)
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
        sizes = sorted(body.count(b"\n") // 2 for body in bulk_bodies(es))
        assert 1 in sizes  # the big one went alone
        assert all(all_acked_once(group) for group in (small, big, more))


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
    assert all_acked_once([first, second]) and acks.commits == [600, 1100]
