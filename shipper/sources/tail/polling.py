"""When the tail source looks at a file: every round while it grows, rarely once quiet.

A node runs a hundred pods or more, often with sidecars, and most of their files are
quiet at any moment. Growth is found by polling (one `fstat` a file), so polling every
file every round would make a node of a thousand quiet containers cost a few percent of a
core for nothing. A file that grew in the last HOT_SECONDS, or has bytes unread, is
looked at every round; the others once every COLD_POLL, when a line they write waits at
most that much longer. Consumers flush what waited too long (an open partial group) on
the same terms.
"""

from __future__ import annotations

from shipper.sources.tail.follow import FollowedFile

HOT_SECONDS = 5.0  # a file that grew this recently is looked at every round
COLD_POLL = 1.0  # the others this often
FLUSH_INTERVAL = 0.25  # how often consumers may flush partial groups that waited too long


class PollSchedule:
    """Which files a round looks at, and when their consumers may flush."""

    def __init__(self) -> None:
        self._next_cold = 0.0
        self._next_flush = 0.0
        self.cold = True  # the current round looks at every file

    def start_round(self, now: float) -> None:
        self.cold = now >= self._next_cold
        if self.cold:
            self._next_cold = now + COLD_POLL

    def looks_at(self, f: FollowedFile, now: float) -> bool:
        """Whether this round fstats `f` (and flushes its consumer, when a flush is due)."""
        return self.cold or f.unread > 0 or now - f.quiet_since < HOT_SECONDS

    def flush_due(self, now: float) -> bool:
        """Whether consumers flush this round (then `looks_at` says which)."""
        if now < self._next_flush and not self.cold:
            return False
        self._next_flush = now + FLUSH_INTERVAL
        return True
