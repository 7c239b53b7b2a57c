"""How documents are batched, retried and held in memory on their way out."""

from __future__ import annotations

from shipper.config.parsers import at_least, duration_at_least, size_at_least, whole_number
from shipper.config.table.variable import Variable
from shipper.units import parse_duration

DELIVERY = (
    Variable(
        "SHIPPER_BATCH_MAX_BYTES",
        "batch_max_bytes",
        "one bulk body at most; at least `1KiB`",
        size_at_least("1KiB"),
        default="5MiB",
        compat=("FLUENT_ELASTICSEARCH_BUFFER_CHUNK_LIMIT_SIZE",),
    ),
    Variable(
        "SHIPPER_BATCH_MAX_RECORDS",
        "batch_max_records",
        "records per bulk request at most",
        at_least(whole_number, 1, "1"),
        default="10000",
    ),
    Variable(
        "SHIPPER_FLUSH_INTERVAL",
        "flush_interval",
        "a partial batch waits at most this long; it goes at once when the buffer is full or "
        "a backlog has just been read",
        parse_duration,
        default="1s",
        compat=("FLUENT_ELASTICSEARCH_BUFFER_FLUSH_INTERVAL",),
    ),
    Variable(
        "SHIPPER_CONCURRENCY",
        "concurrency",
        "bulk requests in flight",
        at_least(whole_number, 1, "1"),
        default="2",
        compat=("FLUENT_ELASTICSEARCH_BUFFER_FLUSH_THREAD_COUNT",),
    ),
    Variable(
        "SHIPPER_BUFFER_MAX_BYTES",
        "buffer_max_bytes",
        "read but not yet acknowledged records held in memory (counted as the documents they "
        "became); when full, reading pauses; at least `256KiB`",
        size_at_least("256KiB"),
        default="16MiB",
    ),
    Variable(
        "SHIPPER_RETRY_MAX_BACKOFF",
        "retry_max_backoff",
        "exponential backoff with full jitter, capped",
        duration_at_least("1ms"),
        default="30s",
        compat=("FLUENT_ELASTICSEARCH_BUFFER_RETRY_MAX_INTERVAL",),
    ),
    Variable(
        "SHIPPER_REQUEST_TIMEOUT",
        "request_timeout",
        "one bulk request",
        duration_at_least("1ms"),
        default="30s",
        compat=("FLUENT_ELASTICSEARCH_REQUEST_TIMEOUT",),
    ),
    Variable(
        "SHIPPER_ONCE_RETRY_TIMEOUT",
        "once_retry_timeout",
        "with `--once`: how long failed deliveries are retried before giving up (exit 3)",
        parse_duration,
        default="60s",
    ),
    Variable(
        "SHIPPER_DEAD_LETTER_MAX_BYTES",
        "dead_letter_max_bytes",
        "size cap of the dead-letter file; at least `1KiB`",
        size_at_least("1KiB"),
        default="100MiB",
    ),
)
