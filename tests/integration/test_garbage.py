"""Garbage never stops the agent: it is shipped as best it can be, or counted as dropped."""

from __future__ import annotations

from pathlib import Path

from tests.integration.harness import Container, once_to_file


def test_binary_invalid_utf8_empty_and_a_100_mib_line_do_not_stop_the_agent(
    tmp_path: Path,
) -> None:
    root = tmp_path / "node"
    c = Container(root, "ns", "pod", "app")
    c.write(["before"])
    huge = 100 * 1024 * 1024
    with open(c.path, "ab") as f:
        f.write(b"\x00\x01\x02\xff\xfe binary junk\n")  # not a CRI line: shipped raw
        f.write(b"2024-05-01T12:00:01.5Z stdout F caf\xc3 invalid \xff utf-8\n")
        f.write(b"\n\n   \n")  # empty lines: dropped, counted
        f.write(b"2024-05-01T12:00:02Z stdout F ")
        block = b"y" * (1024 * 1024)
        for _ in range(huge // len(block)):  # a 100 MiB line, written as a runtime would not
            f.write(block)
        f.write(b"\n")
    c.write(["after"])
    docs = once_to_file(root, tmp_path, {"SHIPPER_MAX_RECORD_BYTES": "64KiB"})
    logs = [d["log"] for d in docs]
    assert logs[0] == "before" and logs[-1] == "after"
    raw = docs[1]
    assert raw["stream"] == "unknown" and "binary junk" in raw["log"]
    assert docs[2]["log"] == "caf\ufffd invalid \ufffd utf-8"
    long = docs[3]
    assert long["log_truncated"] is True and len(long["log"]) == 64 * 1024
    assert len(docs) == 5  # the three empty lines were dropped
