"""Pod metadata from the Kubernetes API: one watch of this node's pods, a cache, rare GETs.

Records never wait on the API server beyond a short bound (`lookup`'s timeout): when it is
slow or down, documents go out with the fields from the file name alone (README
"Kubernetes metadata"; the API calls relied on: docs/RELIED-ON.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from shipper.observe.metrics import Metrics
from shipper.settings import KubernetesSettings
from shipper.tasks import OwnedTasks
from shipper.transforms.kubernetes.cache import PodCache
from shipper.transforms.kubernetes.client import KubeClient
from shipper.transforms.kubernetes.direct_get import DirectGets
from shipper.transforms.kubernetes.metadata import (
    MalformedObject,
    PodMetadata,
    object_uid,
    pod_metadata,
)
from shipper.transforms.kubernetes.namespaces import Namespaces
from shipper.transforms.kubernetes.pod_watch import ListWatch
from shipper.transforms.kubernetes.waiters import Waiters
from shipper.transforms.multiline.custom import CustomRule

log = logging.getLogger(__name__)

WATCH_FIRST = 0.25  # a pod missing from the cache is usually on its way in the watch
MALFORMED_REMEMBERED = 1000  # distinct malformed-object messages logged once each


class KubernetesMetadata:
    """Keeps this node's pods' metadata current and answers lookups from memory."""

    def __init__(
        self,
        settings: KubernetesSettings,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        *,
        request_timeout: float,
        multiline_rules: tuple[CustomRule, ...] = (),
        namespace_rate_limits: bool = False,
        backoff_cap: float = 30.0,
    ) -> None:
        """`multiline_rules` (the records' part) name the rules a pod's annotation may
        choose; `namespace_rate_limits` (the filters' part) watches namespaces too."""
        self._settings = settings
        self._metrics = metrics
        self._backoff_cap = backoff_cap
        self._cache = PodCache(clock)
        self._multiline_rules = multiline_rules
        self._client = (
            KubeClient(settings, clock, request_timeout=request_timeout)
            if settings.kube_url
            else None
        )
        self._namespaces = Namespaces(settings, self._skip)
        self._watch_namespaces = settings.kube_namespace_labels or namespace_rate_limits
        self._subscribers: list[Callable[[PodMetadata], None]] = []
        self._waiters = Waiters()
        self._gets = (
            DirectGets(self._client, self._accept, metrics, clock) if self._client else None
        )
        self._pods_synced = False
        self._namespaces_synced = not self._watch_namespaces
        self._closed = False
        self._malformed_said: set[str] = set()

    @property
    def synced(self) -> bool:
        """The first list is done (pods, and namespaces when their labels or rate limits
        are wanted)."""
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
        if self._gets is None:
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
            waits: list[asyncio.Future[Any]] = [self._waiters.add(key)]
            wake_at = deadline
            if not fetched and self._pods_synced:
                if now < fetch_after:
                    wake_at = min(deadline, fetch_after)
                else:
                    fetch = self._gets.fetch(namespace, pod_name, uid)
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
                self._waiters.forget(key, waits[0])

    def _watches(self, client: KubeClient) -> list[ListWatch]:
        """The pods' list and watch (this node's pods only, when NODE_NAME is set), and the
        namespaces' when their labels or rate limits are wanted."""
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
                client,
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
                    client,
                    "/api/v1/namespaces",
                    {},
                    self._replace_namespaces,
                    self._apply_namespace_event,
                    self._skip,
                    self._metrics,
                    self._backoff_cap,
                )
            )
        return watches

    async def run(self, stop: asyncio.Event) -> None:
        """List and watch until `stop` is set. API errors are counted and retried, never raised."""
        if self._client is None:
            log.info("Kubernetes metadata is off: no API server URL")
            return
        watches = self._watches(self._client)
        failed = False
        try:  # a watch loop ends only on a bug: it surfaces here
            runs = {f"kubernetes-watch-{i}": w.run for i, w in enumerate(watches)}
            await OwnedTasks("kubernetes").run(runs, stop)
        except Exception:
            failed = True  # the agent's supervisor runs this again: keep the client open
            raise
        finally:
            if not failed:  # direct GETs under way are awaited by lookups: let them finish
                gets = self._gets.tasks() if self._gets is not None else []
                for task in gets:
                    task.cancel()
                await asyncio.gather(*gets, return_exceptions=True)
                self._closed = True
                self._waiters.wake_all()
                await self._client.aclose()

    # --- pods

    def _build(self, pod: Any) -> PodMetadata:
        """The pod's metadata; `MalformedObject` if a field it reads has the wrong shape."""
        return self._namespaces.onto(pod_metadata(pod, self._settings, None, self._multiline_rules))

    def _replace_pods(self, pods: list[Any]) -> None:
        built = []
        for pod in pods:
            try:
                built.append(self._build(pod))
            except MalformedObject as exc:
                self._skip(exc)
        changed = self._cache.replace(built)
        self._pods_synced = True
        self._waiters.wake_all()  # lookups waiting for the first list decide now
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
            self._waiters.wake([(meta.namespace, meta.name)])
            self._notify([meta])

    def _accept(self, pod: Any) -> bool:
        """A pod a direct GET found: into the cache unless the watch brought it first."""
        try:
            meta = self._build(pod)
        except MalformedObject as exc:
            self._skip(exc)
            return False
        if self._cache.put_if_absent(meta):
            self._waiters.wake([(meta.namespace, meta.name)])
            self._notify([meta])
        return True

    # --- namespaces

    def _replace_namespaces(self, namespaces: list[Any]) -> None:
        changed = self._namespaces.replace(namespaces)
        self._namespaces_synced = True
        for name in changed:
            self._relabel(name)

    def _apply_namespace_event(self, kind: str, namespace: Any) -> None:
        name = self._namespaces.apply(kind, namespace)
        if name is not None:
            self._relabel(name)

    def _relabel(self, namespace: str) -> None:
        changed = []
        for meta in self._cache.in_namespace(namespace):
            updated = self._namespaces.relabelled(meta)
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
