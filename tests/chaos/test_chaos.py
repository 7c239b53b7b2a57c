"""Issue 12's chaos run, short: kubelet rotates fast enough that files the agent holds
while Elasticsearch is down get gzipped and deleted before it is killed. Also checks of
the run's own parts: the node simulation never loses a line, the tally counts exactly.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from tests.chaos import agent, records
from tests.chaos.kubelet import Container, Node
from tests.chaos.plan import SHORT, make_plan
from tests.chaos.run import Result, run
from tests.chaos.tally import count


def lines_on_disk(c: Container) -> list[str]:
    """Every record text in the container's files, oldest file first (compressed too)."""
    texts = []
    for segment in c.segments:
        if segment.fate == "gz_deleted":
            continue
        if segment.fate == "gz":
            data = gzip.decompress((c.dir / f"{segment.name}.gz").read_bytes())
        else:
            data = (c.dir / segment.name).read_bytes()
        assert data.endswith(b"\n") or not data  # whole lines only
        texts += [line.split(" ", 3)[3] for line in data.decode().splitlines()]
    return texts


def test_the_simulated_kubelet_rotates_compresses_and_deletes_without_losing_a_line(
    tmp_path: Path,
) -> None:
    node = Node(tmp_path, 2, random.Random(5), (1.0, 1.0), 50)
    for _ in range(40):
        node.write(300, 0.0)
        node.check_rotation(rotate_bytes=16 * 1024, max_files=5)
    removed = node.take_removed()
    for c in node.containers.values():
        names = sorted(p.name for p in c.dir.iterdir())
        assert len(names) == 5 and not [n for n in names if n.endswith(".tmp")]
        assert sum(n.endswith(".gz") for n in names) == 3  # the newest rotated stays plain
        kept = [s for s in c.segments if s.fate != "gz_deleted"]
        expected = [records.text(c.index, seq, 50) for seq in range(kept[0].first, c.written)]
        assert lines_on_disk(c) == expected
        # what kubelet deleted is exactly what is not on disk any more
        assert sum(end - first for i, first, end, _ in removed if i == c.index) == kept[0].first > 0
    assert node.rotations >= 20 and node.compressed >= 15
    ended = node.churn(0)
    ended.remove()
    assert not ended.pod_dir.exists() and not ended.link.is_symlink()
    assert {s.fate for s in ended.segments} == {"gz_deleted", "gz_gc", "rotated_gc", "live_gc"}
    assert len(node.running()) == 2


def test_the_tally_counts_each_lost_doubled_and_corrupted_record() -> None:
    pods = {0: "a", 1: "b"}
    docs = [{"log": records.text(0, seq, 50), "kubernetes": {"pod_name": "a"}} for seq in range(5)]
    docs.append({"log": records.text(0, 3, 50), "kubernetes": {"pod_name": "a"}})  # doubled
    docs.append({"log": records.text(1, 0, 50)[:-1], "kubernetes": {"pod_name": "b"}})  # cut
    docs.append({"log": records.text(1, 1, 50), "kubernetes": {"pod_name": "a"}})  # wrong pod
    docs.append({"log": records.text(1, 9, 50), "kubernetes": {"pod_name": "b"}})  # never written
    tally, arrived = count({0: 6, 1: 3}, pods, 50, docs)
    assert (tally.written, tally.delivered) == (9, 5)
    assert (tally.lost, tally.doubled, tally.corrupted) == (2, 1, 3)  # c0-s5 and c1-s2 lost
    assert list(arrived[1]) == [1, 1, 0] and not tally.exact


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> Result:
    return run(make_plan(SHORT, seed=1), tmp_path_factory.mktemp("chaos"))


def test_the_short_chaos_run_did_what_it_plans(short_run: Result) -> None:
    expected = SHORT.rate * SHORT.duration
    assert short_run.tally.written > 0.9 * expected, short_run.line()
    assert short_run.kills == SHORT.kills, short_run.line()
    assert short_run.compressed > 0 and short_run.max_lag_bytes > 0, short_run.line()
    assert short_run.at_risk == 0, short_run.line()  # kubelet removed nothing unfairly


def test_the_short_chaos_run_doubles_and_corrupts_nothing(short_run: Result) -> None:
    assert short_run.tally.doubled == 0, short_run.line()
    assert short_run.tally.corrupted == 0, short_run.line()
    assert short_run.agent_exit == 0, short_run.line()


def test_the_short_chaos_run_loses_nothing(short_run: Result) -> None:
    assert short_run.tally.lost == 0, short_run.line()


def test_records_from_compressed_copies_are_read_from_any_metric_naming_them() -> None:
    by_label = (
        "# TYPE shipper_records_read counter\n"
        'shipper_records_read_total{source="plain"} 90.0\n'
        'shipper_records_read_total{source="gzip"} 7.0\n'
    )
    by_name = "# TYPE shipper_gz_records_read counter\nshipper_gz_records_read_total 5.0\n"
    neither = "# TYPE shipper_records_read counter\nshipper_records_read_total 97.0\n"
    assert agent.records_from_compressed(by_label) == 7.0
    assert agent.records_from_compressed(by_name) == 5.0
    assert agent.records_from_compressed(neither) is None
