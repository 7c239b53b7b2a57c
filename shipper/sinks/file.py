"""`SHIPPER_OUTPUT=file:PATH`: NDJSON documents appended to any writable path.

A regular file is fsynced before acks; /dev/null, /dev/stdout or a FIFO are written
as they are (a FIFO's open waits for a reader in the sink's thread, not the agent).
The file is opened when the first documents come, and again after a failure.
"""

from __future__ import annotations

import os

from shipper.observe.metrics import Metrics
from shipper.settings import Settings
from shipper.sinks.line_sink import LineSink
from shipper.supervisor import Supervisor


def file_sink(
    path: str, settings: Settings, metrics: Metrics, supervisor: Supervisor | None = None
) -> LineSink:
    def opener() -> int:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    return LineSink(opener, path, settings, metrics, owns_fd=True, supervisor=supervisor)
