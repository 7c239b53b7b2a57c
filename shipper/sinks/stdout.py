"""`SHIPPER_OUTPUT=stdout`: NDJSON documents on standard output."""

from __future__ import annotations

import sys

from shipper.observe.metrics import Metrics
from shipper.settings import SinkSettings
from shipper.sinks.line_sink import LineSink
from shipper.supervisor import Supervisor


def stdout_sink(
    settings: SinkSettings, metrics: Metrics, supervisor: Supervisor | None = None
) -> LineSink:
    sys.stdout.flush()  # nothing of Python's own buffer may come after our lines
    return LineSink(sys.stdout.fileno, "standard output", settings, metrics, supervisor=supervisor)
