"""List then watch one collection, the way client-go's reflector does, with few requests.

The list asks for `resourceVersion=0`, served from the API server's watch cache rather
than an etcd quorum read. The watch resumes from the last resourceVersion seen, bookmarks
included, so a watch that ends normally costs one request and no relist; only `410 Gone`
forces a relist. Errors back off exponentially with jitter, so thousands of agents do
not hammer an API server that is coming back up.

An answer past its size cap or deadline is such an error. A malformed object (an
event that is not JSON, or not the shape of one) is skipped and reported to
`on_malformed`; the list or watch goes on with the others.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson

from shipper.net.backoff import ceiling
from shipper.observe.metrics import Metrics
from shipper.transforms.kubernetes.client import (
    MAX_OBJECT_BYTES,
    AnswerUnreadable,
    KubeApiError,
    KubeClient,
    capped_lines,
)
from shipper.transforms.kubernetes.metadata import MalformedObject

log = logging.getLogger(__name__)

WATCH_TIMEOUT = 300.0  # seconds asked per watch, jittered by ±10 %
FIRST_BACKOFF = 0.5
MIN_WATCH_INTERVAL = 1.0  # between two watch starts, whatever the server does
WATCH_GRACE = 60.0  # past its timeoutSeconds, a watch the server has not ended fails

ListHandler = Callable[[list[Any]], None]
EventHandler = Callable[[str, Any], None]
MalformedHandler = Callable[[MalformedObject], None]


class MalformedResponse(ValueError):
    """The API server answered with JSON of an unexpected shape."""


class ListWatch:
    """Keeps one collection's handlers up to date: `on_list` with a full list (the
    truth, replacing what came before), `on_event` with each ADDED/MODIFIED/DELETED."""

    def __init__(
        self,
        client: KubeClient,
        path: str,
        params: Mapping[str, str],
        on_list: ListHandler,
        on_event: EventHandler,
        on_malformed: MalformedHandler,
        metrics: Metrics,
        backoff_cap: float = 30.0,
    ) -> None:
        self._client = client
        self._path = path
        self._params = dict(params)
        self._on_list = on_list
        self._on_event = on_event
        self._on_malformed = on_malformed
        self._metrics = metrics
        self._backoff_cap = backoff_cap
        self._rv: str | None = None
        self._gone_streak = 0
        self._last_watch_start = float("-inf")

    async def run(self) -> None:
        """List and watch until cancelled; API errors are counted and retried, never raised."""
        failures = 0
        while True:
            try:
                if self._rv is None:
                    await self._list()
                await self._watch()
                failures = 0
            except KubeApiError as exc:
                if exc.gone:
                    await self._relist_after_gone()
                    continue
                failures += 1
                await self._back_off(exc, failures)
            except (httpx.HTTPError, ValueError) as exc:  # AnswerUnreadable among them
                failures += 1
                await self._back_off(exc, failures)

    async def _list(self) -> None:
        body = await self._client.get_json(self._path, {**self._params, "resourceVersion": "0"})
        if not isinstance(body, dict):
            raise MalformedResponse(f"{self._path}: list is not an object")
        items = body.get("items") or []
        rv = _resource_version(body)
        if not isinstance(items, list) or not rv:
            raise MalformedResponse(f"{self._path}: list without items or resourceVersion")
        self._on_list(items)
        self._rv = rv

    async def _watch(self) -> None:
        """One watch request, until the server ends it (normally after `timeoutSeconds`)."""
        loop = asyncio.get_running_loop()
        pause = self._last_watch_start + MIN_WATCH_INTERVAL - loop.time()
        if pause > 0:
            await asyncio.sleep(pause)
        self._last_watch_start = loop.time()
        seconds = round(WATCH_TIMEOUT * random.uniform(0.9, 1.1))
        params = {
            **self._params,
            "watch": "1",
            "resourceVersion": self._rv or "0",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(seconds),
        }
        timeout = httpx.Timeout(30.0, connect=10.0, read=seconds + 30.0)
        try:
            async with asyncio.timeout(seconds + WATCH_GRACE):
                response = await self._client.open(self._path, params, timeout)
                try:
                    async for line in capped_lines(response, MAX_OBJECT_BYTES):
                        if line.strip():
                            self._take_line(line)
                finally:
                    await response.aclose()
        except TimeoutError:
            message = f"the watch went on {WATCH_GRACE:.0f} s past its {seconds} s"
            raise AnswerUnreadable(message) from None

    def _take_line(self, line: bytes) -> None:
        """One watch event; a malformed one is skipped, reported, and the watch goes on."""
        try:
            self._dispatch(_parse_event(line))
        except MalformedObject as exc:
            self._on_malformed(exc)

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object")
        if kind == "ERROR":
            raise KubeApiError.from_status(obj if isinstance(obj, dict) else {})
        if kind not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
            raise MalformedObject(f"{self._path}: a watch event of unknown type {kind!r}")
        self._gone_streak = 0
        if kind != "BOOKMARK":
            self._on_event(kind, obj)
        rv = _resource_version(obj)
        if rv:
            self._rv = rv

    async def _relist_after_gone(self) -> None:
        """The history moved past our resourceVersion: list again, at once the first time.

        Another 410 before any event means the server's list is older than its history
        (it happens on clusters under churn); then wait, as for an error.
        """
        log.info("%s: resourceVersion %s expired (410 Gone), listing again", self._path, self._rv)
        self._rv = None
        self._gone_streak += 1
        if self._gone_streak > 1:
            await asyncio.sleep(self._delay(self._gone_streak - 1))

    async def _back_off(self, exc: Exception, failures: int) -> None:
        self._metrics.kubernetes_api_errors.inc()
        delay = self._delay(failures)
        log.warning(
            "Kubernetes API %s failed (%s: %s); retrying in %.1fs",
            self._path,
            type(exc).__name__,
            exc,
            delay,
        )
        await asyncio.sleep(delay)

    def _delay(self, attempt: int) -> float:
        """Exponential, capped, with jitter so restarting agents spread out."""
        return ceiling(attempt, self._backoff_cap, FIRST_BACKOFF) * random.uniform(0.5, 1.0)


def _parse_event(line: bytes) -> dict[str, Any]:
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise MalformedObject(f"a watch event is not JSON: {line[:100]!r}") from None
    if not isinstance(event, dict):
        raise MalformedObject(f"a watch event is not an object: {line[:100]!r}")
    return event


def _resource_version(obj: Any) -> str | None:
    """`metadata.resourceVersion` when the object has a readable one."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return rv if isinstance(rv, str) and rv else None
