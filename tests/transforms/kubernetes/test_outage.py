"""The API server down for 10 s: errors counted, lookups bounded, metadata resumes after."""

from __future__ import annotations

import asyncio
from pathlib import Path

from shipper.observe.metrics import Metrics
from shipper.settings import Settings
from shipper.transforms.kubernetes import KubernetesMetadata
from tests.fakes.kube_apiserver import FakeKubeApiServer, eventually

OUTAGE = 10.0


def errors(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("shipper_kubernetes_api_errors_total") or 0.0


async def test_api_server_down_for_ten_seconds(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("secret\n")
    metrics = Metrics()
    with FakeKubeApiServer(token_file=token_file, bookmark_interval=0.2) as fake:
        fake.add_pod("web-1", labels={"v": "1"})
        settings = Settings(
            kube_url=fake.url,
            kube_token_file=str(token_file),
            kube_ca_file=str(tmp_path / "none"),
            node_name="node-a",
        )
        meta = KubernetesMetadata(settings, metrics, backoff_cap=1.0)
        stop = asyncio.Event()
        task = asyncio.create_task(meta.run(stop))
        try:
            await eventually(lambda: meta.synced, what="first list")
            loop = asyncio.get_running_loop()
            down_at = loop.time()
            fake.set_down(True)
            fake.update_pod("default", "web-1", labels={"v": "2"})  # happens while we are cut off
            fake.add_pod("web-2")

            started = loop.time()
            assert await meta.lookup("default", "web-9", None, timeout=0.8) is None
            assert loop.time() - started < 1.5  # records are never held long for metadata
            cached = await meta.lookup("default", "web-1", None)
            assert cached is not None and cached.labels == {"v": "1"}  # the cache still serves
            await eventually(lambda: errors(metrics) >= 4, timeout=OUTAGE, what="retries")
            await asyncio.sleep(max(0.0, down_at + OUTAGE - loop.time()))  # the outage itself
            fake.set_down(False)
            await eventually(lambda: meta.get("default", "web-2", None) is not None, what="resume")
            during = errors(metrics)
            assert during <= 2 * OUTAGE  # backed off, not a retry storm
            web = meta.get("default", "web-1", None)
            assert web is not None and web.labels == {"v": "2"}
            fake.add_pod("web-3")
            await eventually(lambda: meta.get("default", "web-3", None) is not None)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
        # the watch resumed from its resourceVersion: no relist was needed
        assert fake.count("/api/v1/pods", watch=False, status=200) == 1
        assert errors(metrics) == during
