"""py-spy on the running agent, and the functions that spend its CPU.

py-spy (`pip install py-spy`) starts the agent and samples it from outside, without
slowing it much (`--nonblocking`). Its raw output is one line per distinct stack,
`frame;frame;...;leaf COUNT`; a function's own time is the samples where it is
the leaf. Idle samples (the loop waiting in `select`) are left out by py-spy.
"""

from __future__ import annotations

import re
import shutil
import sys
import sysconfig
from collections import Counter
from pathlib import Path

from benchmarks.agent import REPO

RATE = 200  # samples a second
# the longest first: site-packages lies inside the standard library's directory
_ROOTS = sorted(
    {sysconfig.get_paths()[key] + "/" for key in ("stdlib", "purelib", "platlib")} | {f"{REPO}/"},
    key=len,
    reverse=True,
)
_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str:
    """The py-spy executable, beside this Python's or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise FileNotFoundError("py-spy is not installed: pip install py-spy")
    return found


def command(out: Path) -> list[str]:
    """The words to put before the agent's command line to sample it into `out` (raw)."""
    sampling = ["--rate", str(RATE), "--nonblocking", "--format", "raw", "--output", str(out)]
    return [py_spy(), "record", *sampling, "--"]


def own_time(raw: Path, top: int = 15) -> list[tuple[str, float, float]]:
    """The `top` functions by own time: (function (file), seconds, share of all samples)."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        leaf = stack.rpartition(";")[2]
        match = _FRAME.match(leaf)
        name = f"{match['name']} ({_short(match['file'])})" if match else leaf
        counts[name] += int(count)
    total = sum(counts.values()) or 1
    return [(name, n / RATE, n / total) for name, n in counts.most_common(top)]


def _short(path: str) -> str:
    """`shipper/…`, `httpx/…` or `asyncio/…` rather than the full install path."""
    for root in _ROOTS:
        if path.startswith(root):
            return path[len(root) :]
    return path
