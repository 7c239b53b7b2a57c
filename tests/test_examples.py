"""The committed sample tree is what `examples/make_examples.py` writes and what its README says."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from shipper.transforms.enrichment.naming import names_from_path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LOGS = EXAMPLES / "var/log"


def _load_make_examples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


make_examples = _load_make_examples()


def _tree(root: Path) -> dict[str, bytes | str]:
    """Every file (its content, gz decompressed) and link (its target) under `root`."""
    tree: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            tree[rel] = os.readlink(path)
        elif path.is_file():
            data = path.read_bytes()
            tree[rel] = gzip.decompress(data) if path.suffix == ".gz" else data
    return tree


def _log_files() -> list[Path]:
    return sorted(p for p in (LOGS / "pods").rglob("*") if p.is_file())


def _is_docker(path: Path) -> bool:
    return path.read_bytes().startswith(b"{")


def _count_records(path: Path) -> int:
    """Records a correct agent makes of a file: partial groups joined per stream."""
    if path.suffix == ".gz":
        return 0
    complete, open_streams = 0, set()
    for line in path.read_bytes().splitlines():
        if line.startswith(b"{"):
            doc = json.loads(line)
            stream, whole = doc["stream"], doc["log"].endswith("\n")
        else:
            _, stream, tag, _ = line.split(b" ", 3)
            whole = tag == b"F"
        if whole:
            complete += 1
            open_streams.discard(stream)
        else:
            open_streams.add(stream)
    return complete + len(open_streams)


def _readme_counts() -> dict[str, int]:
    text = (EXAMPLES / "README.md").read_text()
    return {
        m["path"]: int(m["records"])
        for m in re.finditer(
            r"^\| `(?P<path>var/log/[^`]+)` \| \w+ \| (?P<records>\d+) \|", text, re.M
        )
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("examples")
    return root, make_examples.build(root)


def test_committed_tree_is_what_the_script_writes(generated: tuple[Path, dict[str, int]]) -> None:
    root, _ = generated
    committed, fresh = _tree(LOGS), _tree(root / "var/log")
    assert sorted(committed) == sorted(fresh)
    assert committed == fresh


def test_readme_counts_are_the_computed_ones(generated: tuple[Path, dict[str, int]]) -> None:
    _, counts = generated
    assert _readme_counts() == counts
    total = re.search(
        r"\| \*\*total\*\* \| \| \*\*(\d+)\*\* \|", (EXAMPLES / "README.md").read_text()
    )
    assert total and int(total[1]) == sum(counts.values())


def test_counts_match_a_count_of_the_lines() -> None:
    counted = {p.relative_to(EXAMPLES).as_posix(): _count_records(p) for p in _log_files()}
    assert counted == _readme_counts()


def test_links_are_relative_and_resolve_into_pods() -> None:
    links = sorted((LOGS / "containers").iterdir())
    assert len(links) >= 8
    for link in links:
        assert link.is_symlink()
        assert os.readlink(link).startswith("../pods/")
        target = link.resolve(strict=True)
        assert target.is_relative_to((LOGS / "pods").resolve())
        assert target.name in ("0.log", "1.log")


def test_names_from_links_agree_with_the_pods_path() -> None:
    cut = 0
    for link in (LOGS / "containers").iterdir():
        target = str(link.resolve())
        names = names_from_path(target, str(link))
        assert None not in (
            names.namespace_name,
            names.pod_name,
            names.pod_id,
            names.container_name,
        )
        from_link = names_from_path(str(link), None)
        if len(link.name) == 255:
            cut += 1
            assert names.container_id is None and from_link.container_name is None
        else:
            assert names.container_id and len(names.container_id) == 64
            assert from_link.container_name == names.container_name
        assert (from_link.namespace_name, from_link.pod_name) == (
            names.namespace_name,
            names.pod_name,
        )
    assert cut == 1


def test_the_tree_has_the_promised_shape() -> None:
    files = _log_files()
    names = [names_from_path(str(p), None) for p in files if p.suffix != ".gz"]
    assert len({n.namespace_name for n in names}) >= 3
    assert len({n.pod_id for n in names}) >= 5
    containers = {(n.pod_id, n.container_name) for n in names}
    assert len(containers) >= 7
    per_pod = [sum(pod == p for p, _ in containers) for pod in {p for p, _ in containers}]
    assert max(per_pod) >= 2
    assert any(p.name == "1.log" and (p.parent / "0.log").exists() for p in files)
    assert any("." in (n.pod_name or "") for n in names)
    docker_containers = {p.parent for p in files if _is_docker(p)}
    assert len(docker_containers) >= 2
    assert any(not _is_docker(p) for p in files)
    assert sum(p.stat().st_size for p in LOGS.rglob("*") if p.is_file()) < 200_000


def test_rotated_and_gzipped_files_sit_next_to_the_current_one() -> None:
    rotated = [p for p in _log_files() if re.fullmatch(r"0\.log\.\d{8}-\d{6}", p.name)]
    assert len(rotated) == 1
    siblings = {p.name for p in rotated[0].parent.iterdir()}
    assert "0.log" in siblings
    gz = [n for n in siblings if n.endswith(".gz")]
    assert len(gz) == 1 and gz[0] < rotated[0].name
    assert _count_records(rotated[0]) > 0
    assert gzip.decompress((rotated[0].parent / gz[0]).read_bytes()).count(b" stdout F ") > 0


def _cri_lines(path: Path) -> list[tuple[str, str, str, bytes]]:
    return [
        (t.decode(), s.decode(), tag.decode(), text)
        for t, s, tag, text in (line.split(b" ", 3) for line in path.read_bytes().splitlines())
    ]


def _worker_log() -> Path:
    (path,) = (LOGS / "pods").glob("payments_checkout-worker-0_*/worker/0.log")
    return path


def test_cri_partials_interleave_and_cut_a_character() -> None:
    lines = _cri_lines(_worker_log())
    tags = [(stream, tag) for _, stream, tag, _ in lines]
    # stdout P, stderr P, stdout P, stderr F, stdout F: two groups interleaved
    interleaved = [
        ("stdout", "P"),
        ("stderr", "P"),
        ("stdout", "P"),
        ("stderr", "F"),
        ("stdout", "F"),
    ]
    assert any(tags[i : i + 5] == interleaved for i in range(len(tags)))
    long_group = [
        i for i, (_, _, tag, text) in enumerate(lines) if tag == "P" and len(text) == 16384
    ]
    assert len(long_group) == 2 and long_group[1] == long_group[0] + 1
    first = long_group[0]
    joined = b"".join(text for _, _, _, text in lines[first : first + 3])
    assert lines[first + 2][2] == "F"
    assert len(joined) > 38 * 1024
    with pytest.raises(UnicodeDecodeError):
        lines[first][3].decode()
    message = joined.decode()
    assert message.count("€") == 850 and "\ufffd" not in message


def test_docker_partials_are_16k_chunks_without_newline() -> None:
    (path,) = (LOGS / "pods").glob("payments_ledger.v2-*/ledger/0.log")
    logs = [json.loads(line)["log"] for line in path.read_bytes().splitlines()]
    chunks = [i for i, log in enumerate(logs) if not log.endswith("\n")]
    assert len(chunks) == 2 and chunks[1] == chunks[0] + 1
    assert all(len(logs[i].encode()) == 16384 for i in chunks)
    joined = "".join(logs[chunks[0] : chunks[1] + 2])
    assert joined.endswith("\n") and len(joined) > 32 * 1024
    assert json.loads(joined)["msg"] == "balance snapshot"
    assert b"\\u003e" in path.read_bytes() and any(">" in log for log in logs)


def test_messages_carry_unicode_traces_and_json() -> None:
    text = "".join(p.read_text(errors="replace") for p in _log_files() if p.suffix != ".gz")
    for sample in ("支付成功", "注文", "🎉", "🛒", "Zoë", "Ångström", "Müller"):
        assert sample in text
    assert "Traceback (most recent call last):" in text and "KeyError: 'amount'" in text
    assert "Caused by: java.net.ConnectException" in text and "\tat java.base/" in text
    assert '{"level":"info","logger":"worker"' in text


def test_times_have_variable_fractions_and_an_offset() -> None:
    rfc3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d*[1-9]))?(Z|[+-]\d\d:\d\d)")
    times = [
        t
        for p in _log_files()
        if p.suffix != ".gz" and not _is_docker(p)
        for t, *_ in _cri_lines(p)
    ]
    matches = [rfc3339.fullmatch(t) for t in times]
    assert all(matches)  # trailing zeros trimmed, as Go's RFC3339Nano writes them
    widths = {len(m[1] or "") for m in matches if m}
    assert {0, 9} <= widths and len(widths) >= 5
    assert {m[2] for m in matches if m} == {"Z", "+02:00"}
