"""The journal source end to end: real journal files (made by systemd-journal-remote), read
by the real journalctl under the real agent, into a test Elasticsearch."""

from __future__ import annotations

import base64
import os
import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.elasticsearch import FakeElasticsearch
from tests.integration.harness import Agent, wait_for
from tests.journal_files import Journal

SETTINGS = {
    "SHIPPER_RETRY_MAX_BACKOFF": "500ms",
    "SHIPPER_FLUSH_INTERVAL": "100ms",
    "SHIPPER_BATCH_MAX_RECORDS": "250",
    "SHIPPER_JOURNAL_UNITS": "kubelet.service,containerd.service",
}


@pytest.fixture
def es() -> Iterator[FakeElasticsearch]:
    with FakeElasticsearch() as server:
        yield server


def journal_agent(tmp_path: Path, es: FakeElasticsearch, journal_dir: Path, **env: str) -> Agent:
    args = ["--path", str(tmp_path / "no-containers/*.log"), "--state-dir", str(tmp_path / "st")]
    settings = {**SETTINGS, "SHIPPER_JOURNAL_PATHS": str(journal_dir), **env}
    return Agent(args, {"SHIPPER_ES_HOSTS": es.url, **settings})


def stored_messages(es: FakeElasticsearch) -> Counter[bytes]:
    """Each stored document's MESSAGE as the bytes written (exact bytes where not UTF-8)."""
    out: Counter[bytes] = Counter()
    for doc in es.documents().values():
        exact = doc.get("MESSAGE_BASE64")
        out[base64.b64decode(exact) if exact else doc["MESSAGE"].encode()] += 1
    return out


def assert_exactly_once(es: FakeElasticsearch, journal: Journal) -> None:
    stored = stored_messages(es)
    missing = [m for m in journal.written if stored[m] == 0]
    doubled = [m for m, n in stored.items() if n > 1]
    assert missing == [] and doubled == []
    assert es.count() == len(journal.written)


def test_entries_arrive_exactly_once_across_sigkills_rotation_and_vacuum(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    journal = Journal(tmp_path / "journal")
    journal.append(f"kubelet line {i}" for i in range(3000))
    journal.append(["sshd is not followed"] * 20, unit="sshd.service")
    es.set_delay(0.1)  # slow bulk answers: the kill below lands mid-way
    running = journal_agent(tmp_path, es, journal.directory).start().wait_ready()
    wait_for(lambda: es.count() >= 500, what="some entries delivered")
    running.kill()
    assert es.count() < 3000, "the agent was killed before it delivered everything"
    es.set_delay(0.0)

    # More entries, among them a binary message, then journald's rotation.
    journal.append([b"binary \x00\xff\xfe message", "tab\tand \x1b[1mescape"])
    journal.append(f"kubelet line {i}" for i in range(3000, 4000))
    journal.rotate()
    journal.append(f"kubelet line {i}" for i in range(4000, 4500))
    running = journal_agent(tmp_path, es, journal.directory).start().wait_ready()
    wait_for(lambda: es.count() == len(journal.written), what="everything delivered")
    wait_for(lambda: _saved_cursor(tmp_path) is not None, what="a saved cursor")
    running.kill()

    # While the agent is away the file holding its cursor is archived and vacuumed.
    journal.rotate()
    journal.append(f"kubelet line {i}" for i in range(4500, 5000))
    journal.vacuum(keep_files=1)
    assert [p.name for p in journal.directory.iterdir()] == ["system.journal"]
    running = journal_agent(tmp_path, es, journal.directory).start().wait_ready()
    wait_for(lambda: es.count() == len(journal.written), what="the entries after the vacuum")
    journal.append(f"kubelet line {i}" for i in range(5000, 5100))
    wait_for(lambda: es.count() == len(journal.written), what="entries appended while running")
    code, err = running.terminate()
    assert code == 0, err.decode()[-2000:]

    assert_exactly_once(es, journal)
    assert es.item_statuses[409] > 0  # entries after the saved cursor re-sent, stored once
    docs = {d["MESSAGE"]: d for d in es.documents().values()}
    first = docs["kubelet line 0"]
    assert first["@timestamp"] == "2026-01-01T00:00:00.001000Z"
    assert first["SYSTEMD_UNIT"] == "kubelet.service"
    assert (first["PID"], first["HOSTNAME"], first["PRIORITY"]) == ("4242", "node-a", "6")
    assert first["BOOT_ID"] == "0123456789abcdef0123456789abcdef"
    assert not [key for key in first if key.startswith("_") or "CURSOR" in key]
    assert "tab\tand \x1b[1mescape" in docs  # UTF-8 with control characters stays text
    binary = next(d for d in docs.values() if "MESSAGE_BASE64" in d)
    assert binary["MESSAGE"] == "binary \x00\ufffd\ufffd message"


def test_missing_journal_own_index_and_journalctl_killed(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    later = tmp_path / "later"
    running = journal_agent(tmp_path, es, later, SHIPPER_JOURNAL_INDEX="journal-%Y.%m.%d").start()
    running.wait_ready()
    journal = Journal(later)
    journal.append(f"first {i}" for i in range(10))
    wait_for(lambda: es.count() == 10, timeout=30, what="the journal once it appeared")
    assert es.indices() == ["journal-2026.01.01"]

    pid = _journalctl_of(running)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _restarts(running) == 1.0, what="the restart counted")
    journal.append(f"second {i}" for i in range(10))
    wait_for(lambda: es.count() == 20, what="entries after the restart")
    assert _journalctl_of(running) != pid
    code, err = running.terminate()
    assert code == 0, err.decode()[-2000:]

    assert_exactly_once(es, journal)
    text = err.decode()
    assert text.count("no journal in") == 1
    said = [line for line in text.splitlines() if "journalctl reading" in line]
    assert len(said) == 1 and "exited with status -9" in said[0]
    assert "Traceback" not in text


def _saved_cursor(tmp_path: Path) -> str | None:
    import orjson

    try:
        cursors = orjson.loads((tmp_path / "st/journal-cursors.json").read_bytes())["cursors"]
    except FileNotFoundError:
        return None
    return next(iter(cursors.values()), None)


def _journalctl_of(agent: Agent) -> int:
    """The pid of the agent's journalctl child."""
    assert agent.proc is not None
    found: list[int] = []

    def child() -> bool:
        found[:] = [
            int(pid)
            for pid in os.listdir("/proc")
            if pid.isdigit() and _is_journalctl_child(int(pid), agent.proc.pid)  # type: ignore[union-attr]
        ]
        return len(found) == 1

    wait_for(child, what="the journalctl child")
    return found[0]


def _is_journalctl_child(pid: int, parent: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    ppid = int(stat.rsplit(")", 1)[1].split()[1])
    return ppid == parent and b"journalctl" in cmdline


def _restarts(agent: Agent) -> float:
    text = agent.get("/metrics").text
    match = re.search(r"^shipper_journal_restarts_total\{[^}]*\} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0
