"""The real agent through a subprocess: --once, SIGTERM, SIGKILL with rotations."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.integration.harness import Agent, containers, read_documents, wait_for


def once_args(root: Path, out: Path, state: Path) -> list[str]:
    return [
        "--once",
        "--path",
        str(root / "var/log/containers/*.log"),
        "--state-dir",
        str(state),
        "--output",
        f"file:{out}",
    ]


def test_once_delivers_every_line_exactly_once_and_resumes(tmp_path: Path) -> None:
    root, out, state = tmp_path / "node", tmp_path / "out.ndjson", tmp_path / "state"
    cs = containers(root, 3, namespace="team-a", pod="web")
    for c in cs:
        c.write(f"{c.pod} line {i} ünïcødé ✓" for i in range(3000))
    result = Agent(once_args(root, out, state)).run()
    assert result.returncode == 0, result.stderr.decode()
    docs = read_documents(out)
    assert len(docs) == 9000
    assert Counter(d["log"] for d in docs) == Counter(w.text for c in cs for w in c.written)
    first = docs[0]
    assert first["kubernetes"]["namespace_name"] == "team-a"
    assert first["kubernetes"]["pod_name"].startswith("web-")
    assert first["kubernetes"]["container_name"] == "app"
    assert first["kubernetes"]["pod_id"].endswith("-1111-4222-8333-444455556666")
    assert len(first["docker"]["container_id"]) == 64
    assert first["stream"] == "stdout"
    assert first["@timestamp"].endswith("123Z")
    # A second run reads only what was written since: positions were saved.
    for c in cs:
        c.write(f"{c.pod} later {i}" for i in range(10))
    result = Agent(once_args(root, out, state)).run()
    assert result.returncode == 0, result.stderr.decode()
    later = read_documents(out)[9000:]
    assert sorted(d["log"] for d in later) == sorted(
        f"{c.pod} later {i}" for c in cs for i in range(10)
    )


def test_sigterm_drains_and_saves_positions(tmp_path: Path) -> None:
    root, out, state = tmp_path / "node", tmp_path / "out.ndjson", tmp_path / "state"
    (c,) = containers(root, 1, namespace="team-a", pod="web")
    agent = Agent(once_args(root, out, state)[1:]).start().wait_ready()  # runs until stopped
    c.write(f"line {i}" for i in range(5000))
    wait_for(lambda: len(read_documents(out)) >= 5000, what="5000 documents")
    code, err = agent.terminate()
    assert code == 0, err.decode()
    positions = orjson.loads((state / "positions.json").read_bytes())
    assert orjson.dumps(positions).find(str(c.path.stat().st_size).encode()) >= 0
    # Restarting finds nothing new to ship.
    result = Agent(once_args(root, out, state)).run()
    assert result.returncode == 0
    assert len(read_documents(out)) == 5000


def test_a_document_torn_by_a_kill_mid_write_is_written_again_whole(tmp_path: Path) -> None:
    """A kill -9 in the middle of the output's write leaves a document cut short at the
    file's end (its records unacknowledged): the next run's documents never continue it."""
    root, out, state = tmp_path / "node", tmp_path / "out.ndjson", tmp_path / "state"
    (c,) = containers(root, 1, namespace="team-a", pod="web")
    c.write(f"before {i}" for i in range(100))
    assert Agent(once_args(root, out, state)).run().returncode == 0
    delivered = out.read_bytes()
    c.write(f"after {i}" for i in range(100))
    with open(out, "ab") as fh:  # what the killed run had written of its next document
        fh.write(delivered[: delivered.index(b"\n") // 2])
    result = Agent(once_args(root, out, state)).run()
    assert result.returncode == 0, result.stderr.decode()
    assert b"cut short by an earlier stop" in result.stderr
    assert out.read_bytes().startswith(delivered)
    docs = Counter(d["log"] for d in read_documents(out))  # every line parses
    assert docs == Counter(w.text for w in c.written)


@pytest.mark.slow
def test_sigkill_while_writing_and_rotating_loses_nothing(tmp_path: Path) -> None:
    """Kill -9 at random moments; every line arrives, repeats only past saved positions."""
    root, out, state = tmp_path / "node", tmp_path / "out.ndjson", tmp_path / "state"
    cs = containers(root, 3, namespace="team-a", pod="web")
    rnd = random.Random(7)
    args = once_args(root, out, state)[1:]
    snapshots: list[dict[int, int]] = []
    n = 0
    for _round in range(5):
        agent = Agent(args).start().wait_ready()
        deadline = time.monotonic() + rnd.uniform(0.5, 1.5)
        rotated: set[str] = set()
        while time.monotonic() < deadline:
            for c in cs:
                c.write(f"{c.pod} n={n + i}" for i in range(rnd.randint(1, 200)))
                n += 200
                # kubelet rotates at most every 10 s: once per container per round here
                if c.pod not in rotated and rnd.random() < 0.05:
                    c.rotate()
                    rotated.add(c.pod)
            time.sleep(0.01)
        agent.kill()
        snapshots.append(saved_offsets(state))
    result = Agent(once_args(root, out, state)).run()
    assert result.returncode == 0, result.stderr.decode()
    docs = Counter(d["log"] for d in read_documents(out))
    written = [w for c in cs for w in c.written]
    lost = [w.text for w in written if docs[w.text] == 0]
    assert lost == []
    assert len(docs) == len(written)
    for w in written:
        if docs[w.text] > 1:
            # Every extra copy needs a restart that resumed at or before this line.
            resumed_before = sum(1 for snap in snapshots if snap.get(w.ino, -1) <= w.offset)
            assert docs[w.text] - 1 <= resumed_before, (w, docs[w.text])


def saved_offsets(state: Path) -> dict[int, int]:
    """inode -> saved offset, from the agent's positions file."""
    path = state / "positions.json"
    if not path.exists():
        return {}
    data = orjson.loads(path.read_bytes())
    entries = data.get("files", data) if isinstance(data, dict) else data
    items = entries.values() if isinstance(entries, dict) else entries
    return {int(e["ino"]): int(e["offset"]) for e in items}
