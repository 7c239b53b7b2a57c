"""No secret is ever printed: every command and scenario, every output scanned.

Each scenario runs the real command with test secrets put where users put them (in URLs,
with stray line breaks, in a token file) and returns everything it produced: stdout,
stderr (at debug level), the files it wrote, and /metrics. None may contain a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.elasticsearch import FakeElasticsearch
from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.integration.harness import Agent, Container, free_port, wait_for
from tests.integration.test_first_run import shipper

PASSWORD = "Pa55-S3cret-pw"
WRONG_PASSWORD = "Wr0ng-S3cret-pw"
API_KEY = "QXBpS2V5UzNjcmV0OmtleQ=="
TOKEN = "kube-S3cret-token"
SECRETS = (PASSWORD, WRONG_PASSWORD, API_KEY, TOKEN, "S3cret")
DEBUG = {"SHIPPER_LOG_LEVEL": "debug", "SHIPPER_ONCE_RETRY_TIMEOUT": "1s"}

Outputs = list[tuple[str, bytes]]  # (what, content)


def with_password(url: str, password: str = PASSWORD) -> str:
    return url.replace("://", f"://elastic:{password}@")


def logs(tmp_path: Path) -> str:
    Container(tmp_path / "node", "ns", "pod", "app").write(["hello", "world"])
    return str(tmp_path / "node/var/log/containers/*.log")


def once(tmp_path: Path, *args: str) -> list[str]:
    return ["--once", "--path", logs(tmp_path), "--state-dir", str(tmp_path / "state"), *args]


def ran(what: str, done: object, expected_code: int) -> Outputs:
    code = done.returncode  # type: ignore[attr-defined]
    stdout, stderr = done.stdout, done.stderr  # type: ignore[attr-defined]
    as_bytes = [s if isinstance(s, bytes) else s.encode() for s in (stdout or b"", stderr)]
    assert code == expected_code, f"{what}: {as_bytes[1].decode()[-2000:]}"
    return [(f"{what} stdout", as_bytes[0]), (f"{what} stderr", as_bytes[1])]


def url_credentials_delivered(tmp_path: Path) -> Outputs:
    with FakeElasticsearch(username="elastic", password=PASSWORD) as es:
        done = Agent(once(tmp_path, "--es", with_password(es.url)), DEBUG).run()
        assert es.count() == 2
        checked = shipper(
            "check-config", "--connect", *once(tmp_path, "--es", with_password(es.url))
        )
    return ran("run", done, 0) + ran("check-config --connect", checked, 0)


def wrong_password_in_the_variable(tmp_path: Path) -> Outputs:
    with FakeElasticsearch(username="elastic", password=PASSWORD) as es:
        env = DEBUG | {"SHIPPER_ES_HOSTS": with_password(es.url, WRONG_PASSWORD)}
        done = Agent(once(tmp_path), env).run()
        checked = shipper("check-config", "--connect", *once(tmp_path), env=env)
    return ran("run", done, 3) + ran("check-config --connect", checked, 1)


def api_key_with_a_newline_during_an_outage(tmp_path: Path) -> Outputs:
    with FakeElasticsearch(api_key=API_KEY) as es:
        es.set_outage(True)
        env = DEBUG | {"SHIPPER_ES_HOSTS": es.url, "SHIPPER_ES_API_KEY": API_KEY + "\n"}
        args = once(tmp_path)
        failed = Agent(args, env).run()
        es.set_outage(False)
        delivered = Agent(args, env).run()
        assert es.count() == 2  # the trimmed key is accepted
    return ran("run in outage", failed, 3) + ran("run", delivered, 0)


def api_key_to_an_unreachable_host(tmp_path: Path) -> Outputs:
    env = DEBUG | {
        "SHIPPER_ES_HOSTS": f"https://127.0.0.1:{free_port()}",
        "SHIPPER_ES_API_KEY": f"  {API_KEY}\r\n",
    }
    return ran("run", Agent(once(tmp_path), env).run(), 3)


def rejected_then_replayed(tmp_path: Path) -> Outputs:
    with FakeElasticsearch(username="elastic", password=PASSWORD) as es:
        es.set_item_rejections(1.0, status=400)
        url = with_password(es.url)
        done = Agent(once(tmp_path, "--es", url), DEBUG).run()
        replayed = shipper(
            "replay-dead-letter", "--state-dir", str(tmp_path / "state"), "--es", url, env=DEBUG
        )
    assert (tmp_path / "state/dead-letter.ndjson").stat().st_size > 0
    return ran("run", done, 0) + ran("replay-dead-letter", replayed, 1)


def config_mistakes(tmp_path: Path) -> Outputs:
    outputs: Outputs = []
    mistakes: list[tuple[dict[str, str], int]] = [
        ({"SHIPPER_ES_HOSTS": with_password("https://es:bad")}, 2),
        ({"SHIPPER_ES_HOSTS": with_password("ftp://es")}, 2),
        ({"SHIPPER_KUBE_URL": with_password("https://k8s:443")}, 2),
        ({"FLUENT_ELASTICSEARCH_HOST": f"elastic:{PASSWORD}@es"}, 2),
        ({"FLUENT_FILTER_KUBERNETES_URL": with_password("https://k8s:443/api")}, 2),
        ({"SHIPPER_ES_API_KEY": f"{API_KEY}\n{API_KEY}", "SHIPPER_ES_HOSTS": "http://es"}, 2),
        ({"SHIPPER_ES_PASSWORD": f" {PASSWORD}\n"}, 2),  # no user
        ({"SHIPPER_ES_USER": "u", "SHIPPER_ES_PASSWORD": f" {PASSWORD}\n"}, 0),
        ({"SHIPPER_ES_HOSTS": with_password("http://a:9200") + "," + with_password("http://b")}, 0),
        ({"SHIPPER_ES_HOSTS": with_password("http://a") + "," + with_password("http://b", "x")}, 2),
        ({"SHIPPER_ES_HOSTS": with_password("http://a"), "SHIPPER_ES_API_KEY": API_KEY}, 2),
    ]
    (tmp_path / "logs").mkdir()
    for env, code in mistakes:
        args = ["--state-dir", str(tmp_path / "s"), "--path", str(tmp_path / "logs/*")]
        outputs += ran(f"check-config {env}", shipper("check-config", *args, env=env), code)
        if code == 2:
            outputs += ran(f"run {env}", shipper("run", "--once", *args, env=env), code)
    for args in (["--help"], ["run", "--help"], ["version"], ["--version"]):
        outputs += ran(" ".join(args), shipper(*args, env={"SHIPPER_ES_API_KEY": API_KEY}), 0)
    return outputs


def token_files(tmp_path: Path) -> Outputs:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    token, broken = secrets / "token", secrets / "broken"
    token.write_text(TOKEN + "\n")
    broken.write_text(f"{TOKEN}\n{TOKEN}\n")
    with FakeKubeApiServer(token_file=token) as kube:
        kube.add_pod("pod", namespace="ns", node="node-a")
        env = DEBUG | {"SHIPPER_KUBE_URL": kube.url, "NODE_NAME": "node-a"}
        good = env | {"SHIPPER_KUBE_TOKEN_FILE": str(token)}
        out = tmp_path / "out.ndjson"
        done = Agent(once(tmp_path, "--output", f"file:{out}"), good).run()
        assert b'"pod_name":"pod"' in out.read_bytes()  # enriched: the token worked
        bad = env | {"SHIPPER_KUBE_TOKEN_FILE": str(broken)}
        refused = Agent(once(tmp_path, "--output", f"file:{out}"), bad).run()
        checked = shipper("check-config", "--connect", *once(tmp_path), env=good)
    return ran("run", done, 0) + ran("run broken token", refused, 2) + ran("connect", checked, 0)


def running_agent_and_its_metrics(tmp_path: Path) -> Outputs:
    token = tmp_path / "secrets/token"
    token.parent.mkdir()
    token.write_text(TOKEN)
    with (
        FakeElasticsearch(username="elastic", password=PASSWORD) as es,
        FakeKubeApiServer(token_file=token) as kube,
    ):
        env = DEBUG | {
            "SHIPPER_ES_HOSTS": with_password(es.url),
            "SHIPPER_KUBE_URL": kube.url,
            "SHIPPER_KUBE_TOKEN_FILE": str(token),
            "NODE_NAME": "node-a",
        }
        args = ["--path", logs(tmp_path), "--state-dir", str(tmp_path / "state")]
        agent = Agent(args, env).start().wait_ready()
        wait_for(lambda: es.count() == 2, what="delivered")
        pages = [(path, agent.get(path).content) for path in ("/metrics", "/healthz", "/readyz")]
        code, stderr = agent.terminate()
    assert code == 0
    return [(f"GET {path}", page) for path, page in pages] + [("run stderr", stderr)]


SCENARIOS: list[Callable[[Path], Outputs]] = [
    url_credentials_delivered,
    wrong_password_in_the_variable,
    api_key_with_a_newline_during_an_outage,
    api_key_to_an_unreachable_host,
    rejected_then_replayed,
    config_mistakes,
    token_files,
    running_agent_and_its_metrics,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_no_output_contains_a_secret(tmp_path: Path, scenario: Callable[[Path], Outputs]) -> None:
    outputs = scenario(tmp_path)
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file() and "secrets" not in path.parts:
            outputs.append((f"file {path.relative_to(tmp_path)}", path.read_bytes()))
    assert len(outputs) >= 2
    for what, content in outputs:
        assert b"Traceback" not in content, what
        for secret in SECRETS:
            assert secret.encode() not in content, f"{secret!r} in {what}"
