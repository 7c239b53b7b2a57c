"""Fluent Bit beside shipper in the `once` benchmark (`benchmarks.fluentbit`).

The project does not vendor or build Fluent Bit, and CI has none: the tests that need
the real binary are skipped without a `fluent-bit` on the PATH.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest

from benchmarks import fluentbit
from benchmarks.report import machine, markdown
from benchmarks.run import main
from benchmarks.scenarios import prepare_tree

BINARY = fluentbit.find()
needs_fluent_bit = pytest.mark.skipif(
    BINARY is None,
    reason="no `fluent-bit` on the PATH (the project does not vendor or build it; CI has none)",
)


@needs_fluent_bit
def test_fluent_bit_accepts_the_generated_config(tmp_path: Path) -> None:
    assert BINARY is not None
    tree, _ = prepare_tree(tmp_path / "cache", records=100, containers=2, seed=1)
    conf = tmp_path / "fluent-bit.conf"
    conf.write_text(fluentbit.config(tree, tmp_path, "http://127.0.0.1:9200"))
    checked = subprocess.run(
        [BINARY, "--dry-run", "-c", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "configuration test is successful" in checked.stdout + checked.stderr


@needs_fluent_bit
def test_once_runs_fluent_bit_beside_shipper_on_the_same_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    small = ["--records", "20000", "--containers", "4", "--cache-dir", str(tmp_path / "cache")]
    assert main([*small, "--scenario", "once", "--json", str(out)]) == 0
    report = orjson.loads(out.read_bytes())
    peer = report["fluent-bit"]
    assert peer["agent"].startswith("Fluent Bit ")
    assert peer["records"] == peer["docs"] == peer["distinct"] == 20000
    assert (peer["repeated"], peer["missing"], peer["extra"], peer["exactly_once"]) == (
        0,
        0,
        0,
        True,
    )
    assert peer["records_per_s"] > 0 and peer["cpu_s_per_million"] > 0
    assert peer["peak_rss_mib"] > 0 and peer["exit_code"] == 0
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if line.startswith("| Fluent Bit "))
    assert row.endswith(" MiB |") and row.count("|") == 6
    assert f"{peer['agent']}: every record arrived exactly once" in printed
    assert main([*small, "--scenario", "once", "--no-peers", "--json", str(out)]) == 0
    assert "fluent-bit" not in orjson.loads(out.read_bytes())


def test_without_fluent_bit_the_report_says_so_in_one_line() -> None:
    once = {
        "records": 10,
        "bytes": 1000,
        "files": 1,
        "records_per_s": 10,
        "mb_per_s": 1.0,
        "cpu_s_per_million": 5.0,
        "peak_rss_mib": 70.0,
        "exactly_once": True,
        "distinct": 10,
        "docs": 10,
        "exit_code": 0,
        "seconds": 1.0,
        "cpu_s": 0.1,
        "user_s": 0.1,
        "sys_s": 0.0,
        "endpoint_cpu_s": 0.1,
    }
    alone = markdown({"machine": machine(), "once": once})
    absent = markdown({"machine": machine(), "once": once, "fluent-bit": None})
    (line,) = set(absent.splitlines()) - set(alone.splitlines())
    assert line == "- no `fluent-bit` on the PATH, so no Fluent Bit row beside shipper's"
