"""When a request that failed goes again, is split, or is given up; how long to wait.

A request refused as a whole (400, 413) is split in halves until the culprit is
found: a part that is delivered proves the others hold it. But a request of one
document refused whole, or any request refused whole once one was, says the
endpoint is at fault (a proxy, a size limit), not a document: it goes again with
backoff like any failed request, never dead-lettered. Failures are retried forever
while running; with --once, until they have lasted SHIPPER_ONCE_RETRY_TIMEOUT.

No I/O here: the decisions are tested without a network (tests/sinks/elasticsearch/
test_policy.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shipper.net.backoff import Backoff

SPLIT_STATUSES = (400, 413)  # the request as a whole is refused: find the culprit

Span = tuple[int, int]  # items `start` to `stop` of a request


class RetryPolicy:
    """The state the workers share about failures: since when requests fail, and whether
    the endpoint refuses requests whole (even of one document)."""

    def __init__(
        self, *, once: bool, budget: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """`once`: give up after `budget` seconds of failures (--once), else never."""
        self._once = once
        self._budget = budget
        self._clock = clock
        self.failing_since: float | None = None  # start of the current run of failures
        self.refusing = False  # the endpoint refuses requests whole, even of one document

    def halves(self, count: int) -> tuple[Span, Span] | None:
        """A request of `count` items was refused whole (400, 413): its two halves, to send
        in this order; None when the endpoint is at fault, so it goes again whole."""
        if count > 1 and not self.refusing:
            half = count // 2
            return (0, half), (half, count)
        self.refusing = True
        return None

    def answered(self) -> None:
        """A request got an answer item by item: the endpoint no longer refuses whole."""
        self.refusing = False

    def delivered(self) -> None:
        """Every item of a request is settled: the run of failures, if any, is over."""
        self.failing_since = None

    def give_up(self) -> bool:
        """One more failed attempt: whether to give up on it (--once, past the budget)."""
        now = self._clock()
        if self.failing_since is None:
            self.failing_since = now
        return self._once and now - self.failing_since >= self._budget

    def failing_for(self) -> float:
        """Seconds since the current run of failures began (0 when there is none)."""
        return 0.0 if self.failing_since is None else self._clock() - self.failing_since

    def delay(self, backoff: Backoff) -> float:
        """The backoff's next delay; with --once, never past the end of the budget."""
        delay = backoff.next_delay()
        if self._once and self.failing_since is not None:
            left = self.failing_since + self._budget - self._clock()
            delay = min(delay, max(0.0, left))
        return delay
