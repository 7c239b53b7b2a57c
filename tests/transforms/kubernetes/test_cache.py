"""PodCache: lookups by uid and name, deleted pods kept for their grace period."""

from __future__ import annotations

from shipper.settings import Settings
from shipper.transforms.kubernetes.cache import DELETED_POD_GRACE, PodCache
from shipper.transforms.kubernetes.metadata import PodMetadata, pod_metadata
from tests.fakes.kube_apiserver import make_pod


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def meta(name: str, namespace: str = "default") -> PodMetadata:
    return pod_metadata(make_pod(name, namespace), Settings(), None)


def test_deleted_pod_kept_for_grace_then_dropped() -> None:
    clock = FakeClock()
    cache = PodCache(clock)
    pod = meta("web-1")
    cache.put(pod)
    cache.delete(pod.uid)
    clock.now += DELETED_POD_GRACE - 1
    assert cache.get("default", "web-1", None) == pod
    assert cache.get("default", "web-1", pod.uid) == pod
    clock.now += 2
    assert cache.get("default", "web-1", None) is None
    assert cache.get("default", "web-1", pod.uid) is None
    assert len(cache) == 0


def test_same_name_new_uid_replaces_name_lookup_but_old_uid_still_found() -> None:
    clock = FakeClock()
    cache = PodCache(clock)
    old, new = meta("db-0"), meta("db-0")
    cache.put(old)
    cache.delete(old.uid)
    cache.put(new)
    assert cache.get("default", "db-0", None) == new
    assert cache.get("default", "db-0", old.uid) == old
    clock.now += DELETED_POD_GRACE + 1
    assert cache.get("default", "db-0", old.uid) is None
    assert cache.get("default", "db-0", None) == new  # expiry of the old one left the new


def test_put_reports_changes_only() -> None:
    cache = PodCache(FakeClock())
    pod = meta("web-1")
    assert cache.put(pod) is True
    assert cache.put(pod) is False
    assert cache.put_if_absent(meta("web-1")) is True  # another uid
    assert cache.put_if_absent(pod) is False


def test_replace_marks_missing_pods_deleted_and_seen_again_live() -> None:
    clock = FakeClock()
    cache = PodCache(clock)
    a, b = meta("a"), meta("b")
    cache.replace([a, b])
    assert cache.replace([a]) == []
    clock.now += DELETED_POD_GRACE / 2
    cache.replace([a, b])  # b back before its grace ended: live again
    clock.now += DELETED_POD_GRACE
    assert cache.get("default", "b", None) == b
    cache.replace([b])
    clock.now += DELETED_POD_GRACE + 1
    assert cache.get("default", "a", None) is None
    assert cache.get("default", "b", None) == b


def test_uid_in_other_namespace_not_returned() -> None:
    cache = PodCache(FakeClock())
    pod = meta("web-1", namespace="shop")
    cache.put(pod)
    assert cache.get("default", "web-1", pod.uid) is None
    assert cache.in_namespace("shop") == [pod]
