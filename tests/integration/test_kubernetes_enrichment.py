"""Pod metadata in the documents, end to end: the agent, a test API server, real files."""

from __future__ import annotations

import re
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


def api_errors(agent: Agent) -> float:
    text = agent.get("/metrics").text
    found = re.search(r"^shipper_kubernetes_api_errors_total (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_misbehaving_api_server_never_ends_metadata(tmp_path: Path) -> None:
    """Malformed pods in the LIST and the WATCH, an endless LIST, an endless watch line and
    an endless GET: every record still arrives, and metadata comes back once the server is
    sane, in bounded memory."""
    root = tmp_path / "node"
    token = tmp_path / "token"
    token.write_text("secret")
    out = tmp_path / "out.ndjson"

    def labels_of(pod: str) -> list[dict | None]:
        return [
            d["kubernetes"].get("labels")
            for d in read_documents(out)
            if d["kubernetes"]["pod_name"] == pod
        ]

    def container(pod: dict) -> Container:
        meta = pod["metadata"]
        return Container(root, meta["namespace"], meta["name"], "app", uid=meta["uid"])

    with FakeKubeApiServer(token_file=token) as kube:
        web = kube.add_pod("web", labels={"app": "web"})
        bad = make_pod("bad", labels={"app": "bad"})
        bad["metadata"]["labels"] = ["app", "bad"]
        kube.put_pod(bad)
        kube.put_raw("pods", {"kind": "Pod", "spec": {"nodeName": "node-a"}})
        kube.endless("list")
        args = ["--path", str(root / "var/log/containers/*.log")]
        args += ["--state-dir", str(tmp_path / "state"), "--output", f"file:{out}"]
        agent = Agent(args, kube_env(kube.url, token)).start().wait_ready()
        try:
            wait_for(lambda: kube.endless_served >= 1, what="an endless LIST")
            kube.endless()
            wait_for(lambda: kube.count("/api/v1/pods", watch=True) >= 1, what="a sane list")
            container(web).write(["web 1"])
            container(bad).write(["bad 1"])
            wait_for(lambda: labels_of("web") == [{"app": "web"}], what="web enriched")
            wait_for(lambda: labels_of("bad") == [None], what="bad's record, unenriched")

            kube.update_pod("default", "web", lambda p: p["metadata"].update(annotations="x"))
            kube.send_garbage("pods", b"<html>bad gateway</html>")
            api = kube.add_pod("api", labels={"app": "api"})
            container(api).write(["api 1"])
            wait_for(lambda: labels_of("api") == [{"app": "api"}], what="api enriched")

            kube.endless("watch-line", "get")
            kube.close_watches()
            wait_for(lambda: kube.endless_served >= 2, what="an endless watch line")
            during = kube.add_pod("during", labels={"app": "during"})
            c_during = container(during)
            c_during.write(["during 1"])
            wait_for(lambda: labels_of("during") == [None], what="a record while the API is bad")

            kube.endless()
            wait_for(
                lambda: (
                    agent.get("/metrics").text.count("shipper_kubernetes_api_errors_total 0") == 0
                ),
                what="errors counted",
            )
            deadline = time.monotonic() + 30
            n = 1
            while {"app": "during"} not in labels_of("during"):
                assert time.monotonic() < deadline, labels_of("during")
                n += 1
                c_during.write([f"during {n}"])
                time.sleep(0.5)
            status = Path(f"/proc/{agent.proc.pid}/status").read_text()  # type: ignore[union-attr]
            peak_kib = int(status.split("VmHWM:")[1].split()[0])
        finally:
            code, err = agent.terminate()
        assert code == 0, err.decode()[-3000:]
    log = err.decode()
    assert "labels is a list" in log and "not JSON" in log and "over the cap" in log, log[-3000:]
    assert labels_of("web") == [{"app": "web"}]
    assert peak_kib < 400 * 1024  # an endless answer took 0.9-2.2 GB before caps
