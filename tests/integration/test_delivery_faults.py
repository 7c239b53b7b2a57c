"""The real agent against outputs that misbehave: no failure ends delivery or goes unsaid.

TLS alerts after the handshake, answers cut short, with items missing, HTML with 200,
endless or trickling, an endpoint refusing every request, a full disk (/dev/full), and
the paths `file:` must take (/dev/null, /dev/stdout, a FIFO).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import trustme

from shipper import agent as agent_module
from shipper.settings import ObserveSettings, Output, Settings, SinkSettings, TailSettings
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.integration.harness import Agent, Container, containers, free_port, wait_for

FAST = {
    "SHIPPER_RETRY_MAX_BACKOFF": "300ms",
    "SHIPPER_FLUSH_INTERVAL": "100ms",
    "SHIPPER_ONCE_RETRY_TIMEOUT": "20s",
    "SHIPPER_BATCH_MAX_RECORDS": "200",
}


@pytest.fixture
def es() -> Iterator[FakeElasticsearch]:
    with FakeElasticsearch() as server:
        yield server


def _written(root: Path, n: int = 600) -> list[Container]:
    cs = containers(root, 2)
    for c in cs:
        c.write(f"{c.pod} line {i}" for i in range(n // 2))
    return cs


def _agent(root: Path, tmp: Path, *extra: str, once: bool = True, **env: str) -> Agent:
    args = ["--path", str(root / "var/log/containers/*.log"), "--state-dir", str(tmp / "state")]
    return Agent([*args, *extra, *(["--once"] if once else [])], {**FAST, **env})


def _messages(stderr: bytes) -> list[str]:
    return [orjson.loads(line)["message"] for line in stderr.splitlines() if line.startswith(b"{")]


def _assert_exactly_once(es: FakeElasticsearch, cs: list[Container]) -> None:
    written = sorted(w.text for c in cs for w in c.written)
    stored = sorted(doc["log"] for doc in es.documents().values())
    assert stored == written  # every line, none twice (a distinct _id each)


def _assert_gave_up_saying(stderr: bytes, *words: str) -> None:
    """--once exit 3: the cause on the last line, and no traceback anywhere."""
    assert b"Traceback" not in stderr, stderr.decode()[-3000:]
    last = _messages(stderr)[-1]
    assert "could not be delivered" in last
    for word in words:
        assert word in last, last


# --- TLS


@pytest.fixture
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def mtls_es(authority: trustme.CA) -> Iterator[tuple[FakeElasticsearch, ssl.SSLContext]]:
    """A TLS 1.3 Elasticsearch that requires a client certificate: its alert comes after
    the handshake, while the client reads the answer."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    authority.configure_trust(context)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    with FakeElasticsearch(ssl_context=context) as server:
        yield server, context


def _tls_env(tmp: Path, authority: trustme.CA, url: str, client_cert: bool) -> dict[str, str]:
    ca = tmp / "ca.pem"
    authority.cert_pem.write_to_path(str(ca))
    env = {"SHIPPER_ES_HOSTS": url, "SHIPPER_ES_CA_FILE": str(ca)}
    if client_cert:
        issued = authority.issue_cert("shipper.test")
        issued.cert_chain_pems[0].write_to_path(str(tmp / "client.pem"))
        issued.private_key_pem.write_to_path(str(tmp / "client.key"))
        env |= {
            "SHIPPER_ES_CLIENT_CERT": str(tmp / "client.pem"),
            "SHIPPER_ES_CLIENT_KEY": str(tmp / "client.key"),
        }
    return env


CLIENT_CERT_WORDS = (
    "Elasticsearch asks for a client certificate: "
    "set SHIPPER_ES_CLIENT_CERT and SHIPPER_ES_CLIENT_KEY"
)


def test_a_required_client_certificate_is_named_and_once_exits_3(
    tmp_path: Path, authority: trustme.CA, mtls_es: tuple[FakeElasticsearch, ssl.SSLContext]
) -> None:
    es, _ = mtls_es
    root = tmp_path / "node"
    cs = _written(root)
    env = _tls_env(tmp_path, authority, es.url, client_cert=False)
    result = _agent(root, tmp_path, SHIPPER_ONCE_RETRY_TIMEOUT="2s", **env).run()
    assert result.returncode == 3, result.stderr.decode()[-3000:]
    _assert_gave_up_saying(result.stderr, CLIENT_CERT_WORDS)
    assert es.count() == 0
    # with the certificate, everything arrives once, from the positions left unsaved
    env = _tls_env(tmp_path, authority, es.url, client_cert=True)
    result = _agent(root, tmp_path, **env).run()
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    _assert_exactly_once(es, cs)


def test_a_running_agent_outlives_tls_alerts_and_delivers_once_they_stop(
    tmp_path: Path, authority: trustme.CA, mtls_es: tuple[FakeElasticsearch, ssl.SSLContext]
) -> None:
    es, context = mtls_es
    root = tmp_path / "node"
    cs = _written(root)
    env = _tls_env(tmp_path, authority, es.url, client_cert=False)
    running = _agent(root, tmp_path, once=False, **env).start()
    try:
        running.wait_ready()
        wait_for(
            lambda: _sample(running, 'shipper_bulk_requests_total{status="error"}') >= 3,
            what="three failed attempts",
        )
        context.verify_mode = ssl.CERT_NONE  # the cluster stops asking for a certificate
        wait_for(lambda: es.count() == 600, what="delivery once the alerts stop")
        assert running.get("/readyz").status_code == 200
        assert "shipper_internal_errors_total{" not in running.get("/metrics").text
    finally:
        code, err = running.terminate()
    assert code == 0, err.decode()[-3000:]
    assert b"Traceback" not in err
    messages = _messages(err)
    assert any(CLIENT_CERT_WORDS in m for m in messages)
    assert "delivery to Elasticsearch works again" in messages
    _assert_exactly_once(es, cs)


# --- answers that cannot be trusted


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("cut", "cannot be read whole"),
        ("closed", "the connection closed before a whole answer came"),
        ("fewer", "cannot be read whole"),
        ("html", "cannot be read whole"),
    ],
)
def test_an_answer_not_read_whole_acknowledges_nothing(
    tmp_path: Path, es: FakeElasticsearch, kind: str, words: str
) -> None:
    root = tmp_path / "node"
    cs = _written(root)
    es.spoil_answers(kind, times=3)
    result = _agent(root, tmp_path, SHIPPER_ES_HOSTS=es.url).run()
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    _assert_exactly_once(es, cs)
    unread = [m for m in _messages(result.stderr) if words in m]
    assert 1 <= len(unread) <= 3  # said, and repeats folded by the log
    assert not (tmp_path / "state" / "dead-letter.ndjson").exists()
    assert es.item_statuses[409] > 0  # what arrived before its answer was spoiled came again


@pytest.mark.parametrize(
    ("kind", "path", "words"),
    [
        ("endless", "/_bulk", "the answer is larger than"),
        ("endless", "/", "the answer is larger than 8388608 bytes"),
        ("trickle", "/_bulk", "no whole answer within 1 s"),
    ],
)
def test_an_endless_answer_fails_the_attempt_within_its_bounds(
    tmp_path: Path, es: FakeElasticsearch, kind: str, path: str, words: str
) -> None:
    root = tmp_path / "node"
    cs = _written(root)
    es.spoil_answers(kind, times=1, path=path)
    started = time.monotonic()
    result = _agent(root, tmp_path, SHIPPER_ES_HOSTS=es.url, SHIPPER_REQUEST_TIMEOUT="1s").run()
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert time.monotonic() - started < 20
    assert any(words in m for m in _messages(result.stderr))
    _assert_exactly_once(es, cs)


@pytest.mark.parametrize("status", [400, 413])
def test_an_endpoint_refusing_every_request_is_never_dead_lettered(
    tmp_path: Path, es: FakeElasticsearch, status: int
) -> None:
    root = tmp_path / "node"
    _written(root)
    es.set_outage(True, status=status)
    env = {"SHIPPER_ES_HOSTS": es.url, "SHIPPER_ONCE_RETRY_TIMEOUT": "2s"}
    result = _agent(root, tmp_path, **env).run()
    assert result.returncode == 3, result.stderr.decode()[-3000:]
    _assert_gave_up_saying(result.stderr, "the endpoint is at fault")
    assert not (tmp_path / "state" / "dead-letter.ndjson").exists()
    assert es.count() == 0


# --- file: any writable path


def test_a_full_disk_is_said_with_its_path_and_once_exits_3(tmp_path: Path) -> None:
    root = tmp_path / "node"
    _written(root)
    result = _agent(root, tmp_path, "--output", "file:/dev/full", SHIPPER_ONCE_RETRY_TIMEOUT="1s")
    done = result.run()
    assert done.returncode == 3, done.stderr.decode()[-3000:]
    _assert_gave_up_saying(done.stderr, "/dev/full", "no space left")


@pytest.mark.slow  # the stop drains for its whole 20 s: the output never takes a record
def test_a_running_agent_on_a_full_disk_keeps_trying_and_stops_in_time(tmp_path: Path) -> None:
    root = tmp_path / "node"
    _written(root)
    running = _agent(root, tmp_path, "--output", "file:/dev/full", once=False).start()
    try:
        running.wait_ready()
        wait_for(
            lambda: _sample(running, "shipper_records_retried_total") >= 2 * 600,
            what="two failed writes of the 600 records retried",
        )
        assert running.proc is not None and running.proc.poll() is None
        assert _sample(running, "shipper_output_up") == 0
        assert _sample(running, "shipper_records_delivered_total") == 0
        started = time.monotonic()
        code, err = running.terminate(timeout=30)
        assert time.monotonic() - started < 25
    finally:
        if running.proc is not None and running.proc.poll() is None:
            running.kill()
    assert code == 0, err.decode()[-3000:]
    assert b"Traceback" not in err
    assert any("cannot write /dev/full: no space left" in m for m in _messages(err))


def _sample(running: Agent, series: str) -> float:
    """One sample of the agent's /metrics (`name` or `name{labels}`); 0 while absent."""
    for line in running.get("/metrics").text.splitlines():
        if line.startswith(f"{series} "):
            return float(line.split()[1])
    return 0.0


@pytest.mark.parametrize("target", ["/dev/null", "/dev/stdout", "fifo"])
def test_file_output_takes_devices_and_fifos(tmp_path: Path, target: str) -> None:
    root = tmp_path / "node"
    cs = _written(root)
    got = bytearray()
    reader = None
    if target == "fifo":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)

        def read() -> None:
            with open(target, "rb") as fifo:
                got.extend(fifo.read())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
    result = _agent(root, tmp_path, "--output", f"file:{target}").run()
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    if reader is not None:
        reader.join(10)
    elif target == "/dev/stdout":
        got.extend(result.stdout)
    if target != "/dev/null":
        lines = sorted(orjson.loads(line)["log"] for line in bytes(got).splitlines())
        assert lines == sorted(w.text for c in cs for w in c.written)


async def test_readyz_turns_503_when_the_output_has_failed_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent in this process (to shorten the minute), writing to /dev/full."""
    monkeypatch.setattr(agent_module, "NOT_READY_AFTER", 0.5)
    monkeypatch.setattr(agent_module, "STOP_DRAIN_SECONDS", 0.5)  # /dev/full never drains
    root = tmp_path / "node"
    _written(root)
    port = free_port()
    settings = Settings(
        tail=TailSettings(
            paths=(str(root / "var/log/containers/*.log"),), state_dir=str(tmp_path / "state")
        ),
        sink=SinkSettings(output=Output("file", "/dev/full"), retry_max_backoff=0.1),
        observe=ObserveSettings(metrics_addr=f"127.0.0.1:{port}"),
    )
    agent = agent_module.Agent(settings)
    run = asyncio.create_task(agent.run())
    answers: list[tuple[int, str]] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    got = await client.get("/readyz")
                    answers.append((got.status_code, got.text))
                    if got.status_code == 503 and "output" in got.text:
                        break
                await asyncio.sleep(0.02)
    finally:
        agent.stop.set()
        assert await asyncio.wait_for(run, 10) == 0
    assert (200, "ready\n") in answers  # ready while the failures are young
    assert answers[-1][0] == 503
    assert "the output has failed for" in answers[-1][1]
    assert "cannot write /dev/full: no space left" in answers[-1][1]
