"""The `shipper` command through a real subprocess, with a controlled environment."""

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

import shipper
from shipper.cli import main
from shipper.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def shipper_cmd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "shipper", *args],
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def config_lines(stdout: str) -> dict[str, tuple[str, str]]:
    """check-config's `VARIABLE = value  (source)` lines: variable -> (value, source)."""
    lines = {}
    for line in stdout.splitlines():
        if " = " in line:
            variable, rest = line.split(" = ", 1)
            value, _, source = rest.rpartition("  (")
            lines[variable] = (value, source.removesuffix(")"))
    return lines


def test_version() -> None:
    done = shipper_cmd("version")
    assert done.returncode == 0
    assert done.stdout == f"shipper {shipper.__version__}\n"


def test_no_command_prints_help_and_exits_2() -> None:
    done = shipper_cmd()
    assert done.returncode == 2
    assert "check-config" in done.stderr and "replay-dead-letter" in done.stderr


def test_check_config_prints_every_variable_its_value_and_source(tmp_path: Path) -> None:
    env = {
        "SHIPPER_ES_USER": "elastic",
        "SHIPPER_ES_PASSWORD": "hunter2",
        "SHIPPER_FLUSH_INTERVAL": "250ms",
        "FLUENT_ELASTICSEARCH_BUFFER_FLUSH_THREAD_COUNT": "4",
        "FLUENT_ELASTICSEARCH_SSL_VERSION": "TLSv1_2",
    }
    (tmp_path / "logs").mkdir()
    done = shipper_cmd(
        "check-config",
        "--es",
        "http://127.0.0.1:9200/",
        "--state-dir",
        str(tmp_path / "state"),
        "--path",
        str(tmp_path / "logs/*.log"),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "hunter2" not in done.stdout + done.stderr
    lines = config_lines(done.stdout)
    assert len(lines) == len(fields(Settings))
    assert all(n.split()[0].isupper() or n == "--once" for n in lines)  # not field names
    assert lines["SHIPPER_ES_PASSWORD"] == ('"***"', "variable")
    assert lines["SHIPPER_ES_API_KEY"] == ("null", "default")
    assert lines["SHIPPER_ES_USER"] == ('"elastic"', "variable")
    assert lines["SHIPPER_ES_HOSTS"] == ('["http://127.0.0.1:9200"]', "flag --es")
    assert lines["SHIPPER_OUTPUT"] == ('"elasticsearch"', "derived: Elasticsearch hosts are set")
    assert lines["SHIPPER_STATE_DIR"] == (f'"{tmp_path / "state"}"', "flag --state-dir")
    assert lines["SHIPPER_FLUSH_INTERVAL"] == ("0.25", "variable")
    assert lines["SHIPPER_CONCURRENCY"] == (
        "4",
        "compat variable FLUENT_ELASTICSEARCH_BUFFER_FLUSH_THREAD_COUNT",
    )
    assert lines["SHIPPER_ES_TEMPLATE_NAME"] == ('"shipper"', "default")
    assert lines["SHIPPER_READ_FROM"] == ('"head"', "default")
    assert "note: FLUENT_ELASTICSEARCH_SSL_VERSION is ignored" in done.stdout
    assert "no file matches" in done.stderr  # a warning: the directory exists, no file yet
    assert not (tmp_path / "state").exists()  # checked, and what the check created removed


def test_check_config_names_the_bad_variable_and_exits_2() -> None:
    done = shipper_cmd(
        "check-config", env={"SHIPPER_FLUSH_INTERVAL": "abc", "SHIPPER_CONCURRENCY": "0"}
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "shipper: config error: SHIPPER_FLUSH_INTERVAL='abc': "
        "not a duration (examples: 500ms, 5s, 2m, 1h, 10)",
        "shipper: config error: SHIPPER_CONCURRENCY='0': must be at least 1",
    ]


def test_run_exits_2_on_bad_config() -> None:
    done = shipper_cmd("run", "--once", "--output", "kafka", env={"SHIPPER_READ_FROM": "x"})
    assert done.returncode == 2
    assert "shipper: config error: --output='kafka'" in done.stderr
    assert "shipper: config error: SHIPPER_READ_FROM='x'" in done.stderr


def test_replay_exits_2_on_bad_config() -> None:
    done = shipper_cmd("replay-dead-letter", env={"SHIPPER_ES_HOSTS": "nope"})
    assert done.returncode == 2
    assert "SHIPPER_ES_HOSTS='nope'" in done.stderr


def test_main_returns_exit_codes_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out == f"shipper {shipper.__version__}\n"
    assert main([]) == 2
    assert "usage: shipper" in capsys.readouterr().err


def test_the_defaults_help_shows_are_the_real_defaults() -> None:
    from shipper.cli import help_variables
    from shipper.config import known_variables, load_settings

    listed = [entry for group in help_variables().values() for entry in group]
    assert {name for name, _, _ in listed} <= known_variables()
    for name, default, _ in listed:
        if default:
            assert load_settings({name: default}) == load_settings({}), name


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"shipper {shipper.__version__}\n"
