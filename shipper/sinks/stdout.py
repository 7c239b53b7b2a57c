"""`SHIPPER_OUTPUT=stdout`: NDJSON documents on standard output."""

from __future__ import annotations

import sys

from shipper.observe.metrics import Metrics
from shipper.settings import Settings
from shipper.sinks.line_sink import LineSink
from shipper.supervisor import Supervisor


def stdout_sink(
    settings: Settings, metrics: Metrics, supervisor: Supervisor | None = None
) -> LineSink:
    sys.stdout.flush()  # nothing of Python's own buffer may come after our lines
    return LineSink(sys.stdout.fileno, "standard output", settings, metrics, supervisor=supervisor)
