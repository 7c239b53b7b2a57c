"""Pod metadata in the documents, end to end: the agent, a test API server, real files."""

from __future__ import annotations

import time
from pathlib import Path

from tests.fakes.kube_apiserver import FakeKubeApiServer, make_pod
from tests.integration.harness import (
    Agent,
    Container,
    kube_env,
    once_to_file,
    read_documents,
    wait_for,
)


def test_documents_carry_pod_metadata_and_excluded_pods_are_dropped(tmp_path: Path) -> None:
    root = tmp_path / "node"
    token = tmp_path / "token"
    token.write_text("secret")
    with FakeKubeApiServer(token_file=token) as kube:
        web = kube.add_pod(
            "web-7d9c",
            "default",
            labels={"app": "web", "app.kubernetes.io/name": "web"},
            containers=(("nginx", "nginx:1.27"),),
        )
        noisy = kube.add_pod("noisy", "default", annotations={"shipper.io/exclude": "true"})
        status = web["status"]["containerStatuses"][0]
        cid = status["containerID"].split("://")[1]
        c_web = Container(root, "default", "web-7d9c", "nginx", uid=web["metadata"]["uid"])
        c_web.container_id = cid
        c_web.link.unlink()
        c_web.__post_init__()
        c_noisy = Container(
            root, "default", "noisy", "app", uid=noisy["metadata"]["uid"], container_id="ee" * 32
        )
        c_web.write(f"GET /{i}" for i in range(50))
        c_noisy.write(f"noise {i}" for i in range(50))
        docs = once_to_file(root, tmp_path, kube_env(kube.url, token))
    assert {d["log"] for d in docs} == {f"GET /{i}" for i in range(50)}
    k = docs[0]["kubernetes"]
    assert k["labels"] == {"app": "web", "app_kubernetes_io/name": "web"}
    assert k["container_image"] == "nginx:1.27"
    assert k["container_image_id"] == status["imageID"]
    assert k["host"] == "node-a"
    assert k["pod_ip"] == "10.244.1.17"
    assert k["pod_id"] == web["metadata"]["uid"]
    assert docs[0]["docker"]["container_id"] == cid


def test_api_server_down_still_ships_with_file_name_fields_within_the_bound(
    tmp_path: Path,
) -> None:
    root = tmp_path / "node"
    token = tmp_path / "token"
    token.write_text("secret")
    with FakeKubeApiServer(token_file=token) as kube:
        kube.set_down(True)
        c = Container(root, "default", "web", "app")
        c.write(f"line {i}" for i in range(20))
        started = time.monotonic()
        docs = once_to_file(root, tmp_path, kube_env(kube.url, token))
        elapsed = time.monotonic() - started
    assert len(docs) == 20
    assert docs[0]["kubernetes"]["pod_name"] == "web"
    assert "labels" not in docs[0]["kubernetes"]
    assert elapsed < 10


def test_first_line_before_the_watch_event_is_enriched(tmp_path: Path) -> None:
    root = tmp_path / "node"
    token = tmp_path / "token"
    token.write_text("secret")
    out = tmp_path / "out.ndjson"
    with FakeKubeApiServer(token_file=token) as kube:
        args = ["--path", str(root / "var/log/containers/*.log")]
        args += ["--state-dir", str(tmp_path / "state"), "--output", f"file:{out}"]
        agent = Agent(args, kube_env(kube.url, token)).start().wait_ready()
        uid = "5e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
        c = Container(root, "default", "late", "app", uid=uid)
        c.write(["first line"])
        time.sleep(0.3)  # the line is read before the pod exists in the API
        pod = make_pod("late", "default", labels={"team": "x"})
        pod["metadata"]["uid"] = uid
        kube.put_pod(pod)
        wait_for(lambda: len(read_documents(out)) == 1, what="the first line")
        code, err = agent.terminate()
        assert code == 0, err.decode()[-2000:]
    doc = read_documents(out)[0]
    assert doc["kubernetes"].get("labels") == {"team": "x"}
