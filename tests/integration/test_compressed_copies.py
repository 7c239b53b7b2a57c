"""The real agent through kubelet's rotations while it is away or paused: records still
on the node, in `.gz` copies, arrive exactly once; what is gone is counted; hostile file
names and copytruncate do not stop it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.elasticsearch import FakeElasticsearch
from tests.integration.harness import Agent, Container, containers, read_documents, wait_for
from tests.integration.test_es_delivery import agent, assert_exactly_once


@pytest.fixture
def es() -> Iterator[FakeElasticsearch]:
    with FakeElasticsearch() as server:
        yield server


def test_killed_during_an_outage_then_rotated_twice_and_gzipped_loses_nothing(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    root, state = tmp_path / "node", tmp_path / "state"
    cs = containers(root, 3)
    n = 0
    for c in cs:
        c.write(f"{c.pod} #{i}" for i in range(n, n + 3000))
        n += 3000
    first = agent(root, state, es, once=False).start().wait_ready()
    wait_for(lambda: es.count() >= 3000, what="some records delivered")
    es.set_outage(True)  # nothing more is acknowledged: the positions stop moving
    for c in cs:
        c.write(f"{c.pod} #{i}" for i in range(n, n + 2000))
        n += 2000
    first.kill()
    # while the agent is away, each container rotates twice: the first copy is gzipped
    # and its plain file deleted, so its unread records are only in the .gz
    for c in cs:
        c.rotate()
        c.write(f"{c.pod} #{i}" for i in range(n, n + 500))
        n += 500
        c.rotate()
        c.write(f"{c.pod} #{i}" for i in range(n, n + 500))
        n += 500
    assert list(root.glob("var/log/pods/*/*/0.log.*.gz")), "the first copies were gzipped"
    es.set_outage(False)
    result = agent(root, state, es, once=True).run()
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert b"compressed copy" in result.stderr
    assert_exactly_once(es, cs)


def test_a_hostile_file_name_and_a_copytruncate_leave_the_other_pods_exactly_once(
    tmp_path: Path,
) -> None:
    root, out = tmp_path / "node", tmp_path / "out.ndjson"
    normal = Container(root, "shop", "web", "app")
    normal.write(f"web #{i}" for i in range(500))
    links = root / "var/log/containers"
    odd = Path(os.fsdecode(bytes(links) + b"/odd-\xff\xfe_shop_app-" + b"cd" * 32 + b".log"))
    odd.write_bytes(b"2024-05-01T12:00:00.5Z stdout F from an odd name\n")
    copied = links / "copytruncate.log"
    copied.write_bytes(b"".join(b"2024-05-01T12:00:01Z stdout F old %d\n" % i for i in range(1000)))
    args = ["--path", str(links / "*.log"), "--state-dir", str(tmp_path / "state")]
    running = Agent([*args, "--output", f"file:{out}"]).start().wait_ready()

    def logs() -> list[str]:
        return [doc["log"] for doc in read_documents(out)]

    wait_for(lambda: "old 999" in logs() and "web #499" in logs(), what="first pass")
    with open(copied, "r+b") as fh:  # copytruncate, then a burst longer than before
        fh.truncate(0)
        fh.write(b"".join(b"2024-05-01T12:00:02Z stdout F new %d\n" % i for i in range(2000)))
    normal.write(f"web #{i}" for i in range(500, 600))
    wait_for(lambda: "new 1999" in logs() and "web #599" in logs(), what="after copytruncate")
    code, err = running.terminate()
    assert code == 0, err.decode()[-2000:]
    found = logs()
    assert sorted(t for t in found if t.startswith("web #")) == sorted(
        f"web #{i}" for i in range(600)
    )
    assert sorted(t for t in found if t.startswith("new ")) == sorted(
        f"new {i}" for i in range(2000)
    )
    assert found.count("from an odd name") == 1
    assert b"Traceback" not in err
