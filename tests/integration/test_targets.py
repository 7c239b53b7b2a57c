"""The real agent against each target: Elasticsearch 7 and 8, OpenSearch 1 and 2, a data
stream with ECS documents, and replays answered 409 alike on every engine."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.fakes.aws import AwsAccount, CredentialEndpoints, isolated_env
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.integration.harness import Agent, containers

ENGINES = [
    ("elasticsearch", "7.17.22"),
    ("elasticsearch", "8.15.0"),
    ("opensearch", "1.3.19"),
    ("opensearch", "2.17.1"),
]


def run_once(root: Path, state: Path, es: FakeElasticsearch, **env: str) -> str:
    args = ["--once", "--path", str(root / "var/log/containers/*.log"), "--state-dir", str(state)]
    result = Agent(args, {"SHIPPER_ES_HOSTS": es.url, "SHIPPER_LOG_FORMAT": "text", **env}).run()
    err = result.stderr.decode()
    assert result.returncode == 0, err[-3000:]
    return err


@pytest.mark.parametrize(("distribution", "version"), ENGINES)
def test_each_engine_gets_everything_once_and_a_replay_is_409(
    tmp_path: Path, distribution: str, version: str
) -> None:
    root = tmp_path / "node"
    (c,) = containers(root, 1)
    c.write(f"line {i}" for i in range(300))
    with FakeElasticsearch(version=version, distribution=distribution) as es:
        err = run_once(root, tmp_path / "state", es, SHIPPER_ES_TEMPLATE="install")
        assert es.count() == 300
        # the same lines again from a fresh state: same ids, `create` answered 409, no doubles
        run_once(root, tmp_path / "state2", es, SHIPPER_ES_TEMPLATE="install")
        assert es.count() == 300 and es.item_statuses[409] == 300
    name = "OpenSearch" if distribution == "opensearch" else "Elasticsearch"
    assert f"connected to {name} {version}" in err
    assert "index template shipper: create" in err


def test_data_stream_with_ecs_documents_on_opensearch(tmp_path: Path) -> None:
    root = tmp_path / "node"
    cs = containers(root, 2, namespace="kube-system")
    for c in cs:
        c.write(f"{c.pod} {i}" for i in range(50))
    with FakeElasticsearch(version="2.17.1", distribution="opensearch") as es:
        run_once(
            root,
            tmp_path / "state",
            es,
            SHIPPER_OUTPUT="opensearch",
            SHIPPER_ES_TEMPLATE="install",
            SHIPPER_ES_DATA_STREAM="logs-kubernetes-{kubernetes.namespace_name}",
            SHIPPER_SCHEMA="ecs",
        )
        assert es.indices() == ["logs-kubernetes-kube_system"]
        docs = list(es.documents("logs-kubernetes-kube_system").values())
        index_ops = [r for r in es.requests if r.path == "/_bulk" and b'{"index":' in r.body]
    assert len(docs) == 100 and not index_ops
    doc = docs[0]
    assert set(doc) == {"@timestamp", "message", "log", "container", "kubernetes", "ecs"}
    assert doc["kubernetes"]["namespace"] == "kube-system"
    assert doc["kubernetes"]["pod"]["name"].startswith("api-")
    assert doc["log"]["iostream"] == "stdout" and doc["log"]["file"]["path"].endswith(".log")
    assert doc["container"]["name"] == "app"


def test_bad_target_settings_fail_at_start_naming_the_variable(tmp_path: Path) -> None:
    es_url = "http://127.0.0.1:9"
    for env, words in [
        ({"SHIPPER_ES_DATA_STREAM": "logs-%Y"}, "SHIPPER_ES_DATA_STREAM="),
        (
            {"SHIPPER_ES_DATA_STREAM": "logs-a-b", "SHIPPER_ES_OP_TYPE": "index"},
            "SHIPPER_ES_OP_TYPE='index': a data stream",
        ),
        ({"SHIPPER_SCHEMA": "otel"}, "SHIPPER_SCHEMA='otel'"),
        ({"SHIPPER_ES_AWS_REGION": "mars"}, "SHIPPER_ES_AWS_REGION='mars'"),
    ]:
        result = Agent(
            ["--once", "--path", str(tmp_path / "*.log")], {"SHIPPER_ES_HOSTS": es_url, **env}
        ).run()
        assert result.returncode != 0
        assert words in result.stderr.decode(), result.stderr.decode()[-2000:]


def test_amazon_opensearch_with_pod_identity_credentials(tmp_path: Path) -> None:
    """Signed requests from the real agent, credentials from EKS Pod Identity's endpoint."""
    root = tmp_path / "node"
    (c,) = containers(root, 1)
    c.write(f"line {i}" for i in range(200))
    account = AwsAccount("eu-west-1", "es")
    token = tmp_path / "eks-pod-identity-token"
    token.write_text("pod-token")
    with (
        CredentialEndpoints(account, timedelta(hours=6), token="pod-token") as endpoints,
        FakeElasticsearch(version="2.17.1", distribution="opensearch", aws=account) as es,
    ):
        err = run_once(
            root,
            tmp_path / "state",
            es,
            **isolated_env(),
            SHIPPER_ES_AWS_REGION="eu-west-1",
            SHIPPER_ES_TEMPLATE="install",
            AWS_CONTAINER_CREDENTIALS_FULL_URI=f"{endpoints.url}/v1/credentials",
            AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(token),
        )
        assert es.count() == 200
        statuses = {r.status for r in es.requests}
    assert 403 not in statuses and endpoints.issued and endpoints.refused == 0
    assert "connected to OpenSearch 2.17.1" in err
