"""The agent's own metrics endpoint and log."""

from __future__ import annotations

from shipper.config.derived import observe as derived
from shipper.config.parsers import choice
from shipper.config.table.variable import Variable

OBSERVE = (
    Variable(
        "SHIPPER_METRICS_ADDR",
        "metrics_addr",
        "`/metrics`, `/healthz`, `/readyz`; port `0` takes a free port",
        default="0.0.0.0:24231",
        compat=derived.PROMETHEUS,
        resolve=derived.metrics_addr,
    ),
    Variable(
        "SHIPPER_LOG_LEVEL",
        "log_level",
        "the agent's own lines on stderr: `debug`, `info`, `warning`, `error`",
        choice("debug", "info", "warning", "error", aliases={"warn": "warning"}),
        default="info",
    ),
    Variable(
        "SHIPPER_LOG_FORMAT",
        "log_format",
        "`json`, or `text` for people (the default when stderr is a terminal)",
        default="json",
        resolve=derived.log_format,
    ),
)
