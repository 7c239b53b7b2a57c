"""The node's own log files (SHIPPER_NODE_LOG_PATHS): what a second tail source feeds.

The files are followed by the same tail source as the container logs (rotation,
truncation, positions that follow acknowledgements, the shared byte budget), with positions
of their own in `$SHIPPER_STATE_DIR/node/positions.json`. This module is the consumer that
source feeds: each file's bytes become records (`shipper.transforms.klog`), then documents
shaped as the fluentd-elasticsearch image's `kubernetes.conf` inputs make them:

    {"@timestamp": …, "severity": "I", "pid": "1234", "source": "server.go:42",
     "message": …, "tag": "kube-proxy", "kubernetes": {"host": "node-a"}}

(`severity`, `pid` and `source` only for klog lines). Ids follow the files' scheme: a hash of
the file's identity and the record's offset.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Hashable
from dataclasses import replace
from typing import Any, Protocol

import orjson

from shipper.budget import ByteBudget
from shipper.observe.metrics import Metrics
from shipper.record import Documents
from shipper.restart import AckTracker
from shipper.settings import Settings, TailSettings
from shipper.sources.tail.consumer import FileConsumer, FileInfo
from shipper.transforms.decoding.klog import KlogDecoder, NodeRecord

SOURCE = "node_files"  # the `source` label of its metrics
STATE_SUBDIR = "node"


class Submitter(Protocol):
    """What node files hand their blocks to (the pipeline)."""

    budget: ByteBudget

    def submit(self, file: Hashable, documents: Documents) -> None: ...

    def caught_up(self) -> None: ...


def node_settings(settings: Settings) -> TailSettings:
    """The settings of the tail source that follows the node files: their globs, no
    excludes, and positions of their own."""
    tail = settings.tail
    return replace(
        tail,
        paths=settings.node.node_log_paths,
        exclude_paths=(),
        state_dir=os.path.join(tail.state_dir, STATE_SUBDIR),
    )


def tag_of(path: str) -> str:
    """The image's tag for a node file: its name without `.log` (`/var/log/salt/minion`:
    `minion`)."""
    name = os.path.basename(path)
    return name[: -len(".log")] if name.endswith(".log") else name


class NodeFiles:
    """The tail source's consumer for node files (`shipper.sources.tail.consumer.Consumer`)."""

    def __init__(
        self,
        pipeline: Submitter,
        metrics: Metrics,
        *,
        node_name: str | None,
        max_record_bytes: int,
    ) -> None:
        """`node_name` (the Kubernetes part's) is each document's host, else this
        machine's name; `max_record_bytes` (the records') bounds a record."""
        self.pipeline = pipeline
        self.metrics = metrics
        self.max_record_bytes = max_record_bytes
        self.host = node_name or socket.gethostname()

    def open(self, file: FileInfo, tracker: AckTracker) -> FileConsumer:
        return NodeFile(self, file, tracker)

    def caught_up(self) -> None:
        self.pipeline.caught_up()


class NodeFile:
    """One followed node file: its decoder, ids and tickets."""

    def __init__(self, owner: NodeFiles, file: FileInfo, tracker: AckTracker) -> None:
        self._owner = owner
        self._tracker = tracker
        self._decoder = KlogDecoder(owner.max_record_bytes)
        digest = hashlib.blake2b(f"node|{file.key}".encode(), digest_size=8)
        self._id_prefix = digest.hexdigest() + "-"
        self._fields = {"tag": tag_of(file.path), "kubernetes": {"host": owner.host}}

    def feed(self, data: bytes, start: int) -> None:
        records = self._decoder.feed(data, start)
        self._ship(records, len(data))

    def flush_idle(self, now: float) -> None:
        records = self._decoder.flush_idle(now)
        if records:
            self._ship(records, 0)

    def finish(self) -> None:
        self._ship(self._decoder.finish(), 0)

    def _ship(self, records: list[NodeRecord], nbytes: int) -> None:
        """One ticket for these records, resuming where no open record is lost."""
        ticket = self._tracker.issue(len(records), self._decoder.resume_offset, nbytes)
        if not records:
            return
        owner = self._owner
        owner.metrics.records_read.inc(len(records))
        owner.metrics.source_records_read.labels(source=SOURCE).inc(len(records))
        docs = [orjson.dumps(self._document(r)) + b"\n" for r in records]
        # The budget holds what is in memory: the documents, not the bytes read.
        extra = sum(map(len, docs)) - nbytes
        if extra > 0:
            owner.pipeline.budget.charge(extra)
            ticket.nbytes += extra
        documents = Documents(
            docs,
            [r.time.encode() for r in records],
            [r.offset for r in records],
            self._id_prefix,
            self._fields,
            ticket,
        )
        owner.pipeline.submit(self, documents)

    def _document(self, record: NodeRecord) -> dict[str, Any]:
        doc: dict[str, Any] = {"@timestamp": record.time}
        if record.severity is not None:
            doc["severity"] = record.severity
            doc["pid"] = record.pid
            doc["source"] = record.source
        doc["message"] = record.message
        if record.truncated:
            doc["log_truncated"] = True
        doc.update(self._fields)
        return doc
