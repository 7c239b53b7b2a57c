"""Operations, with the real agent as a subprocess: metrics that agree with what Elasticsearch
stored, the health endpoints, a graceful stop with records in flight, and the own log's
rate limiting."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shipper.observe.metrics import Metrics
from shipper.observe.server import ObserveServer
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.integration.harness import Agent, containers, wait_for

FAST_RETRIES = {"SHIPPER_RETRY_MAX_BACKOFF": "500ms", "SHIPPER_FLUSH_INTERVAL": "100ms"}


@pytest.fixture
def es() -> Iterator[FakeElasticsearch]:
    with FakeElasticsearch() as server:
        yield server


def agent(root: Path, state: Path, es: FakeElasticsearch, *extra: str, **env: str) -> Agent:
    args = ["--path", str(root / "var/log/containers/*.log"), "--state-dir", str(state), *extra]
    return Agent(args, {"SHIPPER_ES_HOSTS": es.url, **FAST_RETRIES, **env})


def scrape(running: Agent) -> dict[str, float]:
    """Every sample of /metrics, keyed `name` or `name{label="value",...}`."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(running.get("/metrics").text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return samples


def bulk_requests(es: FakeElasticsearch, status: int) -> int:
    return sum(1 for r in es.requests if r.path.endswith("/_bulk") and r.status == status)


def own_log(stderr: bytes) -> list[dict]:
    return [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]


def test_delivery_counters_agree_with_what_elasticsearch_stored(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    root = tmp_path / "node"
    cs = containers(root, 3)
    for n, c in enumerate(cs):
        c.write(f"{c.pod} line {i}" for i in range(700 + 300 * n))
    total = sum(len(c.written) for c in cs)
    size = sum(c.path.stat().st_size for c in cs)
    running = agent(root, tmp_path / "state", es, SHIPPER_BATCH_MAX_RECORDS="400").start()
    running.wait_ready()
    wait_for(lambda: es.count() == total, what="every line stored")
    # Stored comes before acknowledged: wait until nothing is held, then read it all at once.
    wait_for(lambda: scrape(running)["shipper_buffer_bytes"] == 0, what="every record acked")
    m = scrape(running)
    code, err = running.terminate()
    assert code == 0, err.decode()[-2000:]
    assert m["shipper_records_delivered_total"] == es.count() == total
    assert m["shipper_records_read_total"] == total
    assert m["shipper_read_bytes_total"] == size
    assert m['shipper_bulk_requests_total{status="200"}'] == bulk_requests(es, 200) >= 5
    assert m["shipper_bulk_request_duration_seconds_count"] == bulk_requests(es, 200)
    assert m["shipper_records_retried_total"] == 0
    assert m["shipper_records_dead_lettered_total"] == 0
    assert m["shipper_lag_bytes"] == 0
    assert m["shipper_files_watched"] == len(cs)
    assert m["shipper_output_up"] == 1
    assert m["shipper_delivery_latency_seconds_count"] >= 1
    assert m['shipper_build_info{version="0.1.0"}'] == 1
    assert not any(key.startswith("shipper_") and "path=" in key for key in m)  # no file label


def test_health_endpoints_of_a_running_agent(tmp_path: Path, es: FakeElasticsearch) -> None:
    root = tmp_path / "node"
    containers(root, 1)[0].write(["hello"])
    running = agent(root, tmp_path / "state", es).start().wait_ready()
    try:
        for _ in range(3):
            healthz = running.get("/healthz")
            assert (healthz.status_code, healthz.text) == (200, "ok\n")
        assert running.get("/readyz").status_code == 200
        metrics = running.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain; version=")
        assert "# TYPE shipper_records_read_total counter" in metrics.text
        assert running.get("/metrics?debug=1").status_code == 200
        for path in ("/", "/nope", "/metrics/x", "/healthzz"):
            assert running.get(path).status_code == 404, path
        url = f"http://127.0.0.1:{running.port}"
        head = httpx.head(f"{url}/healthz", timeout=2)
        assert (head.status_code, head.content) == (200, b"")
        assert httpx.post(f"{url}/metrics", timeout=2).status_code == 405
    finally:
        code, err = running.terminate()
    assert code == 0, err.decode()[-2000:]


async def test_readyz_answers_503_until_tailing_has_started() -> None:
    started = False
    server = ObserveServer(
        "127.0.0.1:0", Metrics(), lambda: None if started else "tailing not started"
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert (await client.get("/readyz")).status_code == 503
            assert (await client.get("/healthz")).status_code == 200
            started = True
            assert (await client.get("/readyz")).status_code == 200
    finally:
        await server.close()


def test_sigterm_with_records_in_flight_delivers_them_saves_positions_and_exits_0(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    root, state = tmp_path / "node", tmp_path / "state"
    cs = containers(root, 4)
    for c in cs:
        c.write(f"{c.pod} record {i} " + "x" * 60 for i in range(5000))
    total = sum(len(c.written) for c in cs)
    es.set_delay(0.3)
    slow = {"SHIPPER_BUFFER_MAX_BYTES": "256KiB", "SHIPPER_BATCH_MAX_RECORDS": "500"}
    running = agent(root, state, es, **slow).start().wait_ready()
    wait_for(lambda: es.count() >= 2000, what="the first batches")
    in_flight = scrape(running)["shipper_buffer_bytes"]
    stopping = time.monotonic()
    code, err = running.terminate(timeout=30)
    took = time.monotonic() - stopping
    assert code == 0, err.decode()[-2000:]
    assert took < 25, f"stopping took {took:.1f} s"
    assert in_flight > 0  # the stop did come with records in flight
    delivered_before_stop = es.count()
    assert delivered_before_stop < total  # and with lines still unread on disk
    messages = [line["message"] for line in own_log(err)]
    assert "stopping: draining what is in flight" in messages
    assert messages[-1] == "shipper stopped"
    # The positions saved cover exactly what was delivered: the rest comes, nothing twice.
    es.set_delay(0)
    result = agent(root, state, es, "--once").run()
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    stored = {doc["log"] for doc in es.documents().values()}
    assert stored == {w.text for c in cs for w in c.written}  # no line cut in two at the stop
    assert es.count() == total
    assert es.item_statuses[409] == 0  # nothing was sent again


def test_repeated_bulk_errors_collapse_into_one_line_with_a_count(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    root = tmp_path / "node"
    c = containers(root, 1)[0]
    c.write(f"during the outage {i}" for i in range(100))
    es.set_outage(True)
    running = agent(root, tmp_path / "state", es).start().wait_ready()
    wait_for(lambda: bulk_requests(es, 503) >= 6, what="retries against a 503 cluster")
    es.set_outage(False)
    wait_for(lambda: es.count() == 100, what="delivery after the outage")
    code, err = running.terminate()
    assert code == 0, err.decode()[-2000:]
    failed = [
        line
        for line in own_log(err)
        if line["message"].startswith("bulk request to") and " answered 503" in line["message"]
    ]
    # The first failure is written, the rest only counted (the window is 10 s, the outage ~3 s).
    assert 1 <= len(failed) <= 2
    assert failed[0]["level"] == "warning" and "repeated" not in failed[0]
    assert len(failed) + sum(line.get("repeated", 0) for line in failed) == bulk_requests(es, 503)


def test_a_second_signal_exits_at_once(tmp_path: Path, es: FakeElasticsearch) -> None:
    root, state = tmp_path / "node", tmp_path / "state"
    (c,) = containers(root, 1)
    c.write(f"line {i}" for i in range(100))
    es.set_outage(True)  # nothing can be delivered: the first stop would drain for 20 s
    running = agent(root, state, es)
    log = tmp_path / "agent.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(running.args, env=running.env, cwd=running.cwd, stderr=stderr)
        running.proc = proc
        running.wait_ready()
        wait_for(lambda: scrape(running)["shipper_buffer_bytes"] > 0, what="records in flight")
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: b"stopping: draining" in log.read_bytes(), what="the first stop")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert time.monotonic() - started < 5
    assert proc.returncode == 128 + signal.SIGTERM
    assert b"second signal: exiting at once" in log.read_bytes()
