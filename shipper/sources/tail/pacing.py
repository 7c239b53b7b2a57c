"""When the tail source reads files that trickle: together, a little later, not each at once.

Reading a file costs about the same whether it brings one line or a hundred: an `fstat`,
a `pread`, a decoder call, a block of documents with its ticket, its action lines and its
acknowledgement. On a node of a thousand containers each writing a few lines a second,
reading every file as soon as it grew would make each read carry a line or two and
multiply the cost of a record several times over. So once the agent has caught up, a
round where no file has `TRICKLE_BYTES` unread reads nothing; the bytes wait until some
have waited `TRICKLE_WAIT` (no longer than an idle agent's poll leaves a line unseen), and
then one round reads every file with unread bytes; the next round comes TRICKLE_WAIT
later, so a thousand files are looked at five times a second, not after every read. A
file found with more to read (a flood, a busy container) makes its round read at once,
the trickling files with it, and the next round come at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from shipper.sources.tail.follow import FollowedFile

TRICKLE_BYTES = 16 * 1024  # a file with this much unread is read at once (and all with it)
TRICKLE_WAIT = 0.2  # seconds unread bytes wait at most for the round that reads them


class ReadPacing:
    """Whether a round reads the files with unread bytes now, or lets them gather."""

    def __init__(self) -> None:
        self._waiting_since: float | None = None  # when a round first left bytes unread

    def defer(self, files: Iterable[FollowedFile], now: float) -> bool:
        """True when this round should read none of `files` (refreshed just now): each
        has less than TRICKLE_BYTES unread and none has waited TRICKLE_WAIT yet."""
        waiting = False
        for f in files:
            unread = f.unread
            if unread >= TRICKLE_BYTES:
                break
            waiting = waiting or unread > 0
        else:
            if not waiting:
                self._waiting_since = None
                return False
            if self._waiting_since is None:
                self._waiting_since = now
            if now - self._waiting_since < TRICKLE_WAIT:
                return True
            self._waiting_since = now  # what comes after this round waits for the next
            return False
        self._waiting_since = None
        return False

    @property
    def gathering(self) -> bool:
        """Bytes may be gathering for a later round: the next round need not come at once."""
        return self._waiting_since is not None

    def wait(self, now: float, longest: float) -> float:
        """How long an idle round may wait: `longest`, or less if the bytes left unread
        must be read sooner."""
        if self._waiting_since is None:
            return longest
        return max(0.0, min(longest, self._waiting_since + TRICKLE_WAIT - now))
