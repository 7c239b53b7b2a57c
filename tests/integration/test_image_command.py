"""The image's command, run the way the DaemonSet runs it, from a wheel in a fresh virtualenv.

No container engine runs here, so this does by hand what the image and the manifest do:
build the wheel (the Dockerfile's build stage), install it into a new virtualenv (its
final stage), and start ENTRYPOINT + CMD with the DaemonSet's environment, mounts, probes
and grace period, read from deploy/daemonset.yaml and the Dockerfile themselves. Only
what a test must change is changed: the node's paths live under a temporary root,
Elasticsearch and the API server are fakes on 127.0.0.1 (the API server over http), and
the metrics port is a free one.

Run as root (as CI is), the agent also gets exactly the DaemonSet's privileges: uid 0
with every capability dropped and no privilege escalation, reading root-owned 0640 logs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from shipper.settings import Settings
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.fakes.kube_apiserver import FakeKubeApiServer, Request
from tests.integration.harness import REPO, Container, free_port, wait_for

pytestmark = pytest.mark.slow  # builds a wheel and installs it with its dependencies

NODE = "node-a"
AGENT_POD = "shipper-x7k2p"
DELIVERED = "shipper_records_delivered_total"
DOWNWARD_API = {"spec.nodeName": NODE, "metadata.name": AGENT_POD}


@dataclass
class Manifest:
    """The parts of deploy/daemonset.yaml that decide how the agent runs."""

    namespace: str
    container: dict[str, Any]
    pod_spec: dict[str, Any]
    volumes: dict[str, dict[str, Any]]
    rules: list[dict[str, Any]]

    @classmethod
    def load(cls) -> Manifest:
        docs = list(yaml.safe_load_all((REPO / "deploy/daemonset.yaml").read_text()))
        (daemonset,) = (d for d in docs if d and d["kind"] == "DaemonSet")
        (role,) = (d for d in docs if d and d["kind"] == "ClusterRole")
        pod_spec = daemonset["spec"]["template"]["spec"]
        (container,) = pod_spec["containers"]
        volumes = {v["name"]: v for v in pod_spec["volumes"]}
        return cls(daemonset["metadata"]["namespace"], container, pod_spec, volumes, role["rules"])

    def env(self) -> dict[str, str]:
        """The container's variables, downward-API fields resolved as kubelet would."""
        fields = {**DOWNWARD_API, "metadata.namespace": self.namespace}
        env = {}
        for var in self.container["env"]:
            field = var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            env[var["name"]] = fields[field] if field else var["value"]
        return env

    def command(self) -> list[str]:
        """What the container runs: the image's ENTRYPOINT and CMD unless the pod overrides
        them (`command` replaces ENTRYPOINT, `args` replaces CMD)."""
        lines = (REPO / "Dockerfile").read_text().splitlines()
        image = {
            line.split(None, 1)[0]: json.loads(line.split(None, 1)[1])
            for line in lines
            if line.startswith(("ENTRYPOINT ", "CMD "))
        }
        entrypoint = self.container.get("command", image["ENTRYPOINT"])
        return [*entrypoint, *self.container.get("args", image["CMD"])]

    def mount(self, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(volumeMount, volume) of the mount at `path`."""
        (mount,) = (m for m in self.container["volumeMounts"] if m["mountPath"] == path)
        return mount, self.volumes[mount["name"]]

    def allows(self, resource: str, verb: str) -> bool:
        return any(
            "" in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
            for rule in self.rules
        )


@pytest.fixture(scope="module")
def venv_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with shipper installed from its wheel, as the image's stages do."""
    base = tmp_path_factory.mktemp("image")
    src = base / "src"  # a copy: building writes build/ and *.egg-info next to the sources
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "shipper", src / "shipper", ignore=shutil.ignore_patterns("__pycache__"))
    pip = ["-m", "pip", "--disable-pip-version-check", "-q"]
    succeed(sys.executable, *pip, "wheel", "--no-deps", "--wheel-dir", base / "dist", src)
    (wheel,) = (base / "dist").glob("shipper-*.whl")
    succeed(sys.executable, "-m", "venv", base / "venv")
    succeed(base / "venv/bin/python", *pip, "install", wheel)
    return base / "venv/bin"


def succeed(*args: object) -> None:
    result = subprocess.run([str(a) for a in args], capture_output=True, timeout=180)
    assert result.returncode == 0, result.stderr.decode()[-3000:]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` with its size and mtime: what a read-only mount keeps."""
    return {
        str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def lock_down(tree: Path) -> None:
    """Modes as kubelet and the runtimes leave them: 0750 directories, 0640 files."""
    for path in [tree, *tree.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o750 if path.is_dir() else 0o640)


def without_capabilities() -> list[str]:
    """A prefix giving the command the DaemonSet's privileges, where this test can."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return []  # not root: no capabilities to drop; or no way to drop them
    return ["setpriv", "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", "--"]


def effective_capabilities(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    raise AssertionError("no CapEff line")


def metric(exposition: str, name: str) -> float:
    """One unlabelled sample from a Prometheus text exposition."""
    (value,) = (line.split()[1] for line in exposition.splitlines() if line.split(" ")[0] == name)
    return float(value)


def resource_and_verb(request: Request) -> tuple[str, str]:
    """The RBAC resource and verb a GET on the core API asks for."""
    assert request.path.startswith("/api/v1/"), request
    parts = request.path.removeprefix("/api/v1/").split("/")
    if parts[0] == "namespaces" and len(parts) > 2:  # namespaces/<ns>/<resource>[/<name>]
        parts = parts[2:]
    verb = "get" if len(parts) == 2 else "watch" if request.is_watch else "list"
    return parts[0], verb


def docker_lines(entries: list[tuple[str, str]]) -> bytes:
    return b"".join(
        orjson.dumps({"log": text, "stream": "stdout", "time": time}) + b"\n"
        for text, time in entries
    )


@pytest.fixture
def fakes(tmp_path: Path) -> Iterator[tuple[FakeElasticsearch, FakeKubeApiServer, Path]]:
    token = tmp_path / "node/var/run/secrets/kubernetes.io/serviceaccount/token"
    token.parent.mkdir(parents=True)
    token.write_text("the-service-account-token\n")
    with FakeElasticsearch() as es, FakeKubeApiServer(token_file=token) as api:
        yield es, api, token


def test_the_daemonset_runs_the_wheel_as_the_image_would(
    tmp_path: Path,
    venv_bin: Path,
    fakes: tuple[FakeElasticsearch, FakeKubeApiServer, Path],
) -> None:
    es, api, token = fakes
    manifest, defaults = Manifest.load(), Settings()
    root = tmp_path / "node"

    # The manifest and the agent agree on paths and ports before anything runs.
    logs_mount, logs_volume = manifest.mount("/var/log")
    assert logs_mount.get("readOnly") is True and logs_volume["hostPath"]["path"] == "/var/log"
    assert all(glob.startswith("/var/log/") for glob in defaults.tail.paths)
    _, state_volume = manifest.mount(defaults.tail.state_dir)
    assert state_volume["hostPath"] == {"path": "/var/lib/shipper", "type": "DirectoryOrCreate"}
    (port,) = manifest.container["ports"]
    assert str(port["containerPort"]) == defaults.observe.metrics_addr.rpartition(":")[2]
    env = manifest.env()
    assert {"FLUENT_ELASTICSEARCH_HOST", "FLUENT_ELASTICSEARCH_PORT"} <= env.keys()

    # The node: pods known to the API server, their logs written as root would write them.
    web = api.add_pod(
        "web-7d9c", "default", node=NODE, labels={"app": "web", "app.kubernetes.io/name": "web"}
    )
    cri = Container(root, "default", "web-7d9c", "app", uid=web["metadata"]["uid"])
    cri.write(f"request {i} served ✓" for i in range(200))
    legacy = api.add_pod("legacy-0", "default", node=NODE)
    docker = Container(
        root, "default", "legacy-0", "app", uid=legacy["metadata"]["uid"], container_id="cd" * 32
    )
    docker.path.write_bytes(
        docker_lines(
            [
                ("docker line one\n", "2024-05-01T12:00:01.000000001Z"),
                ("a line split by the runtime, ", "2024-05-01T12:00:02.000000001Z"),
                ("joined again\n", "2024-05-01T12:00:02.000000002Z"),
            ]
        )
    )
    api.add_pod(AGENT_POD, manifest.namespace, node=NODE)
    own = Container(root, manifest.namespace, AGENT_POD, "shipper", container_id="ef" * 32)
    own.write(["the agent's own log line, never shipped"])
    lock_down(root / "var/log")
    before = snapshot(root / "var/log")
    workdir = tmp_path / "workdir"
    workdir.mkdir()

    # The container: the image's command, the manifest's environment; only addresses moved.
    env.update(
        {
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(workdir),
            "FLUENT_ELASTICSEARCH_HOST": "127.0.0.1",
            "FLUENT_ELASTICSEARCH_PORT": es.url.rpartition(":")[2],
            "SHIPPER_PATHS": f"{root}{defaults.tail.paths[0]}",
            "SHIPPER_STATE_DIR": f"{root}{defaults.tail.state_dir}",
            "SHIPPER_METRICS_ADDR": f"127.0.0.1:{free_port()}",
            "SHIPPER_KUBE_URL": api.url,
            "SHIPPER_KUBE_TOKEN_FILE": str(token),
        }
    )
    command = manifest.command()
    assert command == ["shipper", "run"]
    command[0] = str(venv_bin / command[0])
    agent = subprocess.Popen(
        [*without_capabilities(), *command],
        env=env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        metrics = f"http://{env['SHIPPER_METRICS_ADDR']}"

        def answers(probe: str) -> bool:
            path = manifest.container[probe]["httpGet"]["path"]
            try:
                return httpx.get(metrics + path, timeout=2).status_code == 200
            except httpx.HTTPError:
                return agent.poll() is not None

        wait_for(lambda: answers("readinessProbe"), what="the readiness probe")
        assert agent.poll() is None, agent.communicate()[1].decode()[-3000:]
        assert answers("livenessProbe")
        if without_capabilities():
            assert effective_capabilities(agent.pid) == 0
        expected = len(cri.written) + 2
        assert es.wait_for(lambda es: es.count() >= expected, timeout=20), es.count()

        def delivered() -> float:
            return metric(httpx.get(metrics + "/metrics", timeout=2).text, DELIVERED)

        wait_for(lambda: delivered() >= expected, what="acknowledgements counted")

        # SIGTERM, as kubelet stops the pod: drain, save positions, exit 0 within the grace.
        grace = manifest.pod_spec["terminationGracePeriodSeconds"]
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=grace)
        assert agent.returncode == 0, stderr.decode()[-3000:]
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.communicate()

    # Delivered once each, into the image's default index, enriched from the API server.
    docs = list(es.documents().values())
    assert es.indices() == ["logstash-2024.05.01"]
    assert sorted(d["log"] for d in docs) == sorted(
        [w.text for w in cri.written]
        + ["docker line one", "a line split by the runtime, joined again"]
    )
    for doc in docs:
        k8s = doc["kubernetes"]
        assert k8s["host"] == NODE and k8s["namespace_name"] == "default"
    web_doc = next(d for d in docs if d["kubernetes"]["pod_name"] == "web-7d9c")
    assert web_doc["kubernetes"]["labels"] == {"app": "web", "app_kubernetes_io/name": "web"}
    assert web_doc["kubernetes"]["container_image"] == "nginx:1.27"
    assert len(docs) == expected

    # The agent asked the API server only what the ClusterRole grants, with its token.
    assert api.requests
    for request in api.requests:
        assert request.method == "GET" and manifest.allows(*resource_and_verb(request)), request
        assert request.status != 401, request
    assert any(
        r.path == "/api/v1/pods" and r.query.get("fieldSelector") == f"spec.nodeName={NODE}"
        for r in api.requests
    )

    # Read-only /var/log and root file system: the only writes are in the state directory.
    assert snapshot(root / "var/log") == before
    assert not any(workdir.iterdir())
    positions = orjson.loads((root / "var/lib/shipper/positions.json").read_bytes())
    assert str(cri.path.stat().st_size).encode() in orjson.dumps(positions)
