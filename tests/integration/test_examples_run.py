"""The README's demo: every sample record exactly once, partials joined, names set."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson

from examples.make_examples import build
from tests.integration.harness import REPO, Agent


def test_once_prints_every_sample_record_exactly_once(tmp_path: Path) -> None:
    args = ["--once", "--path", "examples/var/log/containers/*.log", "--output", "stdout"]
    result = Agent([*args, "--state-dir", str(tmp_path / "state")]).run()
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    docs = [orjson.loads(line) for line in result.stdout.splitlines()]
    expected = build(tmp_path / "fresh")  # records per file, as make_examples computes them
    assert len(docs) == sum(expected.values()) == 108
    # exactly once: no two documents share their time, stream and text
    keys = Counter((d["@timestamp"], d["stream"], d["log"]) for d in docs)
    assert max(keys.values()) == 1
    per_container = Counter(d["kubernetes"]["container_name"] for d in docs)
    for path, count in expected.items():
        container = Path(path).parent.name
        assert per_container[container] >= count
    assert all(d["kubernetes"].get("namespace_name") for d in docs)
    assert all(d["kubernetes"].get("pod_name") for d in docs)
    assert all(d["kubernetes"].get("pod_id") for d in docs)
    # the rotated coredns file is included, the .gz is not
    assert per_container["coredns"] == 12
    # partials joined: the ~40 KiB CRI line and the ~35 KiB docker line arrive whole
    long_lines = [d for d in docs if len(d["log"]) > 30000]
    assert len(long_lines) == 2
    assert all("\ufffd" not in d["log"] for d in long_lines)
    # a second run finds nothing new: positions were saved
    again = Agent([*args, "--state-dir", str(tmp_path / "state")]).run()
    assert again.returncode == 0 and again.stdout == b""


def test_examples_are_committed_with_relative_links() -> None:
    links = list((REPO / "examples/var/log/containers").iterdir())
    assert links and all(link.is_symlink() and link.resolve().exists() for link in links)
