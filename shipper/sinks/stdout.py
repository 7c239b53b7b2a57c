"""`SHIPPER_OUTPUT=stdout`: NDJSON documents on standard output."""

from __future__ import annotations

import sys

from shipper.observe.metrics import Metrics
from shipper.sinks.lines import LineSink


def stdout_sink(metrics: Metrics) -> LineSink:
    return LineSink(sys.stdout.buffer, metrics)
