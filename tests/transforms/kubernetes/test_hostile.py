"""KubernetesMetadata against an API server that misbehaves: malformed objects, endless answers.

A malformed object is skipped and counted while the others still arrive; an endless
answer fails its attempt (counted, backoff, retried) and metadata comes back once the
server is sane again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from shipper.observe.metrics import Metrics
from shipper.transforms.kubernetes import KubernetesMetadata, client
from tests.fakes.kube_apiserver import FakeKubeApiServer, eventually, make_pod
from tests.transforms.kubernetes.test_pod_watch import errors, has, running, settings_for


@asynccontextmanager
async def started(meta: KubernetesMetadata) -> AsyncIterator[None]:
    """Run `meta` without waiting for its first list (which may not come)."""
    stop = asyncio.Event()
    task = asyncio.create_task(meta.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def malformed_pod(name: str) -> dict:
    pod = make_pod(name)
    pod["metadata"]["labels"] = ["app", "web"]
    return pod


async def test_malformed_pods_in_the_list_are_skipped_and_counted(
    fake: FakeKubeApiServer, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add_pod("good-1", labels={"app": "web"})
    fake.put_pod(malformed_pod("bad-labels"))
    fake.put_raw("pods", {"kind": "Pod", "spec": {"nodeName": "node-a"}})  # no metadata
    fake.put_raw("pods", "a string")
    metrics = Metrics()
    meta = KubernetesMetadata(settings_for(fake, token_file), metrics, request_timeout=30.0)
    with caplog.at_level(logging.WARNING):
        async with running(meta):
            assert has(meta, "good-1", labels={"app": "web"})
            assert meta.get("default", "bad-labels", None) is None
            assert errors(metrics) == 3
            fake.add_pod("good-2")  # the watch goes on
            await eventually(lambda: has(meta, "good-2"), what="a pod after the bad ones")
    said = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert any("pod default/bad-labels metadata: labels is a list" in m for m in said), said
    assert any("a pod has null as metadata" in m for m in said), said
    assert any("a pod in the answer is a string" in m for m in said), said


async def test_malformed_watch_events_are_skipped_and_counted_once_logged(
    fake: FakeKubeApiServer, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add_pod("web-1", labels={"v": "1"})
    metrics = Metrics()
    meta = KubernetesMetadata(settings_for(fake, token_file), metrics, request_timeout=30.0)
    with caplog.at_level(logging.WARNING):
        async with running(meta):
            fake.update_pod("default", "web-1", lambda p: p["metadata"].update(annotations="x"))
            fake.update_pod(
                "default",
                "web-1",
                lambda p: (
                    p["metadata"].update(annotations={}),
                    p["status"]["containerStatuses"][0].update(containerID=["c"]),
                ),
            )
            fake.send_garbage("pods", b"<html>proxy error</html>")
            fake.send_garbage("pods", b"<html>proxy error</html>")
            fake.put_raw("pods", 42)
            fake.put_pod(make_pod("web-1", labels={"v": "2"}))  # sane again
            await eventually(lambda: has(meta, "web-1", labels={"v": "2"}), what="a sane event")
            assert errors(metrics) == 5
    assert fake.count("/api/v1/pods", watch=True) == 1  # one watch: it never failed
    said = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(said) == 4, said  # the same garbage twice is said once
    assert any("annotations is a string" in m for m in said)
    assert any("containerStatuses[0]: containerID is a list" in m for m in said)
    assert any("not JSON" in m for m in said)


async def test_malformed_namespaces_are_skipped(fake: FakeKubeApiServer, token_file: Path) -> None:
    fake.add_namespace("shop", {"team": "a"})
    fake.put_raw("namespaces", {"metadata": {"name": "weird", "labels": "team=b"}})
    fake.add_pod("web-1", "shop")
    metrics = Metrics()
    settings = settings_for(fake, token_file, kube_namespace_labels=True)
    meta = KubernetesMetadata(settings, metrics, request_timeout=30.0)
    async with running(meta):
        found = meta.get("shop", "web-1", None)
        assert found is not None and found.namespace_labels is not None
        assert found.namespace_labels["team"] == "a"
        assert errors(metrics) == 1
        fake.put_raw("namespaces", {"metadata": ["weird"]})
        await eventually(lambda: errors(metrics) == 2, what="the bad event counted")
        fake.update_namespace("shop", {"team": "b"})
        await eventually(
            lambda: has(
                meta,
                "web-1",
                "shop",
                namespace_labels={"kubernetes_io/metadata_name": "shop", "team": "b"},
            ),
            what="relabel",
        )


@pytest.mark.parametrize("kind", ["list", "watch-line"])
async def test_an_endless_answer_fails_the_attempt_and_recovers(
    fake: FakeKubeApiServer,
    token_file: Path,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(client, "MAX_LIST_BYTES", 1 << 20)
    fake.add_pod("web-1")
    fake.endless(kind)
    metrics = Metrics()
    meta = KubernetesMetadata(
        settings_for(fake, token_file), metrics, backoff_cap=0.2, request_timeout=30.0
    )
    with caplog.at_level(logging.WARNING):
        async with started(meta):
            await eventually(lambda: fake.endless_served >= 2, what="two endless answers")
            await eventually(lambda: errors(metrics) >= 2, what="counted failures")
            fake.endless()
            fake.add_pod("web-2")
            await eventually(lambda: has(meta, "web-2"), timeout=10, what="metadata again")
    assert any("over the cap" in r.getMessage() for r in caplog.records)


async def test_a_list_that_trickles_fails_at_its_deadline(
    fake: FakeKubeApiServer, token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "LIST_DEADLINE", 0.5)
    fake.add_pod("web-1")
    fake.endless("trickle-list")
    metrics = Metrics()
    meta = KubernetesMetadata(
        settings_for(fake, token_file), metrics, backoff_cap=0.2, request_timeout=30.0
    )
    async with started(meta):
        await eventually(lambda: errors(metrics) >= 2, what="two lists past their deadline")
        assert not meta.synced
        fake.endless()
        await eventually(lambda: has(meta, "web-1"), what="metadata again")
