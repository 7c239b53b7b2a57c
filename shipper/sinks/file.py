"""`SHIPPER_OUTPUT=file:PATH`: NDJSON documents appended to a file, fsynced before acks."""

from __future__ import annotations

import os

from shipper.observe.metrics import Metrics
from shipper.sinks.lines import LineSink


def file_sink(path: str, metrics: Metrics) -> LineSink:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    return LineSink(open(path, "ab"), metrics, fsync=True, owns_stream=True)
