"""Exactly-once delivery into a test Elasticsearch, with the real agent as a subprocess."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.fakes.elasticsearch import FakeElasticsearch
from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.integration.harness import Agent, Container, containers, kube_env, wait_for

FAST_RETRIES = {
    "SHIPPER_RETRY_MAX_BACKOFF": "500ms",
    "SHIPPER_FLUSH_INTERVAL": "100ms",
    "SHIPPER_ONCE_RETRY_TIMEOUT": "20s",
}


@pytest.fixture
def es() -> Iterator[FakeElasticsearch]:
    with FakeElasticsearch() as server:
        yield server


def agent(root: Path, state: Path, es: FakeElasticsearch, *, once: bool, **env: str) -> Agent:
    args = ["--path", str(root / "var/log/containers/*.log"), "--state-dir", str(state)]
    return Agent(
        [*args, "--once"] if once else args,
        {"SHIPPER_ES_HOSTS": es.url, **FAST_RETRIES, **env},
    )


def logs_in(es: FakeElasticsearch) -> Counter[str]:
    return Counter(doc["log"] for doc in es.documents().values())


def assert_exactly_once(es: FakeElasticsearch, containers: list[Container]) -> None:
    written = [w.text for c in containers for w in c.written]
    stored = logs_in(es)
    assert len(set(written)) == len(written)
    missing = [text for text in written if stored[text] == 0]
    doubled = [text for text, n in stored.items() if n > 1]
    assert missing == [] and doubled == []
    assert es.count() == len(written)  # distinct _id count == lines written


@pytest.mark.slow
def test_sigkill_while_writing_and_rotating_restarted_five_times(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    root, state = tmp_path / "node", tmp_path / "state"
    cs = containers(root, 3)
    rnd = random.Random(11)
    n = 0
    for _ in range(5):
        running = agent(root, state, es, once=False).start().wait_ready()
        rotated: set[str] = set()
        deadline = time.monotonic() + rnd.uniform(0.5, 2.0)
        while time.monotonic() < deadline:
            for c in cs:
                count = rnd.randint(1, 300)
                c.write(f"{c.pod} #{n + i}" for i in range(count))
                n += count
                if c.pod not in rotated and rnd.random() < 0.05:
                    c.rotate()
                    rotated.add(c.pod)
            time.sleep(0.005)
        running.kill()
    result = agent(root, state, es, once=True).run()
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert_exactly_once(es, cs)
    assert es.item_statuses[409] >= 0  # replays after kills answer 409, counted as delivered


@pytest.mark.slow
def test_thirty_second_outage_loses_and_doubles_nothing(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    root, state = tmp_path / "node", tmp_path / "state"
    cs = containers(root, 2)
    running = agent(root, state, es, once=False).start().wait_ready()
    for c in cs:
        c.write(f"{c.pod} before {i}" for i in range(1000))
    wait_for(lambda: es.count() == 2000, what="the lines before the outage")
    es.set_outage(True)
    outage_end = time.monotonic() + 30
    i = 0
    while time.monotonic() < outage_end:
        for c in cs:
            c.write(f"{c.pod} during {i + j}" for j in range(50))
        i += 50
        time.sleep(0.1)
    assert es.count() == 2000
    up = running.get("/metrics").text
    assert "shipper_output_up 0.0" in up
    es.set_outage(False)
    total = sum(len(c.written) for c in cs)
    wait_for(lambda: es.count() >= total, timeout=60, what="delivery after the outage")
    code, err = running.terminate()
    assert code == 0, err.decode()[-2000:]
    assert_exactly_once(es, cs)


def test_the_tail_of_a_backlog_does_not_wait_out_the_flush_interval(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    root, state = tmp_path / "node", tmp_path / "state"
    (c,) = containers(root, 1)
    c.write(f"{c.pod} backlog {i} {'x' * 100}" for i in range(25_000))  # several reads
    running = agent(root, state, es, once=False, SHIPPER_FLUSH_INTERVAL="60s").start()
    running.wait_ready()
    # batches of 10,000 go when full; the last, partial one when the backlog runs out
    wait_for(lambda: es.count() == 25_000, timeout=20, what="the whole backlog")
    c.write([f"{c.pod} steady 1"])  # caught up: a new line waits for its batch to fill
    time.sleep(1.0)
    assert es.count() == 25_000
    code, err = running.terminate()
    assert code == 0, err.decode()[-2000:]
    assert_exactly_once(es, [c])


def test_thirty_percent_of_items_rejected_with_429(tmp_path: Path, es: FakeElasticsearch) -> None:
    root, state = tmp_path / "node", tmp_path / "state"
    cs = containers(root, 3)
    for c in cs:
        c.write(f"{c.pod} line {i}" for i in range(3000))
    es.set_item_rejections(0.3, status=429, seed=3)
    result = agent(root, state, es, once=True).run()
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert es.item_statuses[429] > 2000
    assert_exactly_once(es, cs)


def test_mapping_conflict_dead_lettered_then_replayed(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    """The classic dotted-labels conflict: `labels.app` an object here, a string there."""
    root, state = tmp_path / "node", tmp_path / "state"
    token = tmp_path / "token"
    token.write_text("t0k3n")
    with FakeKubeApiServer(token_file=token) as kube:
        dotted = kube.add_pod("web", "shop", labels={"app.kubernetes.io/name": "web"})
        plain = kube.add_pod("db", "shop", labels={"app": "db"})
        web = Container(root, "shop", "web", "app", uid=dotted["metadata"]["uid"])
        db = Container(
            root, "shop", "db", "app", uid=plain["metadata"]["uid"], container_id="cd" * 32
        )
        web.write(f"web {i}" for i in range(200))
        db.write(f"db {i}" for i in range(100))
        es.put_mapping("logstash-2024.05.01", "kubernetes.labels.app", "object")
        settings = {**kube_env(kube.url, token), "SHIPPER_DE_DOT": "false"}
        result = agent(root, state, es, once=True, **settings).run()
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    stored = logs_in(es)
    assert sum(stored.values()) == 200 and all(t.startswith("web") for t in stored)
    dead = [orjson.loads(line) for line in (state / "dead-letter.ndjson").read_bytes().splitlines()]
    assert len(dead) == 100
    assert {d["document"]["log"] for d in dead} == {f"db {i}" for i in range(100)}
    assert dead[0]["status"] == 400 and "parsing_exception" in dead[0]["error"]["type"]
    # The fix: the index is recreated without the conflicting mapping; then replay.
    es.delete_index("logstash-2024.05.01")
    replay = Agent([], {"SHIPPER_ES_HOSTS": es.url, **FAST_RETRIES})
    replay.args = [*replay.args[:3], "replay-dead-letter", str(state / "dead-letter.ndjson")]
    result = replay.run()
    assert result.returncode == 0, (result.stdout + result.stderr).decode()[-3000:]
    assert Counter(d["log"] for d in es.documents().values()) == Counter(
        f"db {i}" for i in range(100)
    )
    assert (state / "dead-letter.ndjson").read_bytes() == b""


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
def test_memory_stays_bounded_while_200_mb_are_written_during_an_outage(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    root, state = tmp_path / "node", tmp_path / "state"
    cs = containers(root, 4)
    es.set_outage(True)
    running = agent(root, state, es, once=False, SHIPPER_BUFFER_MAX_BYTES="16MiB").start()
    running.wait_ready()
    assert running.proc is not None
    pad = "x" * 2000
    written = 0
    i = 0
    while written < 200 * 1024 * 1024:
        for c in cs:
            c.write(f"{c.pod} {i + j} {pad}" for j in range(500))
            written += 500 * 2060
        i += 500
    wait_for(lambda: "shipper_buffer_bytes 1" in running.get("/metrics").text, what="a full buffer")
    time.sleep(1.0)  # the agent keeps retrying; memory must not grow meanwhile
    peak = peak_rss_mib(running.proc.pid)
    metrics = running.get("/metrics").text
    lag = next(
        float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("shipper_lag_bytes")
    )
    running.terminate()
    print(f"peak RSS during the outage: {peak:.1f} MiB; lag {lag / 2**20:.0f} MiB")
    assert peak < 150, f"peak RSS {peak:.1f} MiB"
    assert lag > 150 * 1024 * 1024  # the backlog stays on disk, and the metric shows it


def test_what_waits_at_start_goes_out_once_read_not_a_flush_interval_later(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    """Lines written before the agent started are sent as soon as reading catches up: with
    a flush interval of a minute they still arrive within the test's deadline."""
    root, state = tmp_path / "node", tmp_path / "state"
    (c,) = containers(root, 1)
    c.write(["before the start"])
    running = agent(root, state, es, once=False, SHIPPER_FLUSH_INTERVAL="60s").start()
    try:
        wait_for(lambda: logs_in(es)["before the start"] == 1, timeout=20, what="the line")
    finally:
        running.terminate()


def test_a_partial_line_left_open_goes_out_after_the_partial_timeout(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    """An idle file's open partial group is flushed by the idle rounds (4 s), joined with
    nothing, while a quiet file beside it costs those rounds nothing."""
    root, state = tmp_path / "node", tmp_path / "state"
    c, quiet = containers(root, 2)
    quiet.write([f"{quiet.pod} quiet"])
    with open(c.path, "ab") as f:
        f.write(b"2024-05-01T12:00:00.000000000Z stdout P the first half, never ended\n")
    running = agent(root, state, es, once=False).start()
    running.wait_ready()
    wait_for(lambda: es.count() == 2, timeout=15, what="the open partial, flushed")
    assert sorted(logs_in(es)) == sorted(["the first half, never ended", f"{quiet.pod} quiet"])
    code, err = running.terminate()
    assert code == 0, err.decode()[-2000:]
