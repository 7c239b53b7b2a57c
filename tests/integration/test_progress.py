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


def test_once_on_a_terminal_shows_files_records_speed_and_what_is_left(tmp_path: Path) -> None:
    c = Container(tmp_path / "node", "ns", "pod", "app")
    c.write(f"line {i}" for i in range(2000))
    out = tmp_path / "out.ndjson"
    agent = Agent(
        once_args(tmp_path, out),
        {"SHIPPER_LOG_LEVEL": "warning"},
    )
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
    assert proc.wait(30) == 0
    os.close(leader)
    last = shown.decode().replace("\r", "\n").strip().splitlines()[-1]
    assert "files 1" in last and "records read 2000" in last and "delivered 2000" in last
    assert "MB/s" in last and "left 0.0 MB" in last


def test_once_off_a_terminal_prints_no_progress(tmp_path: Path) -> None:
    c = Container(tmp_path / "node", "ns", "pod", "app")
    c.write(["one line"])
    result = Agent(
        once_args(tmp_path, tmp_path / "o"),
        {"SHIPPER_LOG_LEVEL": "warning"},
    ).run()
    assert result.returncode == 0
    assert b"records read" not in result.stderr
