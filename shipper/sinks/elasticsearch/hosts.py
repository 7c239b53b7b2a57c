"""SHIPPER_ES_HOSTS: spread requests over the hosts and fail over from the ones that fail.

Plain round-robin would keep sending every other retry to a dead host; instead a host
that failed rests (1 s, doubling per consecutive failure, capped) and the others take
its turns. When all rest, the one that comes back first is tried: never none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from shipper.net.backoff import ceiling

FIRST_REST = 1.0  # seconds a host sits out after its first failure


class HostPool:
    """The base URLs of one cluster; `pick` the next, report each request's fate."""

    def __init__(
        self,
        hosts: Sequence[str],
        max_rest: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not hosts:
            raise ValueError("no Elasticsearch host configured (SHIPPER_ES_HOSTS)")
        self.hosts = tuple(host.rstrip("/") for host in hosts)
        self._max_rest = max_rest
        self._clock = clock
        self._next = 0
        self._failures = dict.fromkeys(self.hosts, 0)
        self._rest_until = dict.fromkeys(self.hosts, 0.0)

    def pick(self) -> str:
        """The host for the next request: the next in turn that is not resting."""
        now = self._clock()
        count = len(self.hosts)
        for step in range(count):
            host = self.hosts[(self._next + step) % count]
            if self._rest_until[host] <= now:
                self._next = (self._next + step + 1) % count
                return host
        return min(self.hosts, key=self._rest_until.__getitem__)

    def failed(self, host: str) -> None:
        """`host` gave no usable answer: let it rest before its next turn."""
        self._failures[host] += 1
        rest = ceiling(self._failures[host], self._max_rest, FIRST_REST)
        self._rest_until[host] = self._clock() + rest

    def succeeded(self, host: str) -> None:
        """`host` answered: it takes its turns again."""
        self._failures[host] = 0
        self._rest_until[host] = 0.0
