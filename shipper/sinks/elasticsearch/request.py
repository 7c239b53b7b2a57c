"""One `_bulk` request: the body sent as a stream, the answer read within its cap and
SHIPPER_REQUEST_TIMEOUT, and what the answer says.

A 200 answer counts only when it is read whole (see `parse_bulk_response`). Whatever an
attempt raises (an `httpx` error, `ssl.SSLError` from an alert after the handshake,
anything) is one failed attempt, `RequestFailed`, saying why in plain words
(`shipper.sinks.failures`).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from collections.abc import AsyncIterator, Iterable

import httpx

from shipper.net.capped import read_capped
from shipper.observe.metrics import Metrics
from shipper.settings import Settings
from shipper.sinks.elasticsearch.bulk import (
    BULK_FILTER_PATH,
    CONTENT_TYPE,
    BulkBatch,
    BulkOutcome,
    BulkResponseError,
    ItemError,
    parse_bulk_response,
    request_error,
)
from shipper.sinks.elasticsearch.client import tls_alert
from shipper.sinks.elasticsearch.policy import SPLIT_STATUSES
from shipper.sinks.failures import connection_lost, explain_request, explain_status

log = logging.getLogger("shipper.elasticsearch")

PIECE_DOCUMENTS = 500  # a body is joined and sent this many documents (~250 KiB) at a time
GZIP_LEVEL = 3  # most of the size gain of level 9 at a fraction of its CPU
ANSWER_BASE_BYTES = 1024 * 1024  # a `_bulk` answer's cap: this, and per item sent ...
ANSWER_ITEM_BYTES = 2048  # ... room for an error's type and reason (filter_path keeps them)


class RequestFailed(Exception):
    """A whole request got no usable answer (its documents are all sent again); says why
    in plain words, as a log template and its arguments."""

    def __init__(self, template: str, *args: object, level: int = logging.WARNING) -> None:
        super().__init__(template % args)
        self.template = template
        self.values = args
        self.level = level


class BulkSender:
    """Sends `_bulk` requests with the sink's headers and parameters over `client`."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._headers = {"Content-Type": CONTENT_TYPE}
        if settings.es_compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        # Only what is read of the answer: a tenth of its size (an answer of 10,000 items
        # is over a megabyte otherwise).
        self._params = {"filter_path": BULK_FILTER_PATH}
        if settings.es_pipeline:
            self._params["pipeline"] = settings.es_pipeline
        self.client: httpx.AsyncClient | None = None  # set by the sink's `start`

    async def _post(
        self, url: str, length: int, body: Iterable[bytes], cap: int
    ) -> tuple[int, bytes]:
        """POST the `length` bytes of `body`; the answer's status and content (at most `cap`
        bytes of it, else `AnswerTooLarge`).

        httpx keeps each response and its request in a reference cycle, freed only by the
        next full garbage collection: the body goes as a stream that lets go of each piece
        once sent, and the answer is read into our own bytes, so the cycle holds neither.
        """
        request = self.http.build_request(
            "POST",
            url,
            content=_stream(body),
            headers={**self._headers, "Content-Length": str(length)},
            params=self._params,
        )
        response = await self.http.send(request, stream=True)
        try:
            return response.status_code, await read_capped(response, cap)
        finally:
            await response.aclose()

    async def send(self, host: str, batch: BulkBatch) -> BulkOutcome | ItemError:
        """One `_bulk` request: its items' outcome, or (400/413) why it was refused whole."""
        if self._settings.es_compression == "gzip":
            body = await asyncio.to_thread(gzip.compress, batch.body(), GZIP_LEVEL)
            length, pieces = len(body), iter((body,))
        else:
            length, pieces = batch.pieces(PIECE_DOCUMENTS)
        started = time.monotonic()
        cap = ANSWER_BASE_BYTES + ANSWER_ITEM_BYTES * len(batch)
        timeout = self._settings.request_timeout
        try:
            async with asyncio.timeout(timeout):
                status, content = await self._post(f"{host}/_bulk", length, pieces, cap)
        except Exception as exc:  # whatever it is (ssl.SSLError too), the attempt failed
            self._metrics.bulk_requests.labels(status="error").inc()
            self._metrics.output_up.set(0)
            words = explain_request(exc, timeout)
            if connection_lost(exc) and host.startswith("https:"):
                words = await tls_alert(self._settings, host) or words
            raise RequestFailed("bulk request to %s failed: %s", host, words) from exc
        self._metrics.bulk_requests.labels(status=str(status)).inc()
        self._metrics.bulk_request_duration.observe(time.monotonic() - started)
        return self._read_answer(host, len(batch), status, content)

    def _read_answer(
        self, host: str, count: int, status: int, content: bytes
    ) -> BulkOutcome | ItemError:
        """What the answer to a request of `count` items says; `RequestFailed` when it is no use."""
        metrics = self._metrics
        if 200 <= status < 300:
            try:
                outcome = parse_bulk_response(content, count, self._settings.es_op_type)
            except BulkResponseError as exc:
                metrics.output_up.set(0)
                raise RequestFailed(
                    "the answer of %s to a bulk request cannot be read whole, so nothing counts "
                    "as delivered and all %d records go again: %s",
                    host,
                    count,
                    exc,
                ) from exc
            metrics.output_up.set(1)
            return outcome
        if status in SPLIT_STATUSES:
            metrics.output_up.set(1)
            error = request_error(content, status)
            log.warning(
                "bulk request of %d records refused (%s %s): %.300s",
                count,
                status,
                error["type"],
                error["reason"],
            )
            return ItemError(0, status, error)
        metrics.output_up.set(0)
        # 429/5xx are the cluster's load; anything else (401, 403, 404) needs an operator
        level = logging.WARNING if status == 429 or status >= 500 else logging.ERROR
        reason = content[:300].decode("utf-8", "replace")
        raise RequestFailed(
            "bulk request to %s answered %s: %s: %s",
            host,
            status,
            explain_status(status),
            reason,
            level=level,
        )

    @property
    def http(self) -> httpx.AsyncClient:
        """The client; an error before the sink was started."""
        if self.client is None:
            raise RuntimeError("ElasticsearchSink.start() was not called")
        return self.client


async def _stream(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    """The body as a stream that holds each piece only until it is sent."""
    for piece in pieces:
        yield piece
