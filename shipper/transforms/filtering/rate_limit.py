"""Rate limits: at most `rate` records per second (with a `burst`) per namespace, pod or
container; the excess is dropped and counted, and a marker document says so.

Limits come from `SHIPPER_RATE_LIMITS` (by namespace, `*` for every other one) and from
the namespace annotation `shipper.io/rate-limit`, which wins. Each limited key (the
namespace, or the pod or container when the limit says `per`) has one token bucket,
shared by its files. A record takes a token or is dropped where it is, before any work
on it: a throttled namespace costs the others nothing. A file with no limit has no
`FileLimit` and pays nothing per record.

Once per `SHIPPER_RATE_LIMIT_INTERVAL` at most, a file that dropped records gets one
marker record saying how many lines of which container were dropped: the gap is visible
next to the logs. The marker takes the time, stream and offset of the first line it stands for
(so its id is that line's, which was never shipped).
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from shipper.observe.metrics import Metrics
from shipper.record import Record, Records
from shipper.transforms.filtering.rule_lists import parse_list

if TYPE_CHECKING:  # the config parses rules without loading the API client
    from shipper.transforms.kubernetes.metadata import PodMetadata

log = logging.getLogger(__name__)

RATE_LIMIT_ANNOTATION = "shipper.io/rate-limit"  # on a namespace
ANY_NAMESPACE = "*"
Per = Literal["namespace", "pod", "container"]
_PER = ("namespace", "pod", "container")
_KEYS = frozenset({"namespace", "rate", "burst", "per"})


@dataclass(frozen=True, slots=True)
class RateLimit:
    namespace: str  # or "*": every namespace that has no limit of its own
    rate: float  # records per second
    burst: int  # records at once
    per: Per = "namespace"  # what shares one bucket


def parse_rate_limits(text: str) -> tuple[RateLimit, ...]:
    """`SHIPPER_RATE_LIMITS`: a JSON or YAML list of `{namespace, rate, burst, per}`."""
    limits = [_limit(entry, f"limit {n}", None) for n, entry in enumerate(parse_list(text), 1)]
    namespaces = [limit.namespace for limit in limits]
    if len(set(namespaces)) != len(namespaces):
        raise ValueError("a namespace has two limits")
    return tuple(limits)


def parse_annotation(text: str, namespace: str) -> RateLimit:
    """`shipper.io/rate-limit`: `100` (records/s) or `rate=100,burst=500,per=container`."""
    entry: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep and not entry and part.strip():
            key, value = "rate", part
        entry[key.strip()] = value.strip()
    return _limit(entry, "the annotation", namespace)


def _limit(entry: Any, where: str, namespace: str | None) -> RateLimit:
    if not isinstance(entry, dict):
        raise ValueError(f"{where} is not a mapping (example: {{namespace: noisy, rate: 100}})")
    known = _KEYS if namespace is None else _KEYS - {"namespace"}
    unknown = set(entry) - known
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}; known: {sorted(known)}")
    if namespace is None:
        namespace = entry.get("namespace")
        if not isinstance(namespace, str) or not namespace:
            raise ValueError(f"{where} needs a namespace (or {ANY_NAMESPACE!r} for any other)")
    try:
        rate = float(entry.get("rate", ""))
    except (TypeError, ValueError):
        raise ValueError(f"{where} needs rate: records per second, a number") from None
    if not rate > 0 or rate == float("inf"):
        raise ValueError(f"{where}: rate must be more than 0")
    burst = entry.get("burst", max(1, round(rate)))
    try:
        burst = int(burst)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: burst must be a whole number of records") from None
    if burst < 1:
        raise ValueError(f"{where}: burst must be at least 1")
    per = entry.get("per", "namespace")
    if per not in _PER:
        raise ValueError(f"{where}: per must be one of {', '.join(_PER)}")
    return RateLimit(namespace, rate, burst, per)


class Bucket:
    """A token bucket: `rate` tokens a second, at most `burst` saved up."""

    __slots__ = ("__weakref__", "_at", "_burst", "_rate", "_tokens")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self._rate = limit.rate
        self._burst = float(limit.burst)
        self._tokens = self._burst
        self._at = now

    def take(self, n: int, now: float) -> int:
        """How many of `n` records may pass now (the tokens they take are spent)."""
        tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        allowed = min(n, int(tokens))
        self._tokens = tokens - allowed
        return allowed


class FileLimit:
    """One file's share of a bucket, and the drops its next marker will tell of."""

    __slots__ = (
        "_bucket",
        "_clock",
        "_counter",
        "_first",
        "_interval",
        "_metrics",
        "_since",
        "dropped",
        "key",
        "limit",
        "who",
    )

    def __init__(
        self,
        key: tuple[Any, ...],
        bucket: Bucket,
        limit: RateLimit,
        who: str,
        namespace: str,
        metrics: Metrics,
        clock: Callable[[], float],
        interval: float,
    ) -> None:
        self.key = key
        self._interval = interval
        self._bucket = bucket
        self.limit = limit
        self.who = who  # namespace/pod/container, for the marker
        self._metrics = metrics
        self._counter = metrics.records_rate_limited.labels(namespace=namespace)
        self._clock = clock
        self.dropped = 0  # since the last marker
        self._first: Record | None = None  # the first of them
        self._since = 0.0

    def apply(self, records: Records) -> Records:
        """The records within the limit, then a marker when one is due."""
        now = self._clock()
        if records:
            allowed = self._bucket.take(len(records), now)
            if allowed < len(records):
                if self._first is None:
                    self._first = Record(
                        records.times[allowed].decode(),
                        records.streams[allowed].decode(),
                        "",
                        records.offsets[allowed],
                    )
                    self._since = now
                n = len(records) - allowed
                self.dropped += n
                self._counter.inc(n)
                self._metrics.dropped("rate_limit", n)
                records = records.slice(0, allowed)
        if self.due(now):
            records.append(self._marker(now))
        return records

    def due(self, now: float) -> bool:
        """A marker is owed: records were dropped at least an interval ago."""
        return self._first is not None and now - self._since >= self._interval

    def _marker(self, now: float) -> Record:
        first = self._first
        assert first is not None
        limit = self.limit
        first.log = (
            f"shipper: rate limit dropped {self.dropped} lines of {self.who} "
            f"in {now - self._since:.0f}s (limit {limit.rate:g}/s, burst {limit.burst})"
        )
        self._first = None
        self.dropped = 0
        return first


class RateLimiter:
    """The agent's limits and their buckets (a bucket lives while a file uses it)."""

    def __init__(
        self,
        limits: tuple[RateLimit, ...],
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 10.0,
    ) -> None:
        self._limits = {limit.namespace: limit for limit in limits}
        self._interval = interval
        self._metrics = metrics
        self._clock = clock
        self._buckets: weakref.WeakValueDictionary[tuple[Any, ...], Bucket] = (
            weakref.WeakValueDictionary()
        )

    def file_limit(
        self,
        namespace: str | None,
        pod: str | None,
        container: str | None,
        annotated: RateLimit | None,
        current: FileLimit | None,
    ) -> FileLimit | None:
        """The limit of a file (`current` if it still applies), or None when it has none."""
        if namespace is None:
            return None
        limit = annotated or self._limits.get(namespace) or self._limits.get(ANY_NAMESPACE)
        if limit is None:
            return None
        depth = _PER.index(limit.per) + 1
        names = (namespace, pod or "", container or "")[:depth]
        key = (limit.rate, limit.burst, *names)
        if current is not None and current.key == key:
            return current
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(limit, self._clock())
        who = "/".join(n for n in (namespace, pod, container) if n)
        return FileLimit(
            key, bucket, limit, who, namespace, self._metrics, self._clock, self._interval
        )


def namespace_limit(meta: PodMetadata | None) -> RateLimit | None:
    """The limit the pod's namespace annotation sets, if any (and valid)."""
    if meta is None:
        return None
    text = meta.namespace_annotations.get(RATE_LIMIT_ANNOTATION, "").strip()
    return annotated_limit(text, meta.namespace) if text else None


@lru_cache(maxsize=1024)
def annotated_limit(text: str, namespace: str) -> RateLimit | None:
    """A namespace's `shipper.io/rate-limit` annotation; None (said once) when not valid."""
    try:
        return parse_annotation(text, namespace)
    except ValueError as exc:
        log.warning("namespace %s: %s=%r ignored: %s", namespace, RATE_LIMIT_ANNOTATION, text, exc)
        return None
