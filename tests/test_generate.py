from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.generate import Summary, generate, main
from shipper.transforms.enrichment.naming import names_from_path


def _log_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "var/log/pods").rglob("*") if p.is_file())


def _parse(line: bytes) -> tuple[str, bool, str]:
    """(format, ends a record, message) of one line, read without the generator's help."""
    if line.startswith(b"{"):
        log = json.loads(line)["log"]
        return "docker", log.endswith("\n"), log.removesuffix("\n")
    _, stream, tag, message = line.split(b" ", 3)
    assert stream in (b"stdout", b"stderr") and tag in (b"P", b"F")
    return "cri", tag == b"F", message.decode()


def _records(root: Path) -> list[tuple[str, int, str]]:
    """(format, lines, joined message) of every record; the generator never leaves one open."""
    records = []
    for path in _log_files(root):
        data = path.read_bytes()
        assert not data or data.endswith(b"\n")
        pieces: list[str] = []
        for line in data.splitlines():
            fmt, ends, message = _parse(line)
            pieces.append(message)
            if ends:
                records.append((fmt, len(pieces), "".join(pieces)))
                pieces = []
        assert not pieces
    return records


@pytest.mark.parametrize("fmt", ["cri", "docker", "mixed"])
def test_summary_counts_what_is_on_disk(tmp_path: Path, fmt: str) -> None:
    summary = generate(tmp_path, records=3000, containers=5, seed=7, fmt=fmt)
    files = _log_files(tmp_path)
    records = _records(tmp_path)
    assert summary == Summary(
        records=len(records),
        lines=sum(path.read_bytes().count(b"\n") for path in files),
        bytes=sum(path.stat().st_size for path in files),
        files=len(files),
    )
    assert (summary.records, summary.files) == (3000, 5)
    assert summary.lines > summary.records  # some long records were cut into pieces
    formats = {fmt for fmt, _, _ in records}
    assert formats == ({"cri", "docker"} if fmt == "mixed" else {fmt})


def test_records_are_spread_evenly(tmp_path: Path) -> None:
    generate(tmp_path, records=10, containers=4, seed=1)
    per_file = [p.read_bytes().count(b" F ") for p in _log_files(tmp_path)]
    assert sorted(per_file) == [2, 2, 3, 3]


def test_lines_sizes_and_shares(tmp_path: Path) -> None:
    summary = generate(tmp_path, records=20_000, containers=4, seed=3, fmt="mixed")
    records = _records(tmp_path)
    short = [message for _, lines, message in records if len(message) < 4096]
    long = [(lines, message) for _, lines, message in records if len(message) >= 4096]
    assert 0.005 < len(long) / summary.records < 0.015
    assert all(len(m) <= 24 * 1024 for _, m in long)
    assert any(lines > 1 for lines, _ in long) and any(lines == 1 for lines, _ in long)
    json_share = sum(m.startswith("{") for m in short) / len(short)
    assert 0.2 < json_share < 0.3
    for path in _log_files(tmp_path):
        in_group = False
        for line in path.read_bytes().splitlines():
            _, ends, message = _parse(line)
            if len(message) < 4096 and not in_group:
                assert 80 <= len(line) + 1 <= 300, line
            else:
                assert len(message.encode()) <= 16 * 1024
            in_group = not ends


def test_partial_groups_are_cut_at_16_kib(tmp_path: Path) -> None:
    generate(tmp_path, records=5000, containers=2, seed=11, fmt="cri")
    tags = Counter()
    for path in _log_files(tmp_path):
        previous = b"F"
        for line in path.read_bytes().splitlines():
            *_, tag, message = line.split(b" ", 3)
            if tag == b"P":
                assert len(message) == 16 * 1024
            tags[previous + tag] += 1
            previous = tag
    assert tags[b"FP"] > 0 and tags[b"PF"] == tags[b"FP"]  # every group opened is closed


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    trees = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        root = tmp_path / name
        generate(root, records=2000, containers=3, seed=seed, fmt="mixed")
        trees.append(
            {
                p.relative_to(root).as_posix(): os.readlink(p) if p.is_symlink() else p.read_bytes()
                for p in sorted(root.rglob("*"))
                if p.is_symlink() or p.is_file()
            }
        )
    assert trees[0] == trees[1]
    assert trees[0] != trees[2]


def test_links_resolve_and_name_their_file(tmp_path: Path) -> None:
    generate(tmp_path, records=100, containers=5, seed=2)
    links = sorted((tmp_path / "var/log/containers").iterdir())
    assert len(links) == 5
    targets = set()
    for link in links:
        assert not os.path.isabs(os.readlink(link))
        target = link.resolve(strict=True)
        targets.add(target)
        names = names_from_path(str(target), str(link))
        assert None not in (
            names.namespace_name,
            names.pod_name,
            names.pod_id,
            names.container_name,
            names.container_id,
        )
        assert names_from_path(str(link), None).pod_name == names.pod_name
    assert targets == {p.resolve() for p in _log_files(tmp_path)}


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        generate(tmp_path, records=1, containers=1, seed=0, fmt="syslog")
    with pytest.raises(ValueError):
        generate(tmp_path, records=1, containers=0, seed=0)


def test_command_line_prints_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--root", str(tmp_path), "--records", "50", "--containers", "2", "--seed", "4"])
    printed = json.loads(capsys.readouterr().out)
    assert printed == {
        "records": 50,
        "lines": printed["lines"],
        "bytes": printed["bytes"],
        "files": 2,
    }
    assert printed["bytes"] == sum(p.stat().st_size for p in _log_files(tmp_path))
