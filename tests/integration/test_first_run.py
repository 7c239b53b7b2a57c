"""A new user's mistakes, through the real command: each gets one plain line, exit 2 for
what `run` cannot start with, and no traceback; what works says what it did."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.elasticsearch import FakeElasticsearch
from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.integration.harness import REPO, Agent, Container, kube_env

GARBAGE_PEM = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"


def shipper(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m shipper ARGS` with only PATH, PYTHONPATH and `env` in its environment."""
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "shipper", *args],
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


def problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("shipper: config error: ")]


def logs_dir(tmp_path: Path) -> Path:
    Container(tmp_path / "node", "ns", "pod", "app").write(["hello"])
    return tmp_path / "node/var/log/containers"


def both(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """check-config and `run --once` on the same mistake: same problem lines, both exit 2."""
    checked = shipper("check-config", *args, env=env)
    ran = shipper("run", *(args if "--once" in args else ("--once", *args)), env=env)
    for done in (checked, ran):
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
    assert problems(checked.stderr) == problems(ran.stderr)
    assert problems(ran.stderr)
    return problems(ran.stderr)


def locations(tmp_path: Path) -> list[str]:
    return ["--path", str(logs_dir(tmp_path) / "*.log"), "--output", f"file:{tmp_path / 'o'}"]


# --- the state directory


def test_a_state_dir_that_cannot_be_created(tmp_path: Path) -> None:
    lines = both(tmp_path, "--state-dir", "/proc/nope", *locations(tmp_path))
    assert lines == [
        "shipper: config error: SHIPPER_STATE_DIR='/proc/nope': cannot create the directory "
        "(No such file or directory): choose a writable place"
    ]


def test_a_state_dir_that_is_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("x")
    lines = both(tmp_path, "--state-dir", str(tmp_path / "state"), *locations(tmp_path))
    assert lines == [
        f"shipper: config error: SHIPPER_STATE_DIR='{tmp_path / 'state'}': not a directory: "
        "point it at a directory"
    ]


def test_a_positions_file_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "state/positions.json").mkdir(parents=True)
    lines = both(tmp_path, "--state-dir", str(tmp_path / "state"), *locations(tmp_path))
    assert lines == [
        f"shipper: config error: {tmp_path / 'state/positions.json'}: not a regular file: "
        "move it away (shipper recreates it)"
    ]


def test_check_config_creates_nothing_and_run_keeps_the_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "a/b/state"
    args = ["--state-dir", str(state), *locations(tmp_path)]
    assert shipper("check-config", *args).returncode == 0
    assert not (tmp_path / "a").exists()
    done = shipper("run", "--once", *args)
    assert done.returncode == 0, done.stderr
    assert (state / "positions.json").is_file()


# --- TLS files and the token


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        (["SHIPPER_ES_CA_FILE"], "SHIPPER_ES_CA_FILE="),
        (["SHIPPER_ES_CLIENT_CERT", "SHIPPER_ES_CLIENT_KEY"], "SHIPPER_ES_CLIENT_CERT="),
        (["SHIPPER_KUBE_CA_FILE"], "SHIPPER_KUBE_CA_FILE="),
    ],
)
def test_garbage_pem_is_named(tmp_path: Path, variables: list[str], named: str) -> None:
    pem = tmp_path / "garbage.pem"
    pem.write_text(GARBAGE_PEM)
    env = {name: str(pem) for name in variables}
    env["SHIPPER_KUBE_URL"] = "https://127.0.0.1:1"
    env["SHIPPER_KUBE_TOKEN_FILE"] = str(tmp_path / "token")
    (tmp_path / "token").write_text("t0ken\n")
    lines = both(tmp_path, "--state-dir", str(tmp_path / "s"), *locations(tmp_path), env=env)
    assert len(lines) == 1
    assert named in lines[0] and str(pem) in lines[0] and "PEM" in lines[0]


def test_a_missing_token_file_is_a_warning_that_says_what_to_do(tmp_path: Path) -> None:
    env = {"SHIPPER_KUBE_URL": "https://127.0.0.1:1", "SHIPPER_KUBE_TOKEN_FILE": "/nope/token"}
    done = shipper(
        "check-config", "--state-dir", str(tmp_path / "s"), *locations(tmp_path), env=env
    )
    assert done.returncode == 0, done.stderr
    assert (
        "shipper: warning: SHIPPER_KUBE_TOKEN_FILE='/nope/token': no such file: the Kubernetes "
        "API will refuse requests without a token (401); mount the service-account token or "
        "set SHIPPER_KUBE_TOKEN_FILE"
    ) in done.stderr.splitlines()


def test_run_with_a_missing_token_file_says_so_before_the_401s(tmp_path: Path) -> None:
    token = tmp_path / "server-token"
    token.write_text("the-token")
    with FakeKubeApiServer(token_file=token) as kube:
        env = kube_env(kube.url, tmp_path / "missing-token")
        args = ["--state-dir", str(tmp_path / "s"), *locations(tmp_path)]
        done = Agent(["--once", *args], env).run()
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    first = next(line for line in stderr.splitlines() if "SHIPPER_KUBE_TOKEN_FILE" in line)
    assert "missing-token': no such file" in first and '"level":"warning"' in first


def test_a_token_file_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "token").mkdir()
    env = {
        "SHIPPER_KUBE_URL": "https://127.0.0.1:1",
        "SHIPPER_KUBE_TOKEN_FILE": str(tmp_path / "token"),
    }
    lines = both(tmp_path, "--state-dir", str(tmp_path / "s"), *locations(tmp_path), env=env)
    assert lines == [
        f"shipper: config error: SHIPPER_KUBE_TOKEN_FILE='{tmp_path / 'token'}': cannot be read "
        "(Is a directory): fix its permissions"
    ]


# --- globs


def test_a_glob_whose_directory_does_not_exist(tmp_path: Path) -> None:
    args = ["--state-dir", str(tmp_path / "s"), "--path", str(tmp_path / "no/*.log")]
    lines = both(tmp_path, "--once", *args)
    line = (
        f"SHIPPER_PATHS (--path) '{tmp_path / 'no/*.log'}': the directory "
        f"{tmp_path / 'no'} does not exist"
    )
    assert lines == [f"shipper: config error: {line}"]
    checked = shipper("check-config", *args)  # the agent keeps looking: a warning
    assert checked.returncode == 0
    assert f"shipper: warning: {line}" in checked.stderr.splitlines()


def test_once_with_no_file_matched_says_so_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    glob = str(tmp_path / "logs/*.log")
    ran = shipper("run", "--once", "--state-dir", str(tmp_path / "s"), "--path", glob)
    assert ran.returncode == 2
    assert problems(ran.stderr) == [
        f"shipper: config error: SHIPPER_PATHS (--path): no file matches {glob}: nothing to read"
    ]
    checked = shipper("check-config", "--state-dir", str(tmp_path / "s"), "--path", glob)
    assert checked.returncode == 0  # the agent would wait for files: a warning only
    assert f"shipper: warning: SHIPPER_PATHS (--path): no file matches {glob}" in checked.stderr


def without_read_override(args: list[str]) -> list[str]:
    """Run as root without the capabilities that ignore file permissions."""
    if os.geteuid() != 0:
        return args
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", *args]


def test_once_with_an_unreadable_file_exits_2_naming_it(tmp_path: Path) -> None:
    logs = logs_dir(tmp_path)
    locked = tmp_path / "node/locked.log"
    locked.write_text("secret lines\n")
    locked.chmod(0)
    (logs / "locked.log").symlink_to(locked)
    agent = Agent(["--once", "--state-dir", str(tmp_path / "s"), *locations(tmp_path)[:2]])
    done = subprocess.run(
        without_read_override(agent.args), env=agent.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert problems(done.stderr) == [
        f"shipper: config error: {locked}: cannot be read (Permission denied): fix its "
        "permissions, or leave it out with --exclude"
    ]


# --- --once says what it did


def test_once_summary_and_a_second_run_with_nothing_new(tmp_path: Path) -> None:
    container = Container(tmp_path / "node", "ns", "pod", "app")
    container.write(["one", "two", "three"])
    args = ["--once", "--state-dir", str(tmp_path / "s"), "--output", f"file:{tmp_path / 'o'}"]
    args += ["--path", str(tmp_path / "node/var/log/containers/*.log")]
    first = Agent(args).run()
    assert first.returncode == 0
    summary = first.stderr.decode().splitlines()[-1]
    assert summary.startswith(
        "shipper --once: 1 file, 3 records read, 3 delivered, 0 dead-lettered, 0 dropped in "
    )
    second = Agent(args).run()
    assert second.returncode == 0
    again = second.stderr.decode().splitlines()[-1]
    assert again.startswith("shipper --once: 1 file, 0 records read, 0 delivered, ")
    assert again.endswith(": nothing new since the saved positions")


# --- help and names


def test_version_flag_and_command() -> None:
    for args in (["--version"], ["version"]):
        done = shipper(*args)
        assert done.returncode == 0
        assert done.stdout.startswith("shipper ")


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]])
def test_help_lists_the_main_variables_by_topic_with_defaults(args: list[str]) -> None:
    done = shipper(*args)
    assert done.returncode == 0
    text = done.stdout
    for group in ("input:", "output:", "Kubernetes:", "limits:"):
        assert f"\n  {group}\n" in text
    assert "SHIPPER_ES_HOSTS" in text and "SHIPPER_KUBE_TOKEN_FILE" in text
    assert "SHIPPER_FLUSH_INTERVAL" in text and "(default: 1s)" in text
    assert text.index("input:") < text.index("SHIPPER_PATHS") < text.index("output:")


def test_a_misspelled_variable_gets_the_right_name(tmp_path: Path) -> None:
    env = {"SHIPPER_ES_HOST": "http://127.0.0.1:9200"}
    done = shipper(
        "check-config", "--state-dir", str(tmp_path / "s"), *locations(tmp_path), env=env
    )
    assert (
        "note: SHIPPER_ES_HOST is not a shipper variable; did you mean SHIPPER_ES_HOSTS?"
        in done.stdout.splitlines()
    )
    ran = Agent(["--once", "--state-dir", str(tmp_path / "s"), *locations(tmp_path)], env).run()
    assert b"did you mean SHIPPER_ES_HOSTS?" in ran.stderr


def test_api_key_with_a_line_break_inside_is_refused_without_showing_it(tmp_path: Path) -> None:
    env = {"SHIPPER_ES_API_KEY": "abcdef\nghijkl", "SHIPPER_ES_HOSTS": "http://127.0.0.1:9"}
    lines = both(tmp_path, "--state-dir", str(tmp_path / "s"), *locations(tmp_path), env=env)
    assert lines == [
        "shipper: config error: SHIPPER_ES_API_KEY=***: has a space, line break or non-ASCII "
        "character inside: it must be the one-word key Elasticsearch gave (its `encoded` value)"
    ]


def test_credentials_in_the_kube_url_are_refused_and_masked(tmp_path: Path) -> None:
    env = {"SHIPPER_KUBE_URL": "https://admin:hunter22@127.0.0.1:6443"}
    done = shipper("check-config", env=env)
    assert done.returncode == 2
    assert problems(done.stderr) == [
        "shipper: config error: SHIPPER_KUBE_URL='https://admin:***@127.0.0.1:6443': credentials "
        "in the URL are not used: the API server is authenticated with the service-account "
        "token (SHIPPER_KUBE_TOKEN_FILE)"
    ]


def test_credentials_in_an_elasticsearch_url_are_basic_auth(tmp_path: Path) -> None:
    with FakeElasticsearch(username="elastic", password="p@ss word") as es:
        url = es.url.replace("://", "://elastic:p%40ss%20word@")
        args = ["--once", "--state-dir", str(tmp_path / "s"), "--path"]
        args += [str(logs_dir(tmp_path) / "*.log"), "--es", url]
        done = Agent(args).run()
        assert done.returncode == 0, done.stderr.decode()
        assert es.count() == 1


def test_a_state_dir_that_is_not_writable(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o555)
    agent = Agent(["--once", "--state-dir", str(state), *locations(tmp_path)])
    done = subprocess.run(
        without_read_override(agent.args), env=agent.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert problems(done.stderr) == [
        f"shipper: config error: SHIPPER_STATE_DIR='{state}': cannot write in it "
        "(Permission denied): make it writable"
    ]
