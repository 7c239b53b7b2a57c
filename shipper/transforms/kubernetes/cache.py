"""The pods known from the API server, with deleted ones kept for a grace period.

A pod's last lines are often read after kubelet reported it deleted (rotation waits,
slow outputs), so a deleted pod stays findable for `grace` seconds before it is dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from shipper.transforms.kubernetes.metadata import PodMetadata

DELETED_POD_GRACE = 300.0


class PodCache:
    """Pods by uid and by (namespace, name); every operation is O(1) amortised."""

    def __init__(self, clock: Callable[[], float], grace: float = DELETED_POD_GRACE) -> None:
        self._clock = clock
        self._grace = grace
        self._by_uid: dict[str, PodMetadata] = {}
        self._by_name: dict[tuple[str, str], str] = {}
        self._deleted: dict[str, float] = {}  # uid -> when it is dropped
        self._expiry: deque[tuple[float, str]] = deque()  # in deletion order = deadline order

    def __len__(self) -> int:
        self._expire()
        return len(self._by_uid)

    def get(self, namespace: str, name: str, uid: str | None) -> PodMetadata | None:
        """The pod with this uid, or without one the latest pod of that name."""
        self._expire()
        if uid:
            meta = self._by_uid.get(uid)
            return meta if meta is not None and meta.namespace == namespace else None
        found = self._by_name.get((namespace, name))
        return self._by_uid.get(found) if found is not None else None

    def put(self, meta: PodMetadata) -> bool:
        """Store a pod's current metadata (a deleted pod seen again is live again).

        Returns whether anything changed, so subscribers hear only of real changes.
        """
        self._expire()
        self._deleted.pop(meta.uid, None)
        old = self._by_uid.get(meta.uid)
        self._by_uid[meta.uid] = meta
        self._by_name[(meta.namespace, meta.name)] = meta.uid
        return old != meta

    def put_if_absent(self, meta: PodMetadata) -> bool:
        """Store a pod fetched directly unless the watch already knows it (the watch is newer)."""
        if meta.uid in self._by_uid:
            return False
        return self.put(meta)

    def delete(self, uid: str) -> None:
        """Start a pod's grace period; it is dropped when the period ends."""
        if uid not in self._by_uid or uid in self._deleted:
            return
        deadline = self._clock() + self._grace
        self._deleted[uid] = deadline
        self._expiry.append((deadline, uid))

    def replace(self, pods: Iterable[PodMetadata]) -> list[PodMetadata]:
        """Make a fresh list the truth: pods missing from it count as deleted.

        Returns the pods that are new or changed.
        """
        pods = list(pods)
        changed = [meta for meta in pods if self.put(meta)]
        listed = {meta.uid for meta in pods}
        for uid in [uid for uid in self._by_uid if uid not in listed]:
            self.delete(uid)
        return changed

    def in_namespace(self, namespace: str) -> list[PodMetadata]:
        """Every pod of a namespace, deleted ones in their grace period included."""
        self._expire()
        return [meta for meta in self._by_uid.values() if meta.namespace == namespace]

    def _expire(self) -> None:
        now = self._clock()
        while self._expiry and self._expiry[0][0] <= now:
            deadline, uid = self._expiry.popleft()
            if self._deleted.get(uid) != deadline:
                continue  # seen again since, or deleted again later
            del self._deleted[uid]
            meta = self._by_uid.pop(uid)
            key = (meta.namespace, meta.name)
            if self._by_name.get(key) == uid:
                del self._by_name[key]
