"""Every metric of the README's metrics table, on one registry owned by the running agent.

Hot paths count per chunk or per batch (`inc(n)`), never per line.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from shipper import __version__
from shipper.timestamps import epoch_seconds

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The agent's metrics. One instance per process, passed to each component."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.read_bytes = Counter("shipper_read_bytes", "Bytes read from log files.", registry=r)
        self.records_read = Counter(
            "shipper_records_read", "Records parsed from log files (partials joined).", registry=r
        )
        self.records_malformed = Counter(
            "shipper_records_malformed",
            "Lines that did not parse in their file's format, shipped as raw text.",
            registry=r,
        )
        self.json_parse_failures = Counter(
            "shipper_json_parse_failures",
            "Records with JSON parsing on whose log was not a JSON object (kept as plain text).",
            registry=r,
        )
        self.json_keys_dropped = Counter(
            "shipper_json_keys_dropped",
            "Keys of top-level merged JSON logs left out: they name or expand into our fields.",
            registry=r,
        )
        self.records_delivered = Counter(
            "shipper_records_delivered", "Records acknowledged by the output.", registry=r
        )
        self.records_dropped = Counter(
            "shipper_records_dropped",
            "Records dropped on purpose, by reason.",
            ["reason"],
            registry=r,
        )
        self.records_dead_lettered = Counter(
            "shipper_records_dead_lettered",
            "Records rejected by the output and written to the dead-letter file.",
            registry=r,
        )
        self.records_retried = Counter(
            "shipper_records_retried", "Record delivery attempts that are retried.", registry=r
        )
        self.bulk_requests = Counter(
            "shipper_bulk_requests",
            "Bulk requests sent, by HTTP status (or 'error' when no answer came).",
            ["status"],
            registry=r,
        )
        self.bulk_request_duration = Histogram(
            "shipper_bulk_request_duration_seconds",
            "Time from sending a bulk request to reading its answer.",
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.buffer_bytes = Gauge(
            "shipper_buffer_bytes",
            "Read but not yet acknowledged bytes held in memory.",
            registry=r,
        )
        self.files_watched = Gauge("shipper_files_watched", "Files being tailed.", registry=r)
        self.lag_bytes = Gauge(
            "shipper_lag_bytes", "Bytes written to tailed files but not yet read.", registry=r
        )
        self.delivery_latency = Histogram(
            "shipper_delivery_latency_seconds",
            "Time from a record's own timestamp to its acknowledgement.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rotations = Counter("shipper_rotations", "File rotations followed.", registry=r)
        self.compressed_read_bytes = Counter(
            "shipper_compressed_read_bytes",
            "Bytes read (as decompressed) from kubelet's gzipped copies of rotated files.",
            registry=r,
        )
        self.lost_bytes = Counter(
            "shipper_lost_bytes",
            "Bytes deleted before they were read, by reason (at most: some may have been "
            "delivered just before the agent stopped).",
            ["reason"],
            registry=r,
        )
        self.truncations = Counter(
            "shipper_truncations", "Files found truncated and read again from 0.", registry=r
        )
        self.kubernetes_api_errors = Counter(
            "shipper_kubernetes_api_errors", "Failed Kubernetes API requests.", registry=r
        )
        self.internal_errors = Counter(
            "shipper_internal_errors",
            "Long-lived tasks that failed and were started again, by task.",
            ["task"],
            registry=r,
        )
        self.kubernetes_metadata_truncated = Counter(
            "shipper_kubernetes_metadata_truncated",
            "Times a file's pod metadata was trimmed to SHIPPER_KUBE_MAX_METADATA_BYTES.",
            registry=r,
        )
        self.records_filtered = Counter(
            "shipper_records_filtered",
            "Records dropped by a drop or keep rule, by rule (also in records_dropped).",
            ["rule"],
            registry=r,
        )
        self.records_rate_limited = Counter(
            "shipper_records_rate_limited",
            "Records dropped over a rate limit, by namespace (also in records_dropped).",
            ["namespace"],
            registry=r,
        )
        self.output_up = Gauge(
            "shipper_output_up", "1 when the last request to the output succeeded.", registry=r
        )
        # --- node logs: the journal and node files, by source ("journal", "node_files")
        self.source_records_read = Counter(
            "shipper_source_records_read",
            "Records read from the node's journal and files, by source.",
            ["source"],
            registry=r,
        )
        self.source_records_acked = Counter(
            "shipper_source_records_acknowledged",
            "Records of the journal and node files delivered or dead-lettered, by source.",
            ["source"],
            registry=r,
        )
        self.journal_restarts = Counter(
            "shipper_journal_restarts",
            "Times journalctl exited and was started again, by journal directory.",
            ["directory"],
            registry=r,
        )
        self.build_info = Info("shipper_build", "The agent's version.", registry=r)
        self.build_info.info({"version": __version__})

    def observe_latency(self, timestamp: bytes) -> None:
        """One delivery latency sample: now minus a record's own UTC time.

        Sinks take one sample per write or request (parsing every timestamp would cost
        more than the write); documents without a time of their own (replays) are skipped.
        """
        if timestamp:
            age = time.time() - epoch_seconds(timestamp.decode())
            self.delivery_latency.observe(max(0.0, age))

    def dropped(self, reason: str, n: int = 1) -> None:
        """Count `n` records dropped for `reason` (a short snake_case word)."""
        if n:
            self.records_dropped.labels(reason=reason).inc(n)
