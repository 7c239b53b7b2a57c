"""The metrics address, the agent's log format and `--once`: beyond one variable each."""

from __future__ import annotations

from shipper.config.addresses import any_port, bare_host, join_host_port, listen_addr
from shipper.config.parsers import choice
from shipper.config.reader import Reader
from shipper.settings import Settings

_DEFAULTS = Settings()
PROMETHEUS = ("FLUENTD_PROMETHEUS_BIND", "FLUENTD_PROMETHEUS_PORT")


def metrics_addr(r: Reader) -> str:
    """`SHIPPER_METRICS_ADDR`, else the fluentd image's FLUENTD_PROMETHEUS_BIND + _PORT."""
    if r.first("SHIPPER_METRICS_ADDR") or not r.first(*PROMETHEUS):
        return r.get("SHIPPER_METRICS_ADDR", parse=listen_addr, default=_DEFAULTS.metrics_addr)
    bind_name, port_name = PROMETHEUS
    host = r.get(bind_name, parse=bare_host, default="0.0.0.0")
    number = r.get(port_name, parse=any_port, default=24231)
    r.derived("SHIPPER_METRICS_ADDR", "FLUENTD_PROMETHEUS_BIND and _PORT")
    return join_host_port(host, number)


def log_format(r: Reader) -> str:
    """`SHIPPER_LOG_FORMAT`; unset, short text lines on a terminal and JSON elsewhere."""
    default = "text" if r.terminal else _DEFAULTS.log_format
    chosen: str = r.get("SHIPPER_LOG_FORMAT", parse=choice("json", "text"), default=default)
    if r.terminal and not r.first("SHIPPER_LOG_FORMAT"):
        r.derived("SHIPPER_LOG_FORMAT", "stderr is a terminal")
    return chosen


def once(r: Reader) -> bool:
    """`--once`: a flag only."""
    given = bool(r.flag("--once"))
    if given:
        r.came_from("--once", "--once")
    return given
