"""`--once` on a terminal shows its progress on stderr; off a terminal it does not."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from tests.integration.harness import Agent, Container


def once_args(tmp_path: Path, out: Path) -> list[str]:
    return [
        "--once",
        "--path",
        str(tmp_path / "node/var/log/containers/*.log"),
        "--state-dir",
        str(tmp_path / "state"),
        "--output",
        f"file:{out}",
    ]


def run_on_a_terminal(agent: Agent) -> tuple[int, str]:
    """Run the agent with stderr on a pseudo-terminal; its exit code and what it showed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(agent.args, env=agent.env, cwd=agent.cwd, stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    code = proc.wait(30)
    os.close(leader)
    return code, shown.decode()


def visible_lines(shown: str) -> list[str]:
    """What stays on screen: per line, what follows its last carriage return."""
    return [
        line.rstrip("\r").rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in shown.split("\n")
    ]


def test_once_on_a_terminal_shows_files_records_speed_and_what_is_left(tmp_path: Path) -> None:
    c = Container(tmp_path / "node", "ns", "pod", "app")
    c.write(f"line {i}" for i in range(2000))
    out = tmp_path / "out.ndjson"
    code, shown = run_on_a_terminal(
        Agent(once_args(tmp_path, out), {"SHIPPER_LOG_LEVEL": "warning"})
    )
    assert code == 0
    progress, summary = [line for line in visible_lines(shown) if line.strip()][-2:]
    assert "files 1" in progress and "records read 2000" in progress
    assert "delivered 2000" in progress
    assert "MB/s" in progress and "left 0.0 MB" in progress
    assert summary.startswith("shipper --once: 1 file, 2000 records read, 2000 delivered, ")


def test_once_on_a_terminal_logs_short_text_lines_above_the_progress(tmp_path: Path) -> None:
    c = Container(tmp_path / "node", "ns", "pod", "app")
    c.write(f"line {i}" for i in range(20000))
    out = tmp_path / "out.ndjson"
    code, shown = run_on_a_terminal(Agent(once_args(tmp_path, out), {"SHIPPER_LOG_LEVEL": "info"}))
    assert code == 0
    lines = [line for line in visible_lines(shown) if line.strip()]
    logs = [line for line in lines if " INFO shipper." in line]
    assert any("shipper starting" in line for line in logs)
    assert not any(line.lstrip().startswith("{") for line in lines)  # not JSON on a terminal
    for line in lines:  # a log line and the progress never share a line
        assert not (" INFO shipper." in line and "MB/s" in line), line
    assert lines[-1].startswith("shipper --once: 1 file, 20000 records read")


def test_once_off_a_terminal_prints_no_progress_but_one_summary_line(tmp_path: Path) -> None:
    c = Container(tmp_path / "node", "ns", "pod", "app")
    c.write(["one line"])
    result = Agent(
        once_args(tmp_path, tmp_path / "o"),
        {"SHIPPER_LOG_LEVEL": "warning"},
    ).run()
    assert result.returncode == 0
    assert b"MB/s" not in result.stderr and b"\r" not in result.stderr
    assert result.stderr.decode().splitlines() == [result.stderr.decode().splitlines()[0]]
    assert result.stderr.startswith(b"shipper --once: 1 file, 1 records read, 1 delivered, ")
