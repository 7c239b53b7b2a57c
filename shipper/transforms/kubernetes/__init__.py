"""Pod metadata from the Kubernetes API: one watch of this node's pods, a cache, rare GETs.

Records never wait on the API server beyond a short bound (`lookup`'s timeout): when it is
slow or down, documents go out with the fields from the file name alone (SPEC).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from shipper.observe.metrics import Metrics
from shipper.settings import Settings
from shipper.transforms.kubernetes.cache import DELETED_POD_GRACE, PodCache
from shipper.transforms.kubernetes.client import MAX_OBJECT_BYTES, KubeApiError, KubeClient
from shipper.transforms.kubernetes.metadata import (
    MalformedObject,
    PodMetadata,
    namespace_annotations,
    namespace_labels,
    object_uid,
    pod_metadata,
)
from shipper.transforms.kubernetes.watch import ListWatch

__all__ = ["KubernetesMetadata", "PodMetadata"]

log = logging.getLogger(__name__)

DIRECT_GET_RATE = 5.0  # direct pod GETs per second, for the whole agent (burst as large)
WATCH_FIRST = 0.25  # a pod missing from the cache is usually on its way in the watch
DIRECT_GET_TIMEOUT = 5.0  # seconds for the whole direct GET, answer read included
MALFORMED_REMEMBERED = 1000  # distinct malformed-object messages logged once each

_PodKey = tuple[str, str]  # (namespace, name)
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


class KubernetesMetadata:
    """Keeps this node's pods' metadata current and answers lookups from memory."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        *,
        backoff_cap: float = 30.0,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._backoff_cap = backoff_cap
        self._cache = PodCache(clock)
        self._client = KubeClient(settings, clock) if settings.kube_url else None
        self._namespace_labels: dict[str, dict[str, str]] = {}
        self._namespace_annotations: dict[str, dict[str, str]] = {}  # shipper.io/* ones
        self._watch_namespaces = settings.kube_namespace_labels or settings.namespace_rate_limits
        self._subscribers: list[Callable[[PodMetadata], None]] = []
        self._waiters: dict[_PodKey, list[asyncio.Future[None]]] = {}
        self._fetches: OrderedDict[_FetchKey, tuple[float, asyncio.Task[bool]]] = OrderedDict()
        self._get_limit = _RateLimit(DIRECT_GET_RATE, clock)
        self._pods_synced = False
        self._namespaces_synced = not self._watch_namespaces
        self._closed = False
        self._malformed_said: set[str] = set()

    @property
    def synced(self) -> bool:
        """The first list is done (pods, and namespaces when their labels are wanted)."""
        return self._pods_synced and self._namespaces_synced

    def subscribe(self, callback: Callable[[PodMetadata], None]) -> None:
        """Call `callback` whenever a pod is added or its metadata changes."""
        self._subscribers.append(callback)

    def get(self, namespace: str, pod_name: str, uid: str | None) -> PodMetadata | None:
        """The pod's metadata if the cache has it (deleted pods for 5 minutes); O(1)."""
        return self._cache.get(namespace, pod_name, uid)

    async def lookup(
        self, namespace: str, pod_name: str, uid: str | None, timeout: float = 2.0
    ) -> PodMetadata | None:
        """The pod's metadata, waiting up to `timeout` for the watch (or one direct GET).

        None when it does not come in time, or the API server cannot be reached.
        """
        if self._client is None:
            return self._cache.get(namespace, pod_name, uid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        fetch_after = loop.time() + WATCH_FIRST
        key = (namespace, pod_name)
        fetched = False
        while True:
            meta = self._cache.get(namespace, pod_name, uid)
            now = loop.time()
            if meta is not None or now >= deadline or self._closed:
                return meta
            waits: list[asyncio.Future[Any]] = [self._waiter(key)]
            wake_at = deadline
            if not fetched and self._pods_synced:
                if now < fetch_after:
                    wake_at = min(deadline, fetch_after)
                else:
                    fetch = self._fetch(namespace, pod_name, uid)
                    if fetch is not None and fetch.done():
                        fetched = True
                        if not fetch.result():
                            return None  # not found, or the API server is down
                    elif fetch is not None:
                        waits.append(fetch)
            try:
                await asyncio.wait(
                    waits, timeout=wake_at - now, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                self._forget_waiter(key, waits[0])

    async def run(self, stop: asyncio.Event) -> None:
        """List and watch until `stop` is set. API errors are counted and retried, never raised."""
        if self._client is None:
            log.info("Kubernetes metadata is off: no API server URL")
            return
        node = self._settings.node_name
        if node:
            pod_params = {"fieldSelector": f"spec.nodeName={node}"}
        else:
            pod_params = {}
            log.warning(
                "NODE_NAME is not set: watching the pods of the whole cluster, which loads "
                "the API server; set it from the downward API (fieldRef spec.nodeName)"
            )
        watches = [
            ListWatch(
                self._client,
                "/api/v1/pods",
                pod_params,
                self._replace_pods,
                self._apply_pod_event,
                self._skip,
                self._metrics,
                self._backoff_cap,
            )
        ]
        if self._watch_namespaces:
            watches.append(
                ListWatch(
                    self._client,
                    "/api/v1/namespaces",
                    {},
                    self._replace_namespaces,
                    self._apply_namespace_event,
                    self._skip,
                    self._metrics,
                    self._backoff_cap,
                )
            )
        tasks = [
            asyncio.create_task(w.run(), name=f"kubernetes-watch-{i}")
            for i, w in enumerate(watches)
        ]
        stopper = asyncio.create_task(stop.wait(), name="kubernetes-stop")
        failed = False
        try:
            done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                finished.result()  # a watch loop ends only on a bug: let it surface
        except Exception:
            failed = True  # the agent's supervisor runs this again: keep the client open
            raise
        finally:
            owned: list[asyncio.Task[Any]] = [stopper, *tasks]
            if not failed:  # direct GETs under way are awaited by lookups: let them finish
                owned += [fetch for _, fetch in self._fetches.values()]
            for task in owned:
                task.cancel()
            await asyncio.gather(*owned, return_exceptions=True)
            if not failed:
                self._closed = True
                self._wake(list(self._waiters))
                await self._client.aclose()

    # --- pods

    def _build(self, pod: Any) -> PodMetadata:
        """The pod's metadata; `MalformedObject` if a field it reads has the wrong shape."""
        meta = pod_metadata(pod, self._settings, None)
        labels = self._namespace_labels.get(meta.namespace)
        if labels is not None and self._settings.kube_namespace_labels:
            meta = dataclasses.replace(meta, namespace_labels=labels)
        annotations = self._namespace_annotations.get(meta.namespace)
        if annotations:
            meta = dataclasses.replace(meta, namespace_annotations=annotations)
        return meta

    def _replace_pods(self, pods: list[Any]) -> None:
        built = []
        for pod in pods:
            try:
                built.append(self._build(pod))
            except MalformedObject as exc:
                self._skip(exc)
        changed = self._cache.replace(built)
        self._pods_synced = True
        self._wake(list(self._waiters))  # lookups waiting for the first list decide now
        self._notify(changed)

    def _apply_pod_event(self, kind: str, pod: Any) -> None:
        if kind == "DELETED":
            uid = object_uid(pod)  # a deleted pod is forgotten even if the rest is malformed
            if uid is not None:
                self._cache.delete(uid)
                return
        try:
            meta = self._build(pod)
        except MalformedObject as exc:
            self._skip(exc)
            return
        if self._cache.put(meta):
            self._wake([(meta.namespace, meta.name)])
            self._notify([meta])

    async def _get_pod(self, namespace: str, name: str) -> bool:
        """One direct GET for a pod the watch has not delivered; True when found."""
        assert self._client is not None
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
        try:
            meta = self._build(pod)
        except MalformedObject as exc:
            self._skip(exc)
            return False
        if self._cache.put_if_absent(meta):
            self._wake([(meta.namespace, meta.name)])
            self._notify([meta])
        return True

    def _fetch(self, namespace: str, name: str, uid: str | None) -> asyncio.Task[bool] | None:
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
        if not self._get_limit.take():
            return None
        task = asyncio.create_task(self._get_pod(namespace, name), name=f"kubernetes-get-{name}")
        self._fetches[key] = (now, task)
        return task

    # --- namespaces

    def _replace_namespaces(self, namespaces: list[Any]) -> None:
        fresh = {}
        fresh_annotations = {}
        for namespace in namespaces:
            try:
                name, labels = namespace_labels(namespace, self._settings)
                fresh_annotations[name] = namespace_annotations(namespace)
            except MalformedObject as exc:
                self._skip(exc)
                continue
            fresh[name] = labels
        changed = [
            name
            for name, labels in fresh.items()
            if self._namespace_labels.get(name) != labels
            or self._namespace_annotations.get(name) != fresh_annotations[name]
        ]
        self._namespace_labels = fresh
        self._namespace_annotations = fresh_annotations
        self._namespaces_synced = True
        for name in changed:
            self._relabel(name)

    def _apply_namespace_event(self, kind: str, namespace: Any) -> None:
        try:
            name, labels = namespace_labels(namespace, self._settings)
            annotations = namespace_annotations(namespace)
        except MalformedObject as exc:
            self._skip(exc)
            return
        if kind == "DELETED":
            self._namespace_labels.pop(name, None)  # its pods keep the labels they had
            self._namespace_annotations.pop(name, None)
            return
        if (
            self._namespace_labels.get(name) != labels
            or self._namespace_annotations.get(name) != annotations
        ):
            self._namespace_labels[name] = labels
            self._namespace_annotations[name] = annotations
            self._relabel(name)

    def _relabel(self, namespace: str) -> None:
        labels = self._namespace_labels.get(namespace)
        if not self._settings.kube_namespace_labels:
            labels = None
        annotations = self._namespace_annotations.get(namespace) or {}
        changed = []
        for meta in self._cache.in_namespace(namespace):
            updated = dataclasses.replace(
                meta, namespace_labels=labels, namespace_annotations=annotations
            )
            if self._cache.put(updated):
                changed.append(updated)
        self._notify(changed)

    # --- plumbing

    def _notify(self, changed: list[PodMetadata]) -> None:
        for meta in changed:
            for callback in self._subscribers:
                try:
                    callback(meta)
                except Exception:
                    log.exception("Kubernetes metadata subscriber failed for %s", meta.name)

    def _waiter(self, key: _PodKey) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(future)
        return future

    def _forget_waiter(self, key: _PodKey, future: asyncio.Future[Any]) -> None:
        waiters = self._waiters.get(key)
        if waiters and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._waiters[key]

    def _wake(self, keys: list[_PodKey]) -> None:
        for key in keys:
            for future in self._waiters.pop(key, ()):
                if not future.done():
                    future.set_result(None)

    def _skip(self, exc: MalformedObject) -> None:
        """Count a malformed object; say so once per distinct problem (they repeat each list)."""
        self._metrics.kubernetes_api_errors.inc()
        message = str(exc)
        if message in self._malformed_said:
            return
        if len(self._malformed_said) >= MALFORMED_REMEMBERED:
            self._malformed_said.clear()
        self._malformed_said.add(message)
        log.warning("Kubernetes API sent a malformed object, skipped: %s", message)

    def _count_error(self, path: str, exc: Exception) -> None:
        self._metrics.kubernetes_api_errors.inc()
        log.warning("Kubernetes API GET %s failed (%s: %s)", path, type(exc).__name__, exc)
