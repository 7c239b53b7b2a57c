"""KubernetesMetadata against a fake API server over real HTTP: watch, 410, tokens, lookups."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from shipper.observe.metrics import Metrics
from shipper.settings import KubernetesSettings
from shipper.transforms.kubernetes import KubernetesMetadata, PodMetadata
from shipper.transforms.kubernetes.cache import DELETED_POD_GRACE
from tests.fakes.kube_apiserver import FakeKubeApiServer, eventually


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def settings_for(fake: FakeKubeApiServer, token_file: Path, **overrides: Any) -> KubernetesSettings:
    values: dict[str, Any] = {
        "kube_url": fake.url,
        "kube_token_file": str(token_file),
        "kube_ca_file": str(token_file.parent / "no-ca.crt"),
        "node_name": "node-a",
        **overrides,
    }
    return KubernetesSettings(**values)


@asynccontextmanager
async def running(meta: KubernetesMetadata) -> AsyncIterator[KubernetesMetadata]:
    stop = asyncio.Event()
    task = asyncio.create_task(meta.run(stop))
    try:
        await eventually(lambda: meta.synced or task.done(), what="first list")
        assert meta.synced
        yield meta
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def errors(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("shipper_kubernetes_api_errors_total") or 0.0


def has(meta: KubernetesMetadata, name: str, namespace: str = "default", **fields: Any) -> bool:
    """The cache holds this pod, with these field values."""
    found = meta.get(namespace, name, None)
    return found is not None and all(getattr(found, k) == v for k, v in fields.items())


def pod_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{name}"


async def test_lists_then_watches_this_nodes_pods(
    fake: FakeKubeApiServer, token_file: Path
) -> None:
    fake.add_pod("web-1", labels={"app.kubernetes.io/name": "web"})
    fake.add_pod("elsewhere", node="node-b")
    seen: list[PodMetadata] = []
    meta = KubernetesMetadata(settings_for(fake, token_file), Metrics(), request_timeout=30.0)
    meta.subscribe(seen.append)
    async with running(meta):
        web = meta.get("default", "web-1", None)
        assert web is not None and web.labels == {"app_kubernetes_io/name": "web"}
        assert meta.get("default", "elsewhere", None) is None

        fake.add_pod("job-1", annotations={"shipper.io/parser": "json"})
        await eventually(lambda: meta.get("default", "job-1", None) is not None, what="ADDED")
        fake.update_pod("default", "job-1", annotations={"shipper.io/exclude": "true"})
        await eventually(lambda: has(meta, "job-1", excluded=True), what="MODIFIED")
        job = meta.get("default", "job-1", None)
        assert job is not None and job.parser is None
        assert [m.name for m in seen] == ["web-1", "job-1", "job-1"]

    lists = [r for r in fake.requests if r.path == "/api/v1/pods" and not r.is_watch]
    watches = [r for r in fake.requests if r.path == "/api/v1/pods" and r.is_watch]
    assert lists[0].query == {"fieldSelector": "spec.nodeName=node-a", "resourceVersion": "0"}
    assert watches[0].query["fieldSelector"] == "spec.nodeName=node-a"
    assert watches[0].query["allowWatchBookmarks"] == "true"
    assert watches[0].query["resourceVersion"] == "1004"  # the list's: 2 namespaces, 2 pods
    assert 270 <= int(watches[0].query["timeoutSeconds"]) <= 330


async def test_status_change_does_not_notify(fake: FakeKubeApiServer, token_file: Path) -> None:
    fake.add_pod("web-1")
    seen: list[PodMetadata] = []
    meta = KubernetesMetadata(settings_for(fake, token_file), Metrics(), request_timeout=30.0)
    meta.subscribe(seen.append)
    async with running(meta):
        fake.update_pod("default", "web-1", lambda pod: pod["status"].update(phase="Succeeded"))
        fake.update_pod("default", "web-1", labels={"v": "2"})
        await eventually(lambda: has(meta, "web-1", labels={"v": "2"}))
    assert len(seen) == 2  # added, relabelled; the phase change is not a metadata change


async def test_watch_end_resumes_from_bookmark_without_relist(
    fake: FakeKubeApiServer, token_file: Path
) -> None:
    meta = KubernetesMetadata(settings_for(fake, token_file), Metrics(), request_timeout=30.0)
    async with running(meta):
        fake.add_namespace("other")  # moves the resourceVersion without any pod event
        target = fake.resource_version
        sent = fake.bookmarks_sent
        await eventually(lambda: fake.bookmarks_sent > sent, what="a bookmark")
        fake.close_watches()
        await eventually(
            lambda: fake.count("/api/v1/pods", watch=True, status=200) == 2, what="re-watch"
        )
        fake.add_pod("web-1")
        await eventually(lambda: meta.get("default", "web-1", None) is not None)
    watches = [r for r in fake.requests if r.path == "/api/v1/pods" and r.is_watch]
    assert int(watches[1].query["resourceVersion"]) >= target
    assert fake.count("/api/v1/pods", watch=False, status=200) == 1


async def test_410_on_rewatch_relists_and_sees_missed_update(
    fake: FakeKubeApiServer, token_file: Path
) -> None:
    fake.add_pod("web-1", labels={"v": "1"})
    fake.add_pod("gone-1")
    metrics = Metrics()
    meta = KubernetesMetadata(settings_for(fake, token_file), metrics, request_timeout=30.0)
    async with running(meta):
        fake.hold_watches(True)
        fake.update_pod("default", "web-1", labels={"v": "2"})
        fake.delete_pod("default", "gone-1")
        fake.compact()
        fake.close_watches()
        await eventually(lambda: has(meta, "web-1", labels={"v": "2"}))
        fake.hold_watches(False)
    assert any(r.status == 410 for r in fake.requests)
    assert fake.count("/api/v1/pods", watch=False, status=200) == 2
    assert errors(metrics) == 0  # a 410 is the API's normal way to say "relist"


async def test_error_410_mid_watch_relists_and_loses_no_update(
    fake: FakeKubeApiServer, token_file: Path
) -> None:
    fake.add_pod("web-1", labels={"v": "1"})
    meta = KubernetesMetadata(settings_for(fake, token_file), Metrics(), request_timeout=30.0)
    async with running(meta):
        fake.hold_watches(True)  # these events never reach the agent's watch
        fake.update_pod("default", "web-1", labels={"v": "2"})
        fake.add_pod("web-2")
        fake.inject_gone()
        fake.hold_watches(False)
        await eventually(lambda: meta.get("default", "web-2", None) is not None, what="relist")
        web = meta.get("default", "web-1", None)
        assert web is not None and web.labels == {"v": "2"}
        fake.add_pod("web-3")  # and the new watch goes on from the relist
        await eventually(lambda: meta.get("default", "web-3", None) is not None)
    assert fake.count("/api/v1/pods", watch=False, status=200) == 2


async def test_rotated_token_picked_up_after_401_and_after_a_minute(
    fake: FakeKubeApiServer, token_file: Path
) -> None:
    clock = FakeClock()
    meta = KubernetesMetadata(
        settings_for(fake, token_file), Metrics(), clock, request_timeout=30.0
    )
    async with running(meta):
        token_file.write_text("token-2\n")  # the server accepts only the new one from now on
        fake.close_watches()
        await eventually(
            lambda: fake.count("/api/v1/pods", watch=True, status=200) == 2, what="re-watch"
        )
        fake.add_pod("web-1")
        await eventually(lambda: meta.get("default", "web-1", None) is not None)
        assert [r.status for r in fake.requests if r.is_watch or r.status == 401][-2:] == [401, 200]

        unauthorized = sum(r.status == 401 for r in fake.requests)
        token_file.write_text("token-3\n")
        clock.now += 61  # re-read on schedule: no 401 this time
        fake.close_watches()
        await eventually(
            lambda: fake.count("/api/v1/pods", watch=True, status=200) == 3, what="re-watch"
        )
        assert sum(r.status == 401 for r in fake.requests) == unauthorized
    assert fake.count("/api/v1/pods", watch=False, status=200) == 1


async def test_lookup_waits_for_the_watch(fake: FakeKubeApiServer, token_file: Path) -> None:
    meta = KubernetesMetadata(settings_for(fake, token_file), Metrics(), request_timeout=30.0)
    async with running(meta):
        assert meta.get("default", "late", None) is None
        pending = asyncio.create_task(meta.lookup("default", "late", None, timeout=3.0))
        await asyncio.sleep(0)
        fake.add_pod("late")
        found = await pending
        assert found is not None and found.name == "late"
    assert fake.count(pod_path("default", "late")) == 0


async def test_lookup_gets_a_missed_pod_once(fake: FakeKubeApiServer, token_file: Path) -> None:
    meta = KubernetesMetadata(settings_for(fake, token_file), Metrics(), request_timeout=30.0)
    async with running(meta):
        fake.hold_watches(True)
        pod = fake.add_pod("hidden")
        uid = pod["metadata"]["uid"]
        found = await asyncio.gather(*(meta.lookup("default", "hidden", uid) for _ in range(3)))
        assert [m.uid if m else None for m in found] == [uid] * 3
        assert await meta.lookup("default", "hidden", uid) is not None

        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await meta.lookup("default", "never", None, timeout=3.0) is None
        assert await meta.lookup("default", "never", None, timeout=3.0) is None
        assert loop.time() - started < 2.0  # a 404 answers at once, no need to wait
        fake.hold_watches(False)
    assert fake.count(pod_path("default", "hidden")) == 1
    assert fake.count(pod_path("default", "never")) == 1


async def test_direct_gets_are_rate_limited(fake: FakeKubeApiServer, token_file: Path) -> None:
    meta = KubernetesMetadata(settings_for(fake, token_file), Metrics(), request_timeout=30.0)
    async with running(meta):
        names = [f"ghost-{i}" for i in range(20)]
        found = await asyncio.gather(*(meta.lookup("default", n, None, 0.6) for n in names))
        assert found == [None] * 20
    gets = sum(r.path.startswith("/api/v1/namespaces/default/pods/") for r in fake.requests)
    assert 5 <= gets <= 9


async def test_deleted_pod_kept_for_grace_period(fake: FakeKubeApiServer, token_file: Path) -> None:
    clock = FakeClock()
    fake.add_pod("done-1")
    meta = KubernetesMetadata(
        settings_for(fake, token_file), Metrics(), clock, request_timeout=30.0
    )
    async with running(meta):
        fake.delete_pod("default", "done-1")
        fake.add_pod("sentinel")  # events arrive in order: the delete was applied before it
        await eventually(lambda: meta.get("default", "sentinel", None) is not None)
        clock.now += DELETED_POD_GRACE - 1
        assert meta.get("default", "done-1", None) is not None
        clock.now += 2
        assert meta.get("default", "done-1", None) is None
        assert meta.get("default", "sentinel", None) is not None


async def test_namespace_labels_follow_the_namespace(
    fake: FakeKubeApiServer, token_file: Path
) -> None:
    fake.add_namespace("shop", {"team.io/name": "checkout"})
    fake.add_pod("cart-1", "shop")
    seen: list[PodMetadata] = []
    meta = KubernetesMetadata(
        settings_for(fake, token_file, kube_namespace_labels=True), Metrics(), request_timeout=30.0
    )
    meta.subscribe(seen.append)
    async with running(meta):
        cart = meta.get("shop", "cart-1", None)
        assert cart is not None and cart.namespace_labels == {
            "kubernetes_io/metadata_name": "shop",
            "team_io/name": "checkout",
        }
        fake.update_namespace("shop", {"team.io/name": "payments"})
        payments = {"kubernetes_io/metadata_name": "shop", "team_io/name": "payments"}
        await eventually(lambda: bool(seen) and seen[-1].namespace_labels == payments)
        assert has(meta, "cart-1", "shop", namespace_labels=payments)
    assert fake.count("/api/v1/namespaces", watch=False) == 1


async def test_without_node_name_watches_all_pods_and_warns(
    fake: FakeKubeApiServer, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add_pod("web-1", node="node-b")
    meta = KubernetesMetadata(
        settings_for(fake, token_file, node_name=None), Metrics(), request_timeout=30.0
    )
    with caplog.at_level(logging.WARNING):
        async with running(meta):
            assert meta.get("default", "web-1", None) is not None
    assert "NODE_NAME is not set" in caplog.text
    assert "fieldSelector" not in fake.requests[0].query


async def test_fifty_pods_cost_few_requests(
    fake: FakeKubeApiServer, token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(25):
        fake.add_pod(f"before-{i}")
    meta = KubernetesMetadata(settings_for(fake, token_file), Metrics(), request_timeout=30.0)
    async with running(meta):
        for i in range(25):
            fake.add_pod(f"after-{i}", init_containers=(("init", "busybox:1.36"),))
        names = [f"before-{i}" for i in range(25)] + [f"after-{i}" for i in range(25)]
        found = await asyncio.gather(*(meta.lookup("default", n, None) for n in names))
        assert [m.name if m else None for m in found] == names
        last = fake.add_pod("last", init_containers=(("init", "busybox:1.36"),))
        got = await meta.lookup("default", "last", last["metadata"]["uid"])
        status = last["status"]["initContainerStatuses"][0]
        cid = status["containerID"].removeprefix("containerd://")
        assert got is not None and got.container("init", cid)[:2] == (
            "busybox:1.36",
            status["imageID"],
        )
    with capsys.disabled():
        print(f"\n51 pods looked up with {len(fake.requests)} API requests")
    assert len(fake.requests) < 60
