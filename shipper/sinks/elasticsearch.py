"""The Elasticsearch sink: batches documents into `_bulk` requests and acks what arrived.

`send` builds each block's action lines and appends runs of whole blocks, or slices
of them, to the open batch; a batch is cut at SHIPPER_BATCH_MAX_BYTES or
_MAX_RECORDS, when it has waited SHIPPER_FLUSH_INTERVAL, or on `flush_soon`. A
request's body is joined and sent a few hundred documents at a time. SHIPPER_CONCURRENCY
workers each deliver one batch at a time. `ready` holds the pipeline's next block
while more than one batch is queued beyond the workers waiting: when Elasticsearch is
the bottleneck, what
the workers cannot take yet waits in the pipeline's outbox, where files take turns,
instead of in batches formed in arrival order (a quiet file's line would wait behind
all of them). The
byte budget the source holds until the acks bounds the rest. Nothing on the way from
`send` to an acknowledged request steps through the documents one by one in Python.

A worker acks a document once Elasticsearch stored it (2xx, or 409 to a `create`:
it was stored before) or once it is in the dead-letter file. Items answered 429/5xx
are sent again alone; a whole request that failed (no answer, timeout, 429, 5xx,
401/403, ...) is sent again to the next host. Both wait an exponential backoff with
full jitter; forever while running, within SHIPPER_ONCE_RETRY_TIMEOUT with --once.
A request refused as a whole (400, 413) is split in halves until the culprit is
found: a part that is delivered proves the others hold it. But a request of one
document refused whole, or any request refused whole once one was, says the
endpoint is at fault (a proxy, a size limit), not a document: it is sent again
with backoff like any failed request, never dead-lettered.

A 200 answer acknowledges only when it is read whole (see `parse_bulk_response`);
every answer is read within a size cap and SHIPPER_REQUEST_TIMEOUT. Whatever an
attempt raises (an `httpx` error, `ssl.SSLError` from an alert after the
handshake, anything) is one failed attempt, logged once in plain words
(`shipper.sinks.failures`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import time
from bisect import bisect_right
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from itertools import accumulate, chain
from operator import add

import httpx

from shipper.observe.metrics import Metrics
from shipper.record import Documents, ack_all
from shipper.settings import Settings
from shipper.sinks.backoff import Backoff
from shipper.sinks.bulk import (
    BULK_FILTER_PATH,
    CONTENT_TYPE,
    BulkBatch,
    BulkOutcome,
    BulkResponseError,
    ItemError,
    Rejected,
    action_lines,
    parse_bulk_response,
    request_error,
)
from shipper.sinks.data_stream import target_pattern
from shipper.sinks.dead_letter import DeadLetterFile
from shipper.sinks.distribution import reconcile
from shipper.sinks.es_client import (
    build_client,
    log_cluster_version,
    read_capped,
    tls_alert,
)
from shipper.sinks.failures import FailureLog, connection_lost, explain_request, explain_status
from shipper.sinks.hosts import HostPool
from shipper.sinks.template import TemplateInstaller
from shipper.supervisor import Supervisor

log = logging.getLogger("shipper.elasticsearch")

RejectHandler = Callable[[Sequence[Rejected]], Awaitable[None]]
PIECE_DOCUMENTS = 500  # a body is joined and sent this many documents (~250 KiB) at a time
GZIP_LEVEL = 3  # most of the size gain of level 9 at a fraction of its CPU
BATCHES_PER_WORKER = 2
_SPLIT_STATUSES = (400, 413)  # the request as a whole is refused: find the culprit
ANSWER_BASE_BYTES = 1024 * 1024  # a `_bulk` answer's cap: this, and per item sent ...
ANSWER_ITEM_BYTES = 2048  # ... room for an error's type and reason (filter_path keeps them)


class _Failed(Exception):
    """A whole request got no usable answer (its documents are all sent again); says why
    in plain words, as a log template and its arguments."""

    def __init__(self, template: str, *args: object, level: int = logging.WARNING) -> None:
        super().__init__(template % args)
        self.template = template
        self.values = args
        self.level = level


class _BatchQueue(asyncio.Queue[BulkBatch]):
    """The batches cut for the workers; knows how many workers wait for one."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.waiting = 0  # workers waiting in `get`
        self.changed = asyncio.Event()  # set when a worker starts waiting

    async def get(self) -> BulkBatch:
        self.waiting += 1
        self.changed.set()
        try:
            return await super().get()
        finally:
            self.waiting -= 1

    def busy(self) -> bool:
        return self.qsize() > self.waiting

    async def until_a_worker_is_free(self) -> None:
        """Until a batch formed now would be taken by the next worker to be free: no
        more than one is queued beyond the workers waiting (that one keeps a fast
        Elasticsearch busy while the next batch is formed)."""
        while self.busy():
            self.changed.clear()
            await self.changed.wait()


class ElasticsearchSink:
    """Delivers documents to SHIPPER_ES_HOSTS (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        reject: RejectHandler | None = None,
        indices_of: Callable[[Documents], list[str]] | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        """`reject` receives refused documents (default: the dead-letter file);
        `indices_of` names the index of each document of a block (default:
        SHIPPER_ES_INDEX); `supervisor` restarts a worker that fails."""
        self._settings = settings
        self._metrics = metrics
        self._supervisor = supervisor or Supervisor(metrics)
        self._hosts = HostPool(settings.es_hosts, settings.retry_max_backoff)
        self._reject = (
            reject
            or DeadLetterFile(
                settings.dead_letter_path, settings.dead_letter_max_bytes, metrics
            ).write
        )
        self._pattern = target_pattern(settings)
        self._indices_of = indices_of or self._pattern.render_all
        self._template = TemplateInstaller(settings) if settings.es_template == "install" else None
        self._with_ids = settings.es_id == "auto"
        self._headers = {"Content-Type": CONTENT_TYPE}
        if settings.es_compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        # Only what is read of the answer: a tenth of its size (an answer of 10,000 items
        # is over a megabyte otherwise).
        self._params = {"filter_path": BULK_FILTER_PATH}
        if settings.es_pipeline:
            self._params["pipeline"] = settings.es_pipeline
        self._client: httpx.AsyncClient | None = None
        self._open = BulkBatch([], [], [])
        self._opened = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._ready = _BatchQueue(BATCHES_PER_WORKER * settings.concurrency)
        self._tasks: list[asyncio.Task[None]] = []
        self._outstanding = 0  # documents taken by `send`, neither acked nor given up
        self._given_up = 0
        self._unfinished_at_drain = 0
        self._failing_since: float | None = None  # start of the current run of failures
        self._refusing = False  # the endpoint refuses requests whole, even of one document
        self._failures = FailureLog(log)

    # --- the Sink protocol

    async def start(self) -> None:
        """Open the client, log the cluster version, install the template, start workers."""
        self._client = build_client(self._settings)
        cluster = await log_cluster_version(self._client, self._hosts.hosts)
        self._metrics.output_up.set(1 if cluster else 0)
        if self._template:
            self._template.cluster = reconcile(self._settings, cluster)
            await self._template.install(self._client, self._hosts.hosts)
        spawn = self._supervisor.spawn
        self._tasks = [
            spawn(f"elasticsearch-worker-{n}", self._work)
            for n in range(self._settings.concurrency)
        ]
        self._tasks.append(spawn("elasticsearch-flush", self._flush_on_time))

    def busy(self) -> bool:
        """More than one batch is queued beyond the workers waiting (see `_BatchQueue`)."""
        return self._ready.busy()

    async def ready(self) -> None:
        """Until a batch formed now would be taken by the next worker to be free."""
        await self._ready.until_a_worker_is_free()

    async def send(self, blocks: list[Documents]) -> None:
        """Add the blocks' documents to the open batch; wait while enough batches are queued."""
        self._outstanding += sum(map(len, blocks))
        for block in blocks:
            await self._add(block)

    async def drain(self, timeout: float | None) -> bool:
        """Cut the open batch and wait until every queued batch is delivered or given up."""
        try:
            async with asyncio.timeout(timeout):
                if self._open:
                    await self._cut()
                await self._idle()
        except TimeoutError:
            self._unfinished_at_drain = self._outstanding
            log.error("%d records not delivered within %s s", self._outstanding, timeout)
            return False
        self._unfinished_at_drain = self._outstanding  # none, unless a worker had a bug
        return self._given_up == 0 and self._outstanding == 0

    async def close(self) -> None:
        """Stop the workers; what they had not delivered stays unacknowledged."""
        for task in self._tasks:
            task.cancel()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for result in results:
            if isinstance(result, Exception):
                log.error("Elasticsearch worker had failed: %r", result)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def failed(self) -> int:
        """Documents given up on (--once budget spent, or still pending when a drain timed out)."""
        return self._given_up + self._unfinished_at_drain

    @property
    def failing_since(self) -> float | None:
        """When (time.monotonic) the current run of failed attempts began; None while
        requests succeed."""
        return self._failing_since

    @property
    def last_failure(self) -> str | None:
        """The latest failed attempt's cause, in plain words."""
        return self._failures.last

    # --- batching

    async def _add(self, block: Documents) -> None:
        """Add one block to the open batch, cutting batches inside it where they fill up."""
        max_bytes = self._settings.batch_max_bytes
        max_records = self._settings.batch_max_records
        indices = self._indices_of(block)
        actions = action_lines(block, indices, self._settings.es_op_type, self._with_ids)
        count = len(block)
        nbytes = sum(map(len, actions)) + sum(map(len, block.docs))
        if len(self._open) + count <= max_records and self._open.nbytes + nbytes <= max_bytes:
            self._fill(block, 0, count, actions, indices, nbytes)  # the usual case
        else:
            # Body bytes before each document (prefix sums, built in C): each batch's run
            # is found by bisection instead of a Python step per document.
            before = list(accumulate(map(add, map(len, actions), map(len, block.docs)), initial=0))
            i = 0
            while i < count:
                batch = self._open
                # The longest run of documents that fits the open batch.
                end = min(count, i + max_records - len(batch))
                room = max_bytes - batch.nbytes + before[i]
                j = max(i, bisect_right(before, room, i, end + 1) - 1)
                if j == i and not batch:
                    j = i + 1  # a document bigger than a whole batch goes alone
                self._fill(block, i, j, actions, indices, before[j] - before[i])
                i = j
                if i < count:
                    await self._cut()
        if len(self._open) >= max_records:
            await self._cut()

    def _fill(
        self,
        block: Documents,
        start: int,
        stop: int,
        actions: list[bytes],
        indices: list[str],
        nbytes: int,
    ) -> None:
        """Put documents `start` to `stop` of `block` (`nbytes` of body) in the open batch."""
        batch = self._open
        if not batch and start < stop:
            batch.opened = time.monotonic()
            self._opened.set()
        batch.add(block, start, stop, actions, indices)
        batch.nbytes += nbytes

    async def _cut(self) -> None:
        batch, self._open = self._open, BulkBatch([], [], [])
        await self._ready.put(batch)

    async def _flush_on_time(self) -> None:
        """Cut a partial batch once it has waited SHIPPER_FLUSH_INTERVAL, or on `flush_soon`."""
        if self._open:  # started again after a failure: the open batch still gets cut
            self._opened.set()
        while True:
            await self._opened.wait()
            self._opened.clear()
            batch = self._open
            if not batch:
                continue
            wait = batch.opened + self._settings.flush_interval - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), max(wait, 0))
            if self._flush_now.is_set():
                # whatever is open now: `batch` may have filled up meanwhile, and a
                # `flush_soon` meant for the batch after it must not be lost
                self._flush_now.clear()
                if self._open:
                    await self._cut()
            elif self._open is batch:
                await self._cut()

    def flush_soon(self) -> None:
        """Nothing more can come for now (the buffer is full, or a backlog was just read):
        cut the open batch."""
        if self._open:
            self._flush_now.set()

    async def _idle(self) -> None:
        """Wait until every queued batch is delivered or given up."""
        await self._ready.join()

    # --- delivery

    async def _work(self) -> None:
        backoff = Backoff(self._settings.retry_max_backoff)
        while True:
            batch = await self._ready.get()
            try:
                await self._deliver(batch, backoff)
            finally:
                self._ready.task_done()

    async def _deliver(self, batch: BulkBatch, backoff: Backoff) -> None:
        """Send until every document is acked or given up, one chunk of the batch at a time."""
        chunks = [batch]
        while chunks:
            chunk = chunks.pop()
            if self._template and not self._template.settled:
                await self._template.install(self._http, self._hosts.hosts)
            host = self._hosts.pick()
            try:
                answer = await self._request(host, chunk)
            except _Failed as failure:
                self._hosts.failed(host)
                self._failures.failed(failure.level, failure.template, *failure.values)
                await self._again(chunks, chunk, backoff)
                continue
            if isinstance(answer, ItemError):
                if len(chunk) > 1 and not self._refusing:  # halve until the culprit
                    half = len(chunk) // 2
                    chunks.append(chunk.slice(half, len(chunk)))
                    chunks.append(chunk.slice(0, half))
                    self._hosts.succeeded(host)
                    continue
                self._refusing = True
                self._hosts.failed(host)
                self._failures.failed(
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
                continue
            self._hosts.succeeded(host)
            self._refusing = False
            self._failures.recovered("delivery to Elasticsearch")
            await self._settle(chunk, answer)
            if not answer.retry:
                self._failing_since = None
                backoff.reset()
                continue
            await self._again(chunks, chunk.take(answer.retry), backoff)

    async def _again(self, chunks: list[BulkBatch], chunk: BulkBatch, backoff: Backoff) -> None:
        """`chunk` failed: it goes again after a backoff, or is given up (--once, past its
        budget)."""
        if not self._give_up(len(chunk)):
            self._metrics.records_retried.inc(len(chunk))
            chunks.append(chunk)
            await self._pause(backoff)

    async def _post(
        self, url: str, length: int, body: Iterable[bytes], cap: int
    ) -> tuple[int, bytes]:
        """POST the `length` bytes of `body`; the answer's status and content (at most `cap`
        bytes of it, else `AnswerTooLarge`).

        httpx keeps each response and its request in a reference cycle, freed only by the
        next full garbage collection: the body goes as a stream that lets go of each piece
        once sent, and the answer is read into our own bytes, so the cycle holds neither.
        """
        request = self._http.build_request(
            "POST",
            url,
            content=_stream(body),
            headers={**self._headers, "Content-Length": str(length)},
            params=self._params,
        )
        response = await self._http.send(request, stream=True)
        try:
            return response.status_code, await read_capped(response, cap)
        finally:
            await response.aclose()

    async def _request(self, host: str, batch: BulkBatch) -> BulkOutcome | ItemError:
        """One `_bulk` request: its items' outcome, or (400/413) why it was refused whole."""
        op_type = self._settings.es_op_type
        if self._settings.es_compression == "gzip":
            body = await asyncio.to_thread(gzip.compress, batch.body(), GZIP_LEVEL)
            length, pieces = len(body), iter((body,))
        else:
            length, pieces = batch.pieces(PIECE_DOCUMENTS)
        metrics = self._metrics
        started = time.monotonic()
        cap = ANSWER_BASE_BYTES + ANSWER_ITEM_BYTES * len(batch)
        timeout = self._settings.request_timeout
        try:
            async with asyncio.timeout(timeout):
                status, content = await self._post(f"{host}/_bulk", length, pieces, cap)
        except Exception as exc:  # whatever it is (ssl.SSLError too), the attempt failed
            metrics.bulk_requests.labels(status="error").inc()
            metrics.output_up.set(0)
            words = explain_request(exc, timeout)
            if connection_lost(exc) and host.startswith("https:"):
                words = await tls_alert(self._settings, host) or words
            raise _Failed("bulk request to %s failed: %s", host, words) from exc
        metrics.bulk_requests.labels(status=str(status)).inc()
        metrics.bulk_request_duration.observe(time.monotonic() - started)
        if 200 <= status < 300:
            try:
                outcome = parse_bulk_response(content, len(batch), op_type)
            except BulkResponseError as exc:
                metrics.output_up.set(0)
                raise _Failed(
                    "the answer of %s to a bulk request cannot be read whole, so nothing counts "
                    "as delivered and all %d records go again: %s",
                    host,
                    len(batch),
                    exc,
                ) from exc
            metrics.output_up.set(1)
            return outcome
        if status in _SPLIT_STATUSES:
            metrics.output_up.set(1)
            error = request_error(content, status)
            log.warning(
                "bulk request of %d records refused (%s %s): %.300s",
                len(batch),
                status,
                error["type"],
                error["reason"],
            )
            return ItemError(0, status, error)
        metrics.output_up.set(0)
        # 429/5xx are the cluster's load; anything else (401, 403, 404) needs an operator
        level = logging.WARNING if status == 429 or status >= 500 else logging.ERROR
        reason = content[:300].decode("utf-8", "replace")
        raise _Failed(
            "bulk request to %s answered %s: %s: %s",
            host,
            status,
            explain_status(status),
            reason,
            level=level,
        )

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
        self._outstanding -= count
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
        self._outstanding -= len(refused)

    def _give_up(self, count: int) -> bool:
        """One more failed attempt; with --once, whether failures have lasted
        SHIPPER_ONCE_RETRY_TIMEOUT (then count the `count` documents at hand as given up)."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if not self._settings.once or now - self._failing_since < self._settings.once_retry_timeout:
            return False
        self._given_up += count
        self._outstanding -= count
        log.error(
            "gave up on %d records after %.1f s of failed deliveries "
            "(SHIPPER_ONCE_RETRY_TIMEOUT): %s",
            count,
            now - self._failing_since,
            self._failures.last,
        )
        return True

    async def _pause(self, backoff: Backoff) -> None:
        delay = backoff.next_delay()
        if self._settings.once and self._failing_since is not None:
            left = self._failing_since + self._settings.once_retry_timeout - time.monotonic()
            delay = min(delay, max(0.0, left))
        await asyncio.sleep(delay)

    @property
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("ElasticsearchSink.start() was not called")
        return self._client


async def _stream(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    """The body as a stream that holds each piece only until it is sent."""
    for piece in pieces:
        yield piece
