"""`check-config --connect` against the fake Elasticsearch and the fake API server."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.elasticsearch import FakeElasticsearch
from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.integration.harness import free_port
from tests.integration.test_first_run import locations, shipper


def connect(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Exit code and the lines about endpoints."""
    done = shipper("check-config", "--connect", "--state-dir", str(tmp_path / "s"), *args, env=env)
    assert "Traceback" not in done.stderr
    lines = [
        line for line in done.stdout.splitlines() if line.startswith(("elasticsearch ", "kube"))
    ]
    return done.returncode, lines


def es_args(tmp_path: Path, *urls: str) -> list[str]:
    args = locations(tmp_path)[:2]
    for url in urls:
        args += ["--es", url]
    return args


def test_a_reachable_cluster_that_lets_the_user_write(tmp_path: Path) -> None:
    with FakeElasticsearch(username="shipper", password="pw") as es:
        env = {"SHIPPER_ES_USER": "shipper", "SHIPPER_ES_PASSWORD": "pw"}
        code, lines = connect(tmp_path, *es_args(tmp_path, es.url), env=env)
    assert code == 0
    assert lines == [
        f"elasticsearch {es.url}: ok: Elasticsearch 8.15.0 (default distribution), cluster "
        "fake-elasticsearch; user shipper may create_doc into logstash-*"
    ]


def test_a_user_without_the_write_privilege(tmp_path: Path) -> None:
    with FakeElasticsearch(
        username="reader", password="pw", index_privileges={"logstash-*": ["read"]}
    ) as es:
        env = {
            "SHIPPER_ES_USER": "reader",
            "SHIPPER_ES_PASSWORD": "pw",
            "SHIPPER_ES_OP_TYPE": "index",
        }
        code, lines = connect(tmp_path, *es_args(tmp_path, es.url), env=env)
    assert code == 1
    assert lines == [
        f"elasticsearch {es.url}: FAILED: Elasticsearch 8.15.0 (default distribution), cluster "
        "fake-elasticsearch; user reader lacks index on logstash-*: grant them to its role"
    ]


def test_template_install_needs_the_cluster_privilege_and_reports_the_template(
    tmp_path: Path,
) -> None:
    with FakeElasticsearch(
        api_key="a2V5OnNlY3JldA==",
        index_privileges={"logstash-*": ["write"]},
        cluster_privileges=["monitor"],
    ) as es:
        env = {"SHIPPER_ES_API_KEY": "a2V5OnNlY3JldA==\n", "SHIPPER_ES_TEMPLATE": "install"}
        code, lines = connect(tmp_path, *es_args(tmp_path, es.url), env=env)
    assert code == 1
    assert lines == [
        f"elasticsearch {es.url}: FAILED: Elasticsearch 8.15.0 (default distribution), cluster "
        "fake-elasticsearch; user _api_key lacks cluster manage_index_templates: grant them to "
        "its role; template shipper absent: installed at start"
    ]


def test_wrong_credentials_and_an_unreachable_host_each_get_a_line(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    with FakeElasticsearch(username="elastic", password="right") as es:
        wrong = es.url.replace("://", "://elastic:wrong@")
        code, lines = connect(tmp_path, *es_args(tmp_path, wrong, down))
    assert code == 1
    assert lines[0] == (
        f"elasticsearch {es.url}: FAILED: credentials refused (401): check "
        "SHIPPER_ES_USER/_PASSWORD or _API_KEY"
    )
    assert lines[1].startswith(f"elasticsearch {down}: FAILED: unreachable (ConnectError")
    assert len(lines) == 2


def test_security_off_is_reported_without_a_privileges_check(tmp_path: Path) -> None:
    with FakeElasticsearch() as es:
        code, lines = connect(tmp_path, *es_args(tmp_path, es.url))
    assert code == 0
    assert lines[0].endswith(
        "; no credentials set (security off, or anonymous access): write not checked"
    )


def test_the_kubernetes_api_lists_this_nodes_pods(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("the-token\n")
    with FakeKubeApiServer(token_file=token) as kube:
        kube.add_pod("web-1", node="node-a")
        kube.add_pod("web-2", node="node-a")
        kube.add_pod("other", node="node-b")
        env = {
            "SHIPPER_KUBE_URL": kube.url,
            "SHIPPER_KUBE_TOKEN_FILE": str(token),
            "NODE_NAME": "node-a",
        }
        code, lines = connect(tmp_path, *locations(tmp_path)[:2], env=env)
        assert code == 0
        assert lines == [f"kubernetes {kube.url}: ok: 2 pods on node node-a"]
        env["SHIPPER_KUBE_TOKEN_FILE"] = str(tmp_path / "no-token")
        code, lines = connect(tmp_path, *locations(tmp_path)[:2], env=env)
    assert code == 1
    assert lines == [
        f"kubernetes {kube.url}: FAILED: listing pods failed (Kubernetes API error 401 "
        "Unauthorized: Unauthorized): check SHIPPER_KUBE_TOKEN_FILE and the RBAC rules"
    ]
