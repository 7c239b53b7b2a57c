"""Every Elasticsearch-shaped target: Elasticsearch 7 and 8, OpenSearch 1 and 2, data streams.

The test servers answer as each engine does (tests/fakes/es_protocol.py says where the
shapes come from): OpenSearch names itself in `GET /`, has no `flattened` type and,
before 2.7, no `flat_object` either, and refuses a template that uses one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipper.settings import Output, Settings
from shipper.sinks.elasticsearch.data_stream import compile_data_stream, parse_data_stream
from shipper.sinks.elasticsearch.distribution import Cluster, cluster_of
from shipper.sinks.elasticsearch.target_template import BELOW_BUILTIN, PRIORITY
from shipper.sinks.elasticsearch.template import default_template, desired_template
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.sinks.support import Acks, es_settings, running

ENGINES = [
    ("elasticsearch", "7.17.22", {"type": "flattened"}),
    ("elasticsearch", "8.15.0", {"type": "flattened"}),
    ("opensearch", "1.3.19", {"type": "object", "enabled": False}),
    ("opensearch", "2.6.0", {"type": "object", "enabled": False}),
    ("opensearch", "2.17.1", {"type": "flat_object"}),
]
LABELS = [{"app": "web"}, {"app.kubernetes.io/name": "web"}, {"app": {"tier": "x"}}]


def _stored(es: FakeElasticsearch, name: str = "shipper") -> dict[str, Any]:
    answer = httpx.get(f"{es.url}/_index_template/{name}")
    assert answer.status_code == 200, answer.text
    return answer.json()["index_templates"][0]["index_template"]


def _labelled(acks: Acks, **fields: Any) -> list:
    """One document per entry of LABELS: `app` as a value, a dotted key, and an object."""
    blocks = []
    for n, labels in enumerate(LABELS):
        kubernetes = {"namespace_name": "shop", "pod_name": "web-1", "labels": labels}
        blocks += acks.events(1, start=n, fields={"kubernetes": kubernetes}, **fields)
    return blocks


@pytest.mark.parametrize(("distribution", "version", "labels"), ENGINES)
async def test_each_engine_gets_a_template_it_accepts_and_conflicting_labels_all_land(
    tmp_path: Path,
    distribution: str,
    version: str,
    labels: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="shipper.elasticsearch")
    acks = Acks()
    with FakeElasticsearch(version=version, distribution=distribution) as es:
        settings = es_settings(tmp_path, es.url, es_template="install")
        async with running(settings) as sink:
            await sink.send(_labelled(acks))
            assert await sink.drain(5)
        stored = _stored(es)
        assert (
            stored["template"]["mappings"]["properties"]["kubernetes"]["properties"]["labels"]
            == labels
        )
        assert es.count() == len(LABELS)
        assert {r.status for r in es.requests if r.path == "/_index_template/shipper"} <= {
            200,
            404,
        }
    assert not (tmp_path / "dead-letter.ndjson").exists()
    name = "OpenSearch" if distribution == "opensearch" else "Elasticsearch"
    assert f"connected to {name} {version}" in caplog.text


@pytest.mark.parametrize("version", ["1.3.19", "2.17.1"])
def test_opensearch_refuses_the_elasticsearch_template(version: str) -> None:
    """What the fitting above is for: `flattened` does not exist on OpenSearch."""
    with FakeElasticsearch(version=version, distribution="opensearch") as es:
        answer = httpx.put(f"{es.url}/_index_template/x", json=default_template(["logs-*"]))
    assert answer.status_code == 400
    assert "No handler for type [flattened]" in answer.json()["error"]["reason"]


def test_cluster_of_root_answers() -> None:
    with FakeElasticsearch(version="2.11.0", distribution="opensearch") as es:
        found = cluster_of(httpx.get(es.url).json())
    assert found == Cluster("opensearch", (2, 11), "2.11.0") and found.flat_object
    with FakeElasticsearch(version="7.17.22") as es:
        assert cluster_of(httpx.get(es.url).json()) == Cluster("elasticsearch", (7, 17), "7.17.22")
    with pytest.raises(ValueError):
        cluster_of({"version": {"number": "1.0", "distribution": "solr"}})
    with pytest.raises(ValueError):
        cluster_of({"tagline": "no version"})


async def test_output_opensearch_stands_in_while_get_root_is_unreadable(tmp_path: Path) -> None:
    """Amazon OpenSearch Serverless has no GET /: SHIPPER_OUTPUT=opensearch says what it is."""
    with FakeElasticsearch(version="2.17.1", distribution="opensearch") as es:
        es.spoil_answers("html", path="/")
        output = Output("elasticsearch", distribution="opensearch")
        settings = es_settings(tmp_path, es.url, es_template="install", output=output)
        async with running(settings) as sink:
            await sink.send(_labelled(Acks()))
            assert await sink.drain(5)
        kubernetes = _stored(es)["template"]["mappings"]["properties"]["kubernetes"]
        assert es.count() == len(LABELS)
    assert kubernetes["properties"]["labels"] == {"type": "object", "enabled": False}
    assert str(output) == "opensearch"


# --- data streams


def test_data_stream_names_are_checked() -> None:
    assert parse_data_stream(" logs-kubernetes-{kubernetes.namespace_name} ") == (
        "logs-kubernetes-{kubernetes.namespace_name}"
    )
    for bad, words in [
        ("logs-kubernetes", "<type>-<dataset>-<namespace>"),
        ("logs-k8s-%Y.%m.%d", "no dates"),
        ("Logs-k8s-default", "lower case"),
        ("logs-k8s-{a b}", "bad placeholder"),
        ("logs-{x-default", "unbalanced"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_data_stream(bad)


def test_data_stream_placeholders_are_sanitised_into_one_part() -> None:
    pattern = compile_data_stream("logs-kubernetes-{kubernetes.namespace_name}")
    fields = {"kubernetes": {"namespace_name": "Kube-System:a"}}
    assert pattern.render("2024-05-01T00:00:00Z", fields) == "logs-kubernetes-kube_system_a"
    assert pattern.render("2024-05-01T00:00:00Z", {}) == "logs-kubernetes-unknown"
    assert pattern.wildcard == "logs-kubernetes-*"


def test_data_stream_template_never_shadows_the_builtin_logs_template() -> None:
    narrow = desired_template(Settings(es_data_stream="logs-kubernetes-{kubernetes.pod_name}"))
    assert narrow["data_stream"] == {} and narrow["index_patterns"] == ["logs-kubernetes-*"]
    assert narrow["priority"] == PRIORITY
    wide = desired_template(Settings(es_data_stream="logs-{a}-{b}"))
    assert wide["index_patterns"] == ["logs-*"] and wide["priority"] == BELOW_BUILTIN < 100
    asked = desired_template(Settings(es_data_stream="logs-{a}-{b}", es_template_priority=300))
    assert asked["priority"] == 300
    daily = desired_template(Settings())
    assert "data_stream" not in daily and daily["priority"] == PRIORITY  # unchanged


@pytest.mark.parametrize(("distribution", "version", "backing"), [
    ("elasticsearch", "7.10.2", ".ds-logs-kubernetes-shop-000002"),
    ("elasticsearch", "8.15.0", ".ds-logs-kubernetes-shop-20"),
    ("opensearch", "1.3.19", ".ds-logs-kubernetes-shop-000002"),
    ("opensearch", "2.17.1", ".ds-logs-kubernetes-shop-000002"),
])  # fmt: skip
async def test_data_stream_create_only_backing_indices_and_rollover(
    tmp_path: Path, distribution: str, version: str, backing: str
) -> None:
    acks = Acks()
    with FakeElasticsearch(version=version, distribution=distribution) as es:
        settings = es_settings(
            tmp_path,
            es.url,
            es_template="install",
            es_data_stream="logs-kubernetes-{kubernetes.namespace_name}",
            es_lifecycle_policy="logs-30d",
        )
        async with running(settings) as sink:
            await sink.send(_labelled(acks))
            assert await sink.drain(5)
            rolled = httpx.post(f"{es.url}/logs-kubernetes-shop/_rollover").json()
            assert rolled["rolled_over"] and rolled["new_index"].endswith("-000002")
            shop = {"kubernetes": {"namespace_name": "shop", "pod_name": "web-1"}}
            await sink.send(acks.events(4, start=10, fields=shop) + acks.events(5, start=20))
            assert await sink.drain(5)
        assert es.indices() == ["logs-kubernetes-default", "logs-kubernetes-shop"]
        assert len(es.documents("logs-kubernetes-shop")) == len(LABELS) + 4
        assert len(es.documents("logs-kubernetes-default")) == 5
        stored = _stored(es)
        assert stored["data_stream"] == {}
        if distribution == "elasticsearch":
            policy = {"index": {"lifecycle": {"name": "logs-30d"}}}
            assert stored["template"]["settings"] == policy
        bulk = [r for r in es.requests if r.path == "/_bulk"]
        assert all(b'{"create":' in r.body and b'"index":' not in r.body for r in bulk)
        # the write index is now the second backing index, named as the engine names it
        (write_index,) = httpx.get(f"{es.url}/logs-kubernetes-shop").json()
        assert write_index.startswith(backing) and write_index.endswith("-000002")
    assert not (tmp_path / "dead-letter.ndjson").exists()


def test_the_fake_data_stream_refuses_the_index_op() -> None:
    with FakeElasticsearch() as es:
        put = httpx.put(
            f"{es.url}/_index_template/ds",
            json={"index_patterns": ["logs-x-*"], "data_stream": {}, "priority": 200},
        )
        assert put.status_code == 200
        body = b'{"index":{"_index":"logs-x-y"}}\n{"@timestamp":"2024-05-01T00:00:00Z"}\n'
        answer = httpx.post(
            f"{es.url}/_bulk", content=body, headers={"Content-Type": "application/x-ndjson"}
        ).json()
    item = answer["items"][0]["index"]
    assert item["status"] == 400 and "op_type of create" in item["error"]["reason"]


async def test_lifecycle_policy_on_opensearch_is_explained_not_put(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeElasticsearch(version="2.17.1", distribution="opensearch") as es:
        settings = es_settings(
            tmp_path,
            es.url,
            es_template="install",
            es_data_stream="logs-k8s-default",
            es_lifecycle_policy="rollover-7d",
        )
        async with running(settings) as sink:
            await sink.send(Acks().events(2))
            assert await sink.drain(5)
        assert "settings" not in _stored(es)["template"]
        assert es.count() == 2
    assert "ism_template" in caplog.text


async def test_a_template_with_a_policy_is_not_put_again(tmp_path: Path) -> None:
    with FakeElasticsearch() as es:
        settings = es_settings(
            tmp_path, es.url, es_template="install", es_lifecycle_policy="logs-30d"
        )
        for _ in range(2):
            async with running(settings):
                pass
        puts = [r for r in es.requests if r.method == "PUT"]
    assert len(puts) == 1  # settings come back normalized, and still match
