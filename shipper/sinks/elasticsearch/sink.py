"""The Elasticsearch sink: batches documents into `_bulk` requests and acks what arrived.

`send` hands each block to the `Batcher` (batching.py), which cuts batches into a
queue; SHIPPER_CONCURRENCY workers (delivery.py) each deliver one batch at a time,
retrying and splitting as `RetryPolicy` (policy.py) says. `ready` holds the
pipeline's next block while more than one batch is queued beyond the workers
waiting: when Elasticsearch is the bottleneck, what the workers cannot take yet waits
in the pipeline's outbox, where files take turns, instead of in batches formed in
arrival order (a quiet file's line would wait behind all of them). The byte budget
the source holds until the acks bounds the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial

from shipper.observe.metrics import Metrics
from shipper.record import Documents
from shipper.settings import SinkSettings
from shipper.sinks.dead_letter import DeadLetterFile
from shipper.sinks.elasticsearch.batching import Batcher, BatchQueue
from shipper.sinks.elasticsearch.client import build_client, log_cluster_version
from shipper.sinks.elasticsearch.data_stream import target_pattern
from shipper.sinks.elasticsearch.delivery import Delivery, RejectHandler
from shipper.sinks.elasticsearch.distribution import reconcile
from shipper.sinks.elasticsearch.hosts import HostPool
from shipper.sinks.elasticsearch.request import BulkSender
from shipper.sinks.elasticsearch.template import TemplateInstaller
from shipper.supervisor import Supervisor
from shipper.tasks import OwnedTasks

log = logging.getLogger("shipper.elasticsearch")

BATCHES_PER_WORKER = 2


class ElasticsearchSink:
    """Delivers documents to SHIPPER_ES_HOSTS (see the module docstring)."""

    def __init__(
        self,
        settings: SinkSettings,
        metrics: Metrics,
        *,
        dead_letter_path: str | None = None,
        reject: RejectHandler | None = None,
        supervisor: Supervisor | None = None,
        indices_of: Callable[[Documents], list[str]] | None = None,
    ) -> None:
        """`reject` receives refused documents (default: the dead-letter file at
        `dead_letter_path`, in the agent's state directory); `supervisor` restarts a
        worker that fails; `indices_of` names the index of each document of a block
        (default: SHIPPER_ES_INDEX or the data stream)."""
        self._settings = settings
        self._metrics = metrics
        self._supervisor = supervisor or Supervisor(metrics)
        self._hosts = HostPool(settings.es_hosts, settings.retry_max_backoff)
        if reject is None:
            assert dead_letter_path is not None, "refused documents need somewhere to go"
            reject = DeadLetterFile(dead_letter_path, settings.dead_letter_max_bytes, metrics).write
        self._indices_of = indices_of or target_pattern(settings).render_all
        self._template = TemplateInstaller(settings) if settings.es_template == "install" else None
        self._queue = BatchQueue(BATCHES_PER_WORKER * settings.concurrency)
        self._batcher = Batcher(settings, self._queue)
        self._sender = BulkSender(settings, metrics)
        self._delivery = Delivery(
            settings, metrics, self._hosts, reject, self._template, self._sender
        )
        self._tasks = OwnedTasks("elasticsearch", self._supervisor)
        self._unfinished_at_drain = 0

    # --- the Sink protocol

    async def start(self) -> None:
        """Open the client, log the cluster version, install the template, start workers."""
        client = self._sender.client = build_client(self._settings)
        cluster = await log_cluster_version(client, self._hosts.hosts)
        self._metrics.output_up.set(1 if cluster else 0)
        if self._template:
            self._template.cluster = reconcile(self._settings, cluster)
            await self._template.install(client, self._hosts.hosts)
        work = partial(self._delivery.work, self._queue)
        runs = {f"elasticsearch-worker-{n}": work for n in range(self._settings.concurrency)}
        self._tasks.start(runs | {"elasticsearch-flush": self._batcher.flush_on_time})

    def busy(self) -> bool:
        """More than one batch is queued beyond the workers waiting (see `BatchQueue`)."""
        return self._queue.busy()

    async def ready(self) -> None:
        """Until a batch formed now would be taken by the next worker to be free."""
        await self._queue.until_a_worker_is_free()

    async def send(self, blocks: list[Documents]) -> None:
        """Add the blocks' documents to the batch being filled, each to the index
        SHIPPER_ES_INDEX (or the data stream SHIPPER_ES_DATA_STREAM) names for it; wait
        while enough batches are queued."""
        self._delivery.outstanding += sum(map(len, blocks))
        for block in blocks:
            await self._batcher.add(block, self._indices_of(block))

    async def send_to(self, block: Documents, indices: list[str]) -> None:
        """Like `send`, document `i` of `block` to index `indices[i]` (a replay's documents
        go back where they were refused)."""
        self._delivery.outstanding += len(block)
        await self._batcher.add(block, indices)

    def flush_soon(self) -> None:
        """Nothing more can come for now (the buffer is full, or a backlog was just read):
        cut the batch being filled."""
        self._batcher.flush_soon()

    async def drain(self, timeout: float | None) -> bool:
        """Cut the batch being filled and wait until every queued batch is delivered or
        given up."""
        delivery = self._delivery
        try:
            async with asyncio.timeout(timeout):
                if self._batcher:
                    await self._batcher.cut()
                await self._queue.join()
        except TimeoutError:
            self._unfinished_at_drain = delivery.outstanding
            log.error("%d records not delivered within %s s", delivery.outstanding, timeout)
            return False
        self._unfinished_at_drain = delivery.outstanding  # none, unless a worker had a bug
        return delivery.given_up == 0 and delivery.outstanding == 0

    async def close(self) -> None:
        """Stop the workers; what they had not delivered stays unacknowledged."""
        await self._tasks.close()
        if self._sender.client is not None:
            await self._sender.client.aclose()
            self._sender.client = None

    @property
    def failed(self) -> int:
        """Documents given up on (--once budget spent, or still pending when a drain timed out)."""
        return self._delivery.given_up + self._unfinished_at_drain

    @property
    def failing_since(self) -> float | None:
        """When (time.monotonic) the current run of failed attempts began; None while
        requests succeed."""
        return self._delivery.policy.failing_since

    @property
    def last_failure(self) -> str | None:
        """The latest failed attempt's cause, in plain words."""
        return self._delivery.failures.last
