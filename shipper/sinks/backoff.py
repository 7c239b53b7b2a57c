"""Exponential backoff with full jitter, capped: spreads the retries of many agents.

Full jitter (a uniform draw between 0 and the exponential ceiling) keeps a node
fleet that lost Elasticsearch at the same instant from coming back in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable

BASE_DELAY = 0.1  # seconds: the ceiling of the first retry


def full_jitter(attempt: int, cap: float, base: float = BASE_DELAY, draw: float = 0.5) -> float:
    """The delay before retry number `attempt` (1, 2, ...): `draw` (0..1) of the capped ceiling."""
    exponent = min(attempt - 1, 62)  # 2**62 * base overflows nothing and exceeds any cap
    return draw * min(cap, base * 2.0**exponent)


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
