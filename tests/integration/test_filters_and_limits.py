"""Drop and keep rules, rate limits, per-container annotations and custom multiline rules,
end to end: the real agent, a test API server, real files (and a test Elasticsearch for
exactness across a SIGKILL)."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from tests.fakes.elasticsearch import FakeElasticsearch
from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.integration.harness import (
    Agent,
    Container,
    kube_env,
    once_to_file,
    read_documents,
    wait_for,
)

FILTERS = """
- name: probes
  drop: 'kube-probe/'
- name: shop-warn
  keep: '\\b(WARN|ERROR|FATAL)\\b'
  namespaces: [shop]
"""
MULTILINE_RULES = "[{name: brackets, start: '\\[\\d', continue: '\\s'}]"
SPRING = [
    "2024-05-01T12:00:01.234Z ERROR 1 --- [main] o.s.boot.SpringApplication : run failed",
    "java.lang.IllegalStateException: no datasource",
    "\tat com.example.App.main(App.java:12)",
]


def containers_of(root: Path, pod: dict, *names: str) -> list[Container]:
    meta = pod["metadata"]
    return [
        Container(
            root, meta["namespace"], meta["name"], name, uid=meta["uid"], container_id=f"{i:x}" * 64
        )
        for i, name in enumerate(names, 1)
    ]


def metric(agent: Agent, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + wanted + '}') if wanted else ''} (\S+)$"
    found = re.search(pattern, agent.get("/metrics").text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_every_rule_type_in_one_run(tmp_path: Path) -> None:
    root = tmp_path / "node"
    token = tmp_path / "token"
    token.write_text("secret")
    with FakeKubeApiServer(token_file=token) as kube:
        kube.add_namespace("shop")
        kube.add_namespace("noisy")
        web = kube.add_pod(
            "web",
            containers=(("app", "app:1"), ("istio-proxy", "proxy:1"), ("debug", "busybox")),
            annotations={
                "shipper.io/multiline-app": "java",
                "shipper.io/drop-istio-proxy": "GET /stats/",
                "shipper.io/exclude-debug": "true",
            },
        )
        batch = kube.add_pod("batch", annotations={"shipper.io/multiline": "brackets"})
        api = kube.add_pod("api", "shop")
        flood = kube.add_pod("flood", "noisy")
        app, proxy, debug = containers_of(root, web, "app", "istio-proxy", "debug")
        [c_batch] = containers_of(root, batch, "app")
        [c_api] = containers_of(root, api, "app")
        [c_flood] = containers_of(root, flood, "app")
        app.write(["GET /healthz 200 kube-probe/1.30", "starting", *SPRING, "ready"])
        proxy.write(["GET /stats/prometheus 200", "GET /orders 200", *SPRING[1:]])
        debug.write(["debug noise"])
        c_batch.write(["[1] job failed:", "  step 1", "  step 2", "[2] job done"])
        c_api.write(["INFO a", "WARN b", "DEBUG c", "ERROR d kube-probe/1.30"])
        c_flood.write(f"flood {i}" for i in range(500))
        env = {
            **kube_env(kube.url, token),
            "SHIPPER_FILTERS": FILTERS,
            "SHIPPER_MULTILINE_RULES": MULTILINE_RULES,
            "SHIPPER_RATE_LIMITS": '[{"namespace": "noisy", "rate": 1, "burst": 20}]',
        }
        docs = once_to_file(root, tmp_path, env)
    by_container: dict[str, list[str]] = {}
    for doc in docs:
        k = doc["kubernetes"]
        by_container.setdefault(f"{k['pod_name']}/{k['container_name']}", []).append(doc["log"])
    assert by_container.pop("web/app") == ["starting", "\n".join(SPRING), "ready"]
    assert by_container.pop("web/istio-proxy") == ["GET /orders 200", *SPRING[1:]]
    assert by_container.pop("batch/app") == ["[1] job failed:\n  step 1\n  step 2", "[2] job done"]
    assert by_container.pop("api/app") == ["WARN b"]
    flooded = by_container.pop("flood/app")
    assert 20 <= len(flooded) <= 40  # the burst, then 1/s for the run's few seconds
    assert flooded == [f"flood {i}" for i in range(len(flooded))]
    assert by_container == {}  # web/debug excluded


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKubeApiServer]:
    token = tmp_path / "token"
    token.write_text("secret")
    with FakeKubeApiServer(token_file=token) as server:
        yield server


def test_annotation_changes_on_running_pods_take_effect_within_seconds(
    tmp_path: Path, kube: FakeKubeApiServer
) -> None:
    root = tmp_path / "node"
    out = tmp_path / "out.ndjson"
    kube.add_namespace("noisy")
    [web] = containers_of(root, kube.add_pod("web"), "app")
    [flood] = containers_of(root, kube.add_pod("flood", "noisy"), "app")
    args = ["--path", str(root / "var/log/containers/*.log")]
    args += ["--state-dir", str(tmp_path / "state"), "--output", f"file:{out}"]
    env = {
        **kube_env(kube.url, tmp_path / "token"),
        "SHIPPER_NAMESPACE_RATE_LIMITS": "true",
        "SHIPPER_RATE_LIMIT_INTERVAL": "1s",
    }
    agent = Agent(args, env).start().wait_ready()

    def logs() -> Counter[str]:
        return Counter(doc["log"] for doc in read_documents(out))

    try:
        _drop_annotation_takes_effect(kube, web, logs)
        kube.update_namespace("noisy", annotations={"shipper.io/rate-limit": "rate=5,burst=10"})
        changed = time.monotonic()
        written = 0
        while metric(agent, "shipper_records_rate_limited_total", namespace="noisy") == 0:
            assert time.monotonic() - changed < 5, "the namespace's limit did not take effect"
            flood.write(f"flood {written + i}" for i in range(50))
            written += 50
            time.sleep(0.1)
        flood.write(f"flood {written + i}" for i in range(2000))
        written += 2000
        web.write(f"quiet {i}" for i in range(100))  # another namespace is not slowed
        wait_for(lambda: sum(logs()[f"quiet {i}"] for i in range(100)) == 100, 5, "quiet lines")
        wait_for(
            lambda: any("rate limit dropped" in text for text in logs()), 5, "a marker document"
        )
        wait_for(
            lambda: (
                sum(n for text, n in logs().items() if text.startswith("flood "))
                + metric(agent, "shipper_records_rate_limited_total", namespace="noisy")
                == written
            ),
            what="every flood line kept or counted",
        )
    finally:
        code, err = agent.terminate()
    assert code == 0, err.decode()[-3000:]
    flooded = Counter(d["log"] for d in read_documents(out) if d["log"].startswith("flood "))
    assert max(flooded.values()) == 1
    markers = [d for d in read_documents(out) if "rate limit dropped" in d["log"]]
    assert re.match(r"shipper: rate limit dropped \d+ lines of noisy/flood/app", markers[0]["log"])
    assert markers[0]["kubernetes"]["namespace_name"] == "noisy"


def _drop_annotation_takes_effect(
    kube: FakeKubeApiServer, web: Container, logs: Callable[[], Counter[str]]
) -> None:
    """`shipper.io/drop` set on the running pod `web`: within seconds its DEBUG lines stop."""
    web.write(["DEBUG 0", "INFO 0"])
    wait_for(lambda: logs()["DEBUG 0"] == logs()["INFO 0"] == 1, what="both lines")
    kube.update_pod("default", "web", annotations={"shipper.io/drop": "^DEBUG"})
    changed = time.monotonic()
    n = 0
    while True:  # lines go on being written; from some point DEBUG ones stop arriving
        n += 1
        web.write([f"DEBUG {n}", f"INFO {n}"])
        wait_for(lambda n=n: logs()[f"INFO {n}"] == 1, what=f"INFO {n}")
        if not logs()[f"DEBUG {n}"]:
            break
        assert time.monotonic() - changed < 5, "the drop annotation did not take effect"
    web.write([f"DEBUG {n + 1}", f"INFO {n + 1}"])
    wait_for(lambda: logs()[f"INFO {n + 1}"] == 1, what="a line after the change")
    assert logs()[f"DEBUG {n + 1}"] == 0


@pytest.fixture
def es() -> Iterator[FakeElasticsearch]:
    with FakeElasticsearch() as server:
        yield server


def test_kept_lines_exactly_once_and_dropped_ones_counted_across_a_sigkill(
    tmp_path: Path, es: FakeElasticsearch
) -> None:
    root, state = tmp_path / "node", tmp_path / "state"
    shop = Container(root, "shop", "api", "app", container_id="cd" * 32)
    args = ["--path", str(root / "var/log/containers/*.log"), "--state-dir", str(state)]
    env = {
        "SHIPPER_ES_HOSTS": es.url,
        "SHIPPER_FLUSH_INTERVAL": "100ms",
        "SHIPPER_FILTERS": FILTERS,
        "SHIPPER_BATCH_MAX_RECORDS": "200",
    }
    levels = ("INFO", "WARN", "DEBUG", "ERROR")

    def line(i: int) -> str:
        probe = " kube-probe/1.30" if i % 7 == 0 else ""
        return f"{levels[i % 4]} {i}{probe}"

    def kept(text: str) -> bool:
        return "kube-probe/" not in text and text.split()[0] in ("WARN", "ERROR")

    total, restart = _killed_while_writing(Agent(args, env), shop, state, es, line)
    shop.write(line(total + i) for i in range(500))
    second = Agent(args, env).start().wait_ready()
    try:
        wanted = [w.text for w in shop.written if kept(w.text)]
        wait_for(lambda: es.count() == len(wanted), 30, "every kept line")
        wait_for(lambda: second.get("/metrics").text.count("shipper_records_filtered") > 0)
        probes = metric(second, "shipper_records_filtered_total", rule="probes")
        warn = metric(second, "shipper_records_filtered_total", rule="shop-warn")
    finally:
        code, err = second.terminate()
    assert code == 0, err.decode()[-3000:]
    stored = Counter(doc["log"] for doc in es.documents().values())
    assert stored == Counter(wanted)  # every kept line exactly once, nothing dropped stored
    # The second agent dropped (and counted) exactly the dropped lines after the position
    # the first one committed; those before it were acknowledged by their drop.
    again = [w.text for w in shop.written if w.offset >= restart and not kept(w.text)]
    assert probes + warn == len(again)
    assert probes == sum("kube-probe/" in text for text in again)


def _killed_while_writing(
    first: Agent, shop: Container, state: Path, es: FakeElasticsearch, line: Callable[[int], str]
) -> tuple[int, int]:
    """Run `first` while lines are written and shipped, kill -9 it after a position was
    saved; the lines written and the offset a second agent restarts at."""
    saved = state / "positions.json"  # where the second agent starts reading again

    def committed() -> int:
        files = orjson.loads(saved.read_bytes())["files"] if saved.exists() else []
        return int(files[0]["offset"]) if files else 0

    first.start().wait_ready()
    total = 0
    while es.count() < 1000 or committed() == 0:  # killed while lines are still being
        shop.write(line(total + i) for i in range(500))  # written and shipped, after
        total += 500  # a position was saved
        time.sleep(0.02)
    shop.write(line(total + i) for i in range(500))
    total += 500
    first.kill()
    restart = committed()
    assert 0 < restart < shop.path.stat().st_size
    return total, restart
