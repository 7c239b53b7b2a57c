"""When the tail source looks at a file: every round while it grows, rarely once quiet.

A node runs a hundred pods or more, often with sidecars, and most of their files are
quiet at any moment. Growth is found by polling (one `fstat` a file), so polling every
file every round would make a node of a thousand quiet containers cost a few percent of a
core for nothing. A file that grew in the last HOT_SECONDS, or has bytes unread, is
looked at every round; the others once every COLD_POLL, when a line they write waits at
most that much longer. Consumers flush what waited too long (an open partial group) on
the same terms.

Between cold rounds a round goes through the hot files only (the list the last round
left), not through every file: an idle node's rounds cost nothing per quiet file. A file
that appears, or stops being matched, outside a round (a scan) makes the next round cold.
With no hot file, the source sleeps until the next cold round (or whatever else is due)
instead of waking every IDLE_WAIT for rounds with nothing to look at.
"""

from __future__ import annotations

from shipper.sources.tail.follow import FollowedFile
from shipper.sources.tail.positions import Identity

IDLE_WAIT = 0.2  # nothing to read (or no budget): wait at most this long before the next round
HOT_SECONDS = 5.0  # a file that grew this recently is looked at every round
COLD_POLL = 1.0  # the others this often
FLUSH_INTERVAL = 0.25  # how often consumers may flush partial groups that waited too long


class PollSchedule:
    """Which files a round looks at, and when their consumers may flush."""

    def __init__(self) -> None:
        self._next_cold = 0.0
        self._next_flush = 0.0
        self.cold = True  # the current round looks at every file
        self._hot: list[FollowedFile] = []  # hot as of the last round
        self.looked: list[FollowedFile] = []  # the files this round looked at

    def start_round(self, now: float) -> None:
        self.cold = now >= self._next_cold
        if self.cold:
            self._next_cold = now + COLD_POLL

    def look_all(self) -> None:
        """Files were added or let go of outside the rounds: the next round looks at all."""
        self._next_cold = 0.0

    def round_files(self, files: dict[Identity, FollowedFile]) -> list[FollowedFile]:
        """The files this round fstats: all of them on a cold round, else the hot ones."""
        if self.cold:
            return list(files.values())
        return [f for f in self._hot if files.get(f.identity) is f]

    def looked_at(self, looked: list[FollowedFile], now: float) -> None:
        """The files this round fstatted (refreshed): the next rounds' hot list."""
        self.looked = looked
        self._hot = [f for f in looked if self.hot(f, now)]

    @staticmethod
    def hot(f: FollowedFile, now: float) -> bool:
        """Grew lately, or has bytes unread: looked at every round."""
        return f.unread > 0 or now - f.quiet_since < HOT_SECONDS

    def wait(self, now: float, due: float) -> float:
        """How long an idle source may sleep: IDLE_WAIT while a file is hot, else until the
        next cold round or `due` (the source's own next deadline), whichever is first."""
        if self._hot:
            return IDLE_WAIT
        return max(0.0, min(self._next_cold, due) - now)

    def flush_due(self, now: float) -> bool:
        """Whether consumers flush this round (those this round looked at)."""
        if now < self._next_flush and not self.cold:
            return False
        self._next_flush = now + FLUSH_INTERVAL
        return True
