"""SHIPPER_JOURNAL_* and SHIPPER_NODE_LOG_PATHS: defaults, empty to turn off, bad values."""

from __future__ import annotations

import pytest

from shipper.config import ConfigError, explain, ignored_variables, load_settings
from shipper.settings import JOURNAL_UNITS, NODE_LOG_PATHS


def test_defaults_read_kubelet_and_runtimes_and_the_images_node_files() -> None:
    s = load_settings({})
    assert s.node.journal_units == JOURNAL_UNITS
    assert (
        "kubelet.service" in s.node.journal_units and "containerd.service" in s.node.journal_units
    )
    assert s.node.journal_paths == ("/var/log/journal", "/run/log/journal")
    assert s.node.journal_index is None
    assert s.node.node_log_paths == NODE_LOG_PATHS
    assert "/var/log/kube-proxy.log" in s.node.node_log_paths


def test_empty_turns_each_off() -> None:
    s = load_settings({"SHIPPER_JOURNAL_UNITS": "", "SHIPPER_NODE_LOG_PATHS": " "})
    assert s.node.journal_units == () and s.node.node_log_paths == ()


def test_values_are_parsed() -> None:
    s = load_settings(
        {
            "SHIPPER_JOURNAL_UNITS": "kubelet.service, crio.service",
            "SHIPPER_JOURNAL_PATHS": "/var/log/journal",
            "SHIPPER_JOURNAL_INDEX": "journal-%Y.%m.%d",
            "SHIPPER_NODE_LOG_PATHS": "/var/log/kube-*.log,/var/log/etcd.log",
        }
    )
    assert s.node.journal_units == ("kubelet.service", "crio.service")
    assert s.node.journal_paths == ("/var/log/journal",)
    assert s.node.journal_index == "journal-%Y.%m.%d"
    assert s.node.node_log_paths == ("/var/log/kube-*.log", "/var/log/etcd.log")


def test_the_images_systemd_switch_turns_the_journal_off() -> None:
    assert load_settings({"FLUENTD_SYSTEMD_CONF": "disable"}).node.journal_units == ()
    assert load_settings({"FLUENTD_SYSTEMD_CONF": "systemd"}).node.journal_units == JOURNAL_UNITS
    both = {"FLUENTD_SYSTEMD_CONF": "disable", "SHIPPER_JOURNAL_UNITS": "kubelet.service"}
    assert load_settings(both).node.journal_units == ("kubelet.service",)
    assert ignored_variables({"FLUENTD_SYSTEMD_CONF": "disable"}) == []
    shown = {line.variable: line.source for line in explain({"FLUENTD_SYSTEMD_CONF": "disable"})}
    assert shown["SHIPPER_JOURNAL_UNITS"] == "derived: FLUENTD_SYSTEMD_CONF=disable"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHIPPER_JOURNAL_UNITS": "kubelet"}, "SHIPPER_JOURNAL_UNITS='kubelet': 'kubelet' is not"),
        ({"SHIPPER_JOURNAL_UNITS": "_SYSTEMD_UNIT=a.service"}, "is not a systemd unit name"),
        ({"SHIPPER_JOURNAL_PATHS": "var/log/journal"}, "SHIPPER_JOURNAL_PATHS='var/log/journal'"),
        ({"SHIPPER_JOURNAL_INDEX": "Journal/x"}, "SHIPPER_JOURNAL_INDEX='Journal/x'"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert len(caught.value.errors) == 1 and message in caught.value.errors[0]
