"""`shipper version` and `shipper check-config` stay light: they never load the HTTP
client (httpx) the agent and `--connect` use, so they answer fast on a busy node."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(*args: str) -> set[str]:
    """The modules a real `python -m shipper ARGS` imports, from `-X importtime`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "shipper", *args],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {
        line.rpartition("|")[2].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }


@pytest.mark.parametrize(
    ("args", "loaded"),
    [(("version",), "shipper.cli"), (("check-config",), "shipper.config")],
)
def test_the_command_does_not_import_httpx(args: tuple[str, ...], loaded: str) -> None:
    modules = imported_modules(*args)
    assert loaded in modules  # the list is the command's own imports
    assert not {m for m in modules if m == "httpx" or m.startswith("httpx.")}
