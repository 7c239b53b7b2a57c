"""The node's own files (SHIPPER_NODE_LOG_PATHS) end to end: klog lines, a logrotate-style
rotation while the agent runs, a SIGKILL mid-way; every record arrives once."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.elasticsearch import FakeElasticsearch
from tests.integration.harness import Agent, wait_for


@pytest.fixture
def es() -> Iterator[FakeElasticsearch]:
    with FakeElasticsearch() as server:
        yield server


class NodeFile:
    """A component's log file, written as klog writes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def write(self, start: int, n: int) -> None:
        lines = []
        for i in range(start, start + n):
            message = f"{self.path.stem} record {i}"
            severity = "IWE"[i % 3]
            lines.append(f"{severity}0102 15:04:{i % 60:02d}.{i:06d}    4321 proxier.go:{i}] ")
            lines.append(message + "\n")
            if i % 100 == 7:  # a record with continuation lines
                message += "\n\tat frame one\n\tat frame two"
                lines.append("\tat frame one\n\tat frame two\n")
            self.messages.append(message)
        with open(self.path, "a") as fh:
            fh.write("".join(lines))

    def rotate(self) -> None:
        """logrotate's create mode: rename to .1, start a new file."""
        os.rename(self.path, f"{self.path}.1")
        self.path.touch()


def node_agent(tmp_path: Path, es: FakeElasticsearch, paths: list[Path]) -> Agent:
    args = ["--path", str(tmp_path / "no-containers/*.log"), "--state-dir", str(tmp_path / "st")]
    env = {
        "SHIPPER_ES_HOSTS": es.url,
        "SHIPPER_NODE_LOG_PATHS": ",".join(map(str, paths)),
        "SHIPPER_FLUSH_INTERVAL": "100ms",
        "SHIPPER_RETRY_MAX_BACKOFF": "500ms",
        "SHIPPER_BATCH_MAX_RECORDS": "250",
        "SHIPPER_ROTATE_WAIT": "1s",
        "NODE_NAME": "node-a",
    }
    return Agent(args, env)


def test_klog_files_rotated_and_killed_arrive_exactly_once(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    proxy = NodeFile(tmp_path / "var/log/kube-proxy.log")
    etcd = tmp_path / "var/log/etcd.log"
    etcd.write_text("plain etcd line one\nplain etcd line two\n")
    proxy.write(0, 3000)
    es.set_delay(0.1)
    running = node_agent(tmp_path, es, [proxy.path, etcd]).start().wait_ready()
    wait_for(lambda: es.count() >= 500, what="some records delivered")
    running.kill()
    assert es.count() < 3002, "the agent was killed before it delivered everything"
    es.set_delay(0.0)

    proxy.write(3000, 500)
    # A file's last record goes out once no continuation line came for 5 s (the image's
    # multiline flush): the waits below include that.
    running = node_agent(tmp_path, es, [proxy.path, etcd]).start().wait_ready()
    wait_for(lambda: es.count() == 3502, what="everything before the rotation")
    proxy.rotate()
    proxy.write(3500, 1000)
    wait_for(lambda: es.count() == 4502, what="the new file after the rotation")
    code, err = running.terminate()
    assert code == 0, err.decode()[-2000:]

    stored = Counter(doc["message"] for doc in es.documents().values())
    expected = [*proxy.messages, "plain etcd line one", "plain etcd line two"]
    assert [m for m in expected if stored[m] != 1] == []
    assert es.count() == len(expected)
    docs = {doc["message"]: doc for doc in es.documents().values()}
    first = docs["kube-proxy record 0"]
    assert first["severity"] == "I" and first["pid"] == "4321"
    assert first["source"] == "proxier.go:0" and first["tag"] == "kube-proxy"
    assert first["kubernetes"] == {"host": "node-a"}
    assert first["@timestamp"].endswith("-01-02T15:04:00.000000Z")
    assert "kube-proxy record 7\n\tat frame one\n\tat frame two" in docs
    plain = docs["plain etcd line one"]
    assert plain["tag"] == "etcd" and "severity" not in plain
