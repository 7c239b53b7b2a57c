"""Which records go no further: drop and keep rules, rate limits and their markers."""

from __future__ import annotations

from shipper.config.parsers import boolean, duration_at_least
from shipper.config.table.variable import Variable
from shipper.transforms.filtering.filters import parse_filters
from shipper.transforms.filtering.rate_limit import parse_rate_limits

FILTERING = (
    Variable(
        "SHIPPER_FILTERS",
        "filters",
        "drop and keep rules, a JSON or YAML list of `{name, drop or keep, namespaces, "
        "containers, pods}` (see Dropping, keeping and throttling)",
        parse_filters,
    ),
    Variable(
        "SHIPPER_RATE_LIMITS",
        "rate_limits",
        "records/s per namespace, a JSON or YAML list of `{namespace, rate, burst, per}`; "
        '`namespace: "*"` for every other one',
        parse_rate_limits,
    ),
    Variable(
        "SHIPPER_NAMESPACE_RATE_LIMITS",
        "namespace_rate_limits",
        "read the namespace annotation `shipper.io/rate-limit` (one more watch, of namespaces)",
        boolean,
        default="false",
    ),
    Variable(
        "SHIPPER_RATE_LIMIT_INTERVAL",
        "rate_limit_interval",
        "at least `100ms`: a throttled container's marker document at most this often",
        duration_at_least("100ms"),
        default="10s",
    ),
)
