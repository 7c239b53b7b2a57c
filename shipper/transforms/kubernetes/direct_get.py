"""Direct GETs of single pods the watch has not delivered yet: rare, rate-limited, shared.

At most `DIRECT_GET_RATE` GETs per second go out for the whole agent. A pod's GET is
shared by every lookup for it and remembered for `DELETED_POD_GRACE` seconds, so the
files of a pod that is gone do not ask for it again and again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from shipper.observe.metrics import Metrics
from shipper.transforms.kubernetes.cache import DELETED_POD_GRACE
from shipper.transforms.kubernetes.client import MAX_OBJECT_BYTES, KubeApiError, KubeClient

log = logging.getLogger(__name__)

DIRECT_GET_RATE = 5.0  # direct pod GETs per second, for the whole agent (burst as large)
DIRECT_GET_TIMEOUT = 5.0  # seconds for the whole direct GET, answer read included

_FetchKey = tuple[str, str, str | None]  # (namespace, name, uid)


class _RateLimit:
    """A token bucket: at most `rate` takes per second on average, `rate` at once."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._clock = clock
        self._tokens = rate
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._rate, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class DirectGets:
    """One direct GET per pod, handing each pod object found to `accept`."""

    def __init__(
        self,
        client: KubeClient,
        accept: Callable[[Any], bool],
        metrics: Metrics,
        clock: Callable[[], float],
    ) -> None:
        self._client = client
        self._accept = accept  # True when the object was usable
        self._metrics = metrics
        self._clock = clock
        self._fetches: OrderedDict[_FetchKey, tuple[float, asyncio.Task[bool]]] = OrderedDict()
        self._limit = _RateLimit(DIRECT_GET_RATE, clock)

    def fetch(self, namespace: str, name: str, uid: str | None) -> asyncio.Task[bool] | None:
        """The pod's one direct GET: started now if the rate allows, or the earlier one."""
        now = self._clock()
        while self._fetches:
            started, task = next(iter(self._fetches.values()))
            if now - started < DELETED_POD_GRACE or not task.done():
                break
            self._fetches.popitem(last=False)
        key = (namespace, name, uid)
        if key in self._fetches:
            return self._fetches[key][1]
        if not self._limit.take():
            return None
        task = asyncio.create_task(self._get_pod(namespace, name), name=f"kubernetes-get-{name}")
        self._fetches[key] = (now, task)
        return task

    def tasks(self) -> list[asyncio.Task[bool]]:
        """The GETs started and remembered (for the provider to end them)."""
        return [fetch for _, fetch in self._fetches.values()]

    async def _get_pod(self, namespace: str, name: str) -> bool:
        """One direct GET for a pod the watch has not delivered; True when found."""
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}"
        try:
            pod = await self._client.get_json(
                path, limit=MAX_OBJECT_BYTES, deadline=DIRECT_GET_TIMEOUT
            )
        except KubeApiError as exc:
            if exc.code != 404:
                self._count_error(path, exc)
            return False
        except (httpx.HTTPError, ValueError) as exc:  # AnswerUnreadable among them
            self._count_error(path, exc)
            return False
        return self._accept(pod)

    def _count_error(self, path: str, exc: Exception) -> None:
        self._metrics.kubernetes_api_errors.inc()
        log.warning("Kubernetes API GET %s failed (%s: %s)", path, type(exc).__name__, exc)
