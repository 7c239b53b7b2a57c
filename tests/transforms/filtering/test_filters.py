"""Drop and keep rules, label selectors and per-container annotations, through a real
FilePipeline (records in, documents and positions out)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipper.config import ConfigError, load_settings
from shipper.observe.metrics import Metrics
from shipper.record import Records
from shipper.settings import FilterSettings, KubernetesSettings, RecordSettings
from shipper.transforms.filtering.filters import FileFilter, file_filter, parse_filters, select
from shipper.transforms.filtering.selector import parse_selector
from shipper.transforms.kubernetes.metadata import PodMetadata, pod_metadata
from tests.fakes.kube_apiserver import make_pod
from tests.test_cli import config_lines, shipper_cmd
from tests.transforms.multiline.test_joiner import File, cri_file

PROBES = "[{name: probes, drop: 'kube-probe/'}]"


def meta(annotations: dict[str, str] | None = None, **kwargs: Any) -> PodMetadata:
    """The metadata of pod default/web-1 (the test file's pod), parsed from a pod object."""
    return pod_metadata(
        make_pod("web-1", annotations=annotations, **kwargs), KubernetesSettings(), None
    )


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_drop_rule_drops_matches_counts_them_by_rule_and_moves_the_position() -> None:
    f = File(RecordSettings(), filters=FilterSettings(filters=parse_filters(PROBES)))
    lines = [f"GET /healthz 200 kube-probe/1.{i}" if i % 3 == 0 else f"GET /{i}" for i in range(30)]
    data = cri_file(lines)
    f.feed(data)
    assert f.logs() == [line for line in lines if "kube-probe" not in line]
    assert f.committed == len(data)  # dropped records still acknowledge their bytes
    metrics = f.pipeline.metrics
    assert value(metrics, "shipper_records_filtered_total", rule="probes") == 10
    assert value(metrics, "shipper_records_dropped_total", reason="filter") == 10


def test_keep_rule_in_one_namespace_and_a_read_dropped_whole() -> None:
    rules = parse_filters('[{keep: "\\\\b(WARN|ERROR)\\\\b", namespaces: [default]}]')
    f = File(RecordSettings(), filters=FilterSettings(filters=rules))
    f.feed(cri_file(["INFO a", "WARN b", "DEBUG c", "ERROR d"]))
    assert f.logs() == ["WARN b", "ERROR d"]
    data = cri_file(["INFO only", "DEBUG only"])
    f.feed(data, f.committed)
    assert f.logs() == ["WARN b", "ERROR d"]
    assert f.committed == len(cri_file(["INFO a", "WARN b", "DEBUG c", "ERROR d"])) + len(data)
    other = File(
        RecordSettings(),
        filters=FilterSettings(filters=parse_filters('[{keep: "ERROR", namespaces: [shop]}]')),
    )
    other.feed(cri_file(["INFO a"]))
    assert other.logs() == ["INFO a"]  # another namespace's rule


def test_rules_scoped_by_container_and_pod_selector() -> None:
    rules = parse_filters(
        "- {drop: noise, containers: [sidecar]}\n- {drop: chatter, pods: 'app=web,tier in (front)'}"
    )
    f = File(RecordSettings(), filters=FilterSettings(filters=rules))
    f.feed(cri_file(["noise 1", "chatter 1"]))  # no metadata yet: the selector rule waits
    assert f.logs() == ["noise 1", "chatter 1"]
    f.consumer.apply(meta(labels={"app": "web", "tier": "front"}))
    f.feed(cri_file(["noise 2", "chatter 2"]), f.committed)
    assert f.logs() == ["noise 1", "chatter 1", "noise 2"]  # container app, not sidecar


def test_annotation_drop_per_container_wins_and_none_turns_it_off() -> None:
    f = File(RecordSettings())
    f.consumer.apply(meta({"shipper.io/drop": "^DEBUG"}))
    f.feed(cri_file(["DEBUG a", "INFO b"]))
    assert f.logs() == ["INFO b"]
    assert value(f.pipeline.metrics, "shipper_records_filtered_total", rule="annotation") == 1
    f.consumer.apply(meta({"shipper.io/drop": "^DEBUG", "shipper.io/drop-app": "none"}))
    f.feed(cri_file(["DEBUG c"]), f.committed)
    assert f.logs() == ["INFO b", "DEBUG c"]
    f.consumer.apply(meta({"shipper.io/keep-app": "ERROR", "shipper.io/drop-other": "x"}))
    f.feed(cri_file(["INFO d", "ERROR e"]), f.committed)
    assert f.logs() == ["INFO b", "DEBUG c", "ERROR e"]


def test_a_bad_annotation_pattern_is_ignored_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    f = File(RecordSettings())
    f.consumer.apply(meta({"shipper.io/drop": "(unclosed"}))
    f.feed(cri_file(["kept"]))
    assert f.logs() == ["kept"]
    assert "shipper.io/drop ignored" in caplog.text


def test_per_container_exclude_parser_and_multiline_annotations() -> None:
    f = File(RecordSettings(merge_json=True, multiline="java"))
    f.consumer.apply(
        meta(
            {
                "shipper.io/exclude": "true",
                "shipper.io/exclude-app": "false",
                "shipper.io/parser-app": "none",
                "shipper.io/multiline-app": "none",
            }
        )
    )
    lines = ['{"a": 1}', "java.lang.IllegalStateException: x", "\tat a.B.c(B.java:1)"]
    f.feed(cri_file(lines))
    docs = f.docs()
    assert [d["log"] for d in docs] == lines  # kept, not parsed, not joined
    assert "json" not in docs[0]
    f.consumer.apply(meta({"shipper.io/exclude-app": "true"}))
    f.feed(cri_file(["gone"]), f.committed)
    assert len(f.docs()) == 3
    assert value(f.pipeline.metrics, "shipper_records_dropped_total", reason="excluded") == 1


def test_a_file_without_rules_has_no_filter() -> None:
    rules = parse_filters("[{drop: x, namespaces: [shop]}, {drop: y, pods: 'app=db'}]")
    assert file_filter(rules, "default", "app", meta(labels={"app": "web"}), Metrics()) is None
    assert file_filter(rules, "default", "app", None, Metrics()) is None


def test_select_keeps_truncated_marks_on_the_rows_kept() -> None:
    records = Records()
    records.add_columns([b"t"] * 4, [b"stdout"] * 4, ["a", "b", "c", "d"], [0, 1, 2, 3])
    records.truncated = [1, 3]
    part = select(records, [True, False, True, True])
    assert (part.texts, part.offsets, part.truncated) == (["a", "c", "d"], [0, 2, 3], [2])
    rule = parse_filters("[{drop: '^[ab]'}]")[0]
    assert FileFilter([rule], Metrics()).apply(records).texts == ["c", "d"]


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("tier in (front, edge)", {"tier": "edge"}, True),
        ("tier notin (front,edge),app", {"tier": "back", "app": "x"}, True),
        ("!canary", {"canary": "yes"}, False),
        ("app.kubernetes.io/name=web,!canary", {"app.kubernetes.io/name": "web"}, True),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(selector).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[{drop: '(x'}]", "rule 1 (filter-1): bad regular expression"),
        ("[{drop: a, keep: b}]", "rule 1 needs exactly one of drop or keep"),
        ("[{drop: a, namespace: x}]", "rule 1 has unknown keys ['namespace']"),
        ("[{drop: a, pods: 'app in web'}]", "is not a label selector requirement"),
        ("{drop: a}", "must be a list"),
        ("[{name: a, drop: x}, {name: a, drop: y}]", "the name 'a' is used twice"),
    ],
)
def test_bad_filters_fail_at_startup_naming_the_variable(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"SHIPPER_FILTERS": text})
    assert caught.value.errors[0].startswith("SHIPPER_FILTERS=")
    assert message in caught.value.errors[0]


def test_filters_from_json_and_yaml_are_the_same() -> None:
    as_json = load_settings({"SHIPPER_FILTERS": '[{"name": "p", "drop": "kube-probe/"}]'})
    as_yaml = load_settings({"SHIPPER_FILTERS": "- name: p\n  drop: kube-probe/\n"})
    assert as_json.filters.filters == as_yaml.filters.filters
    assert as_json.filters.filters[0].pattern.pattern == "kube-probe/"


def test_check_config_shows_the_rules_as_written(tmp_path: Path) -> None:
    env = {
        "SHIPPER_FILTERS": "[{name: probes, drop: kube-probe/, namespaces: [shop]}]",
        "SHIPPER_RATE_LIMITS": "[{namespace: noisy, rate: 5}]",
    }
    done = shipper_cmd("check-config", "--state-dir", str(tmp_path / "state"), env=env)
    assert done.returncode == 0, done.stderr
    lines = config_lines(done.stdout)
    assert json.loads(lines["SHIPPER_FILTERS"][0]) == [
        {"name": "probes", "pattern": "kube-probe/", "keep": False, "namespaces": ["shop"]}
    ]
    assert json.loads(lines["SHIPPER_RATE_LIMITS"][0]) == [
        {"namespace": "noisy", "rate": 5.0, "burst": 5, "per": "namespace"}
    ]
