"""Exponential backoff, capped, with jitter: spreads the retries of many agents.

Every wait that grows with consecutive failures (a delivery retried, a host resting,
a Kubernetes watch restarted, a supervised task started again) takes its ceiling from
`ceiling`. Full jitter (a uniform draw between 0 and that ceiling) keeps a node fleet
that lost Elasticsearch at the same instant from coming back in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable

BASE_DELAY = 0.1  # seconds: the ceiling of the first retry


def ceiling(attempt: int, cap: float, base: float = BASE_DELAY) -> float:
    """The longest wait before retry number `attempt` (1, 2, ...): `base` doubled per
    failure after the first, never above `cap`."""
    exponent = min(attempt - 1, 62)  # 2**62 * base overflows nothing and exceeds any cap
    return min(cap, base * 2.0**exponent)


def full_jitter(attempt: int, cap: float, base: float = BASE_DELAY, draw: float = 0.5) -> float:
    """The delay before retry number `attempt`: `draw` (0..1) of the capped ceiling."""
    return draw * ceiling(attempt, cap, base)


class Backoff:
    """Counts consecutive failures and answers how long to wait before the next try."""

    __slots__ = ("_base", "_cap", "_random", "attempts")

    def __init__(
        self, cap: float, base: float = BASE_DELAY, rand: Callable[[], float] = random.random
    ) -> None:
        self._cap = cap
        self._base = base
        self._random = rand
        self.attempts = 0

    def next_delay(self) -> float:
        """One more failure: the delay to sleep before retrying."""
        self.attempts += 1
        return full_jitter(self.attempts, self._cap, self._base, self._random())

    def reset(self) -> None:
        """A success: the next failure starts again from the smallest delay."""
        self.attempts = 0
