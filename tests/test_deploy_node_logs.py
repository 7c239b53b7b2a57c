"""The DaemonSet and the image give the node-log sources what they read."""

from __future__ import annotations

from pathlib import Path

import yaml

from shipper.settings import NodeLogSettings

REPO = Path(__file__).resolve().parents[1]


def _pod_spec() -> dict:
    docs = yaml.safe_load_all((REPO / "deploy/daemonset.yaml").read_text())
    (daemonset,) = (d for d in docs if d and d["kind"] == "DaemonSet")
    return daemonset["spec"]["template"]["spec"]


def test_the_journal_and_machine_id_are_mounted_read_only() -> None:
    spec = _pod_spec()
    (container,) = spec["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for path in (*NodeLogSettings().journal_paths, "/etc/machine-id"):
        # /var/log/journal is inside the /var/log mount
        mount = mounts.get(path) or mounts["/var/log"]
        assert mount.get("readOnly") is True, path
        host = volumes[mount["name"]]["hostPath"]["path"]
        assert path.startswith(host), (path, host)
    assert volumes[mounts["/etc/machine-id"]["name"]]["hostPath"]["type"] == "File"
    env = {e["name"] for e in container.get("env", [])}
    assert not env & {"SHIPPER_JOURNAL_UNITS", "SHIPPER_NODE_LOG_PATHS"}  # on by default


def test_the_image_carries_journalctl_and_checks_it_runs() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY --from=journal /out/ /" in dockerfile
    assert "journalctl --version" in dockerfile.split("FROM ${PYTHON_IMAGE}\n")[-1]
