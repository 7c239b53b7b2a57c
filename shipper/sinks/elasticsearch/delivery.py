"""Batches to Elasticsearch: one `_bulk` request at a time per worker, acks what arrived.

A worker acks a document once Elasticsearch stored it (2xx, or 409 to a `create`:
it was stored before) or once it is in the dead-letter file. Items answered 429/5xx
are sent again alone; a whole request that failed (no answer, timeout, 429, 5xx,
401/403, ...) is sent again to the next host. Both wait an exponential backoff with
full jitter; `RetryPolicy` says when a request refused whole is split and when
failures are given up (--once). Each failed attempt is logged once in plain words
(`shipper.sinks.failures`); the request itself is `BulkSender`'s (request.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from itertools import chain

from shipper.net.backoff import Backoff
from shipper.observe.metrics import Metrics
from shipper.record import Documents, ack_all
from shipper.settings import SinkSettings
from shipper.sinks.elasticsearch.batching import BatchQueue
from shipper.sinks.elasticsearch.bulk import BulkBatch, BulkOutcome, ItemError, Rejected
from shipper.sinks.elasticsearch.hosts import HostPool
from shipper.sinks.elasticsearch.policy import RetryPolicy
from shipper.sinks.elasticsearch.request import BulkSender, RequestFailed
from shipper.sinks.elasticsearch.template import TemplateInstaller
from shipper.sinks.failures import FailureLog

log = logging.getLogger("shipper.elasticsearch")

RejectHandler = Callable[[Sequence[Rejected]], Awaitable[None]]


class Delivery:
    """What the workers share: the hosts, the retry policy, the documents outstanding."""

    def __init__(
        self,
        settings: SinkSettings,
        metrics: Metrics,
        hosts: HostPool,
        reject: RejectHandler,
        template: TemplateInstaller | None,
        sender: BulkSender,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._hosts = hosts
        self._reject = reject
        self._template = template
        self._with_ids = settings.es_id == "auto"
        self._sender = sender
        self.policy = RetryPolicy(once=settings.once, budget=settings.once_retry_timeout)
        self.failures = FailureLog(log)
        self.outstanding = 0  # documents taken by the sink, neither acked nor given up
        self.given_up = 0

    async def work(self, queue: BatchQueue) -> None:
        """One worker: deliver the queued batches one at a time, forever."""
        backoff = Backoff(self._settings.retry_max_backoff)
        while True:
            await self._deliver_next(queue, backoff)

    async def _deliver_next(self, queue: BatchQueue, backoff: Backoff) -> None:
        """The next queued batch, delivered. Its documents are let go on return: the budget
        no longer counts them once acknowledged, so a worker waiting for the next batch
        must not hold them (up to a whole batch per worker, beyond the budget)."""
        batch = await queue.get()
        try:
            await self._deliver(batch, backoff)
        finally:
            queue.task_done()

    async def _deliver(self, batch: BulkBatch, backoff: Backoff) -> None:
        """Send until every document is acked or given up, one chunk of the batch at a time."""
        chunks = [batch]
        while chunks:
            chunk = chunks.pop()
            if self._template and not self._template.settled:
                await self._template.install(self._sender.http, self._hosts.hosts)
            host = self._hosts.pick()
            try:
                answer = await self._sender.send(host, chunk)
            except RequestFailed as failure:
                self._hosts.failed(host)
                self.failures.failed(failure.level, failure.template, *failure.values)
                await self._again(chunks, chunk, backoff)
                continue
            if isinstance(answer, ItemError):
                await self._refused_whole(chunks, chunk, host, answer, backoff)
                continue
            self._hosts.succeeded(host)
            self.policy.answered()
            self.failures.recovered("delivery to Elasticsearch")
            await self._settle(chunk, answer)
            if not answer.retry:
                self.policy.delivered()
                backoff.reset()
                continue
            await self._again(chunks, chunk.take(answer.retry), backoff)

    async def _refused_whole(
        self,
        chunks: list[BulkBatch],
        chunk: BulkBatch,
        host: str,
        answer: ItemError,
        backoff: Backoff,
    ) -> None:
        """`chunk` was refused as a whole: its halves go instead, or it goes again."""
        halves = self.policy.halves(len(chunk))
        if halves is not None:
            first, second = halves
            chunks.append(chunk.slice(*second))
            chunks.append(chunk.slice(*first))
            self._hosts.succeeded(host)
            return
        self._hosts.failed(host)
        self.failures.failed(
            logging.ERROR,
            "Elasticsearch at %s refused a request of %d records whole (%s %s: %.200s), "
            "a single document too: the endpoint is at fault (a proxy? a size limit?), "
            "not the documents; sending again, nothing is dead-lettered",
            host,
            len(chunk),
            answer.status,
            answer.error["type"],
            answer.error["reason"],
        )
        await self._again(chunks, chunk, backoff)

    async def _again(self, chunks: list[BulkBatch], chunk: BulkBatch, backoff: Backoff) -> None:
        """`chunk` failed: it goes again after a backoff, or is given up (--once, past its
        budget)."""
        if self.policy.give_up():
            self.given_up += len(chunk)
            self.outstanding -= len(chunk)
            log.error(
                "gave up on %d records after %.1f s of failed deliveries "
                "(SHIPPER_ONCE_RETRY_TIMEOUT): %s",
                len(chunk),
                self.policy.failing_for(),
                self.failures.last,
            )
            return
        self._metrics.records_retried.inc(len(chunk))
        chunks.append(chunk)
        await asyncio.sleep(self.policy.delay(backoff))

    async def _settle(self, batch: BulkBatch, outcome: BulkOutcome) -> None:
        """Ack the delivered documents, dead-letter (then ack) the refused ones."""
        if not outcome.retry and not outcome.rejected:
            self._delivered(batch.blocks)
            return
        pending = {*outcome.retry, *(item.position for item in outcome.rejected)}
        self._delivered(batch.blocks_at([i for i in range(len(batch)) if i not in pending]))
        if outcome.rejected:
            await self._dead_letter(batch, outcome.rejected)

    def _delivered(self, blocks: list[Documents]) -> None:
        if not blocks:
            return
        count = sum(map(len, blocks))
        ack_all(blocks)
        self.outstanding -= count
        self._metrics.records_delivered.inc(count)
        self._metrics.observe_latency(blocks[0].times[0])

    async def _dead_letter(self, batch: BulkBatch, errors: Sequence[ItemError]) -> None:
        """Hand the refused items to `reject`, then ack them (`errors` in request order)."""
        refused = batch.take([item.position for item in errors])
        ids = chain.from_iterable(block.id_list() for block in refused.blocks)
        docs = chain.from_iterable(block.docs for block in refused.blocks)
        await self._reject(
            [
                Rejected(
                    index=index,
                    id=doc_id if self._with_ids and doc_id else None,
                    status=item.status,
                    error=item.error,
                    doc=doc[:-1],  # without its newline, as the dead-letter file embeds it
                )
                for item, index, doc_id, doc in zip(errors, refused.indices, ids, docs, strict=True)
            ]
        )
        ack_all(refused.blocks)
        self.outstanding -= len(refused)
