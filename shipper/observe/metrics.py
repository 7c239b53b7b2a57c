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
        self._define_records()
        self._define_files()
        self._define_delivery()
        self._define_kubernetes()
        self._define_node_logs()
        self.internal_errors = self._counter(
            "shipper_internal_errors",
            "Long-lived tasks that failed and were started again, by task.",
            "task",
        )
        self.build_info = Info("shipper_build", "The agent's version.", registry=self.registry)
        self.build_info.info({"version": __version__})

    def _counter(self, name: str, doc: str, *labels: str) -> Counter:
        return Counter(name, doc, labels, registry=self.registry)

    def _gauge(self, name: str, doc: str) -> Gauge:
        return Gauge(name, doc, registry=self.registry)

    def _histogram(self, name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, doc, buckets=buckets, registry=self.registry)

    def _define_records(self) -> None:
        """Records as read, parsed and dropped on purpose."""
        c = self._counter
        self.records_read = c(
            "shipper_records_read", "Records parsed from log files (partials joined)."
        )
        self.records_malformed = c(
            "shipper_records_malformed",
            "Lines that did not parse in their file's format, shipped as raw text.",
        )
        self.json_parse_failures = c(
            "shipper_json_parse_failures",
            "Records with JSON parsing on whose log was not a JSON object (kept as plain text).",
        )
        self.json_keys_dropped = c(
            "shipper_json_keys_dropped",
            "Keys of top-level merged JSON logs left out: they name or expand into our fields.",
        )
        self.records_dropped = c(
            "shipper_records_dropped", "Records dropped on purpose, by reason.", "reason"
        )
        self.records_filtered = c(
            "shipper_records_filtered",
            "Records dropped by a drop or keep rule, by rule (also in records_dropped).",
            "rule",
        )
        self.records_rate_limited = c(
            "shipper_records_rate_limited",
            "Records dropped over a rate limit, by namespace (also in records_dropped).",
            "namespace",
        )

    def _define_files(self) -> None:
        """The followed files: bytes read, backlog, rotations, losses, memory held."""
        c, g = self._counter, self._gauge
        self.read_bytes = c("shipper_read_bytes", "Bytes read from log files.")
        self.files_watched = g("shipper_files_watched", "Files being tailed.")
        self.lag_bytes = g("shipper_lag_bytes", "Bytes written to tailed files but not yet read.")
        self.buffer_bytes = g(
            "shipper_buffer_bytes", "Read but not yet acknowledged bytes held in memory."
        )
        self.rotations = c("shipper_rotations", "File rotations followed.")
        self.compressed_read_bytes = c(
            "shipper_compressed_read_bytes",
            "Bytes read (as decompressed) from kubelet's gzipped copies of rotated files.",
        )
        self.lost_bytes = c(
            "shipper_lost_bytes",
            "Bytes deleted before they were read, by reason (at most: some may have been "
            "delivered just before the agent stopped).",
            "reason",
        )
        self.truncations = c("shipper_truncations", "Files found truncated and read again from 0.")

    def _define_delivery(self) -> None:
        """The output: what it acknowledged, refused, retried, and how fast."""
        c = self._counter
        self.records_delivered = c(
            "shipper_records_delivered", "Records acknowledged by the output."
        )
        self.records_dead_lettered = c(
            "shipper_records_dead_lettered",
            "Records rejected by the output and written to the dead-letter file.",
        )
        self.records_retried = c(
            "shipper_records_retried", "Record delivery attempts that are retried."
        )
        self.bulk_requests = c(
            "shipper_bulk_requests",
            "Bulk requests sent, by HTTP status (or 'error' when no answer came).",
            "status",
        )
        self.bulk_request_duration = self._histogram(
            "shipper_bulk_request_duration_seconds",
            "Time from sending a bulk request to reading its answer.",
            REQUEST_BUCKETS,
        )
        self.delivery_latency = self._histogram(
            "shipper_delivery_latency_seconds",
            "Time from a record's own timestamp to its acknowledgement.",
            LATENCY_BUCKETS,
        )
        self.output_up = self._gauge(
            "shipper_output_up", "1 when the last request to the output succeeded."
        )

    def _define_kubernetes(self) -> None:
        """Pod metadata from the API server."""
        self.kubernetes_api_errors = self._counter(
            "shipper_kubernetes_api_errors", "Failed Kubernetes API requests."
        )
        self.kubernetes_metadata_truncated = self._counter(
            "shipper_kubernetes_metadata_truncated",
            "Times a file's pod metadata was trimmed to SHIPPER_KUBE_MAX_METADATA_BYTES.",
        )

    def _define_node_logs(self) -> None:
        """The journal and the node's files, by source ("journal", "node_files")."""
        c = self._counter
        self.source_records_read = c(
            "shipper_source_records_read",
            "Records read from the node's journal and files, by source.",
            "source",
        )
        self.source_records_acked = c(
            "shipper_source_records_acknowledged",
            "Records of the journal and node files delivered or dead-lettered, by source.",
            "source",
        )
        self.journal_restarts = c(
            "shipper_journal_restarts",
            "Times journalctl exited and was started again, by journal directory.",
            "directory",
        )

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
