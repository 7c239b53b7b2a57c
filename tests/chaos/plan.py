"""What a chaos run does and when: a timeline of faults, kills and pod churn that only the
seed decides, so a run that lost records can be run again the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

KIB = 1024
SETTLE = 3.0  # seconds after an outage kept free of other faults
# An agent that keeps up delivers a record this soon after it could first be delivered
# (see Plan.deliverable): backoff, a restart, reading the backlog. Kubelet removing a
# file sooner puts its records at risk; the plan's pod removals never do.
DELIVERY_MARGIN = 10.0


@dataclass(frozen=True)
class Config:
    """The shape of a run; `FULL` is issue 12's plan, `SHORT` the variant CI runs."""

    duration: float = 120.0  # seconds of writing
    containers: int = 30  # running at any time (churn replaces the ones that end)
    weights: tuple[float, float] = (0.3, 3.0)  # a container's share of the rate, relative
    rate: int = 3000  # records per second, all containers together
    record_size: int = 400  # characters of padding per record, on average (1.4 MB/s)
    rotate_bytes: int = 512 * KIB  # kubelet's containerLogMaxSize
    rotate_check: float = 2.0  # how often kubelet compares sizes with it
    max_files: int = 5  # kubelet's containerLogMaxFiles
    outages: tuple[float, ...] = (14.0, 10.0)  # Elasticsearch answers 503 for that long
    rejections: float = 9.0  # seconds of 429 on `reject_fraction` of the items
    reject_fraction: float = 0.2
    slow: float = 10.0  # seconds of slow answers
    slow_delay: float = 0.8  # how slow
    kills: int = 4  # SIGKILLs of the agent
    kills_in_outages: int = 2  # of them, this many late in an outage (reading long paused)
    restart_after: float = 1.0
    churn: int = 6  # pods that end, each replaced by a new one
    gc_delay: float = 40.0  # an ended pod's logs are removed this long after it ended
    buffer: str = "2MiB"  # SHIPPER_BUFFER_MAX_BYTES: small, so outages stop reading
    max_backoff: str = "5s"  # SHIPPER_RETRY_MAX_BACKOFF
    catch_up: float = 90.0  # after writing: how long the agent may take to deliver the rest
    agent_env: tuple[tuple[str, str], ...] = ()  # more settings of the agent, or overrides


FULL = Config()
SHORT = Config(
    duration=20.0,
    containers=6,
    weights=(0.9, 1.2),  # alike, so each rotates every 4-5 s: twice in the outage,
    rate=2000,  # yet not so often that kubelet deletes what a fixed agent could still read
    record_size=100,
    rotate_bytes=200 * KIB,
    rotate_check=1.0,
    outages=(10.0,),
    rejections=3.0,
    slow=2.0,
    slow_delay=0.5,
    kills=2,
    kills_in_outages=1,
    churn=2,
    gc_delay=12.0,
    buffer="512KiB",
    max_backoff="1s",
    catch_up=25.0,
)


@dataclass(frozen=True, order=True)
class Event:
    """At `at` seconds into the writing, do `action` (with `value`: a delay, a pod slot)."""

    at: float
    action: str  # outage_on/off, reject_on/off, slow_on/off, kill, churn, gc
    value: float = 0.0


@dataclass(frozen=True)
class Plan:
    seed: int
    config: Config
    events: tuple[Event, ...]

    def deliverable(self, written: float) -> float:
        """When a record written at `written` can first be delivered."""
        return _deliverable(self.windows("outage"), written)

    def windows(self, on: str) -> list[tuple[float, float]]:
        """The (start, end) of each fault window of one kind, e.g. "outage"."""
        starts = [e.at for e in self.events if e.action == f"{on}_on"]
        ends = [e.at for e in self.events if e.action == f"{on}_off"]
        return list(zip(starts, ends, strict=True))


def make_plan(config: Config, seed: int) -> Plan:
    """Place each fault, kill and churn at seeded times within the writing.

    Faults end before 90 % of the duration, so the run's end shows what they did. The
    outages come first; the 429s, slow answers and the other kills fall outside them
    (and the few seconds after), so how long reading is paused stays what the plan says.
    A kill placed in an outage falls in its last third: reading has been paused longest
    then, and kubelet has rotated (and gzipped) the files the agent still holds. An ended
    pod's logs are removed `gc_delay` later, but never during an outage or just after, so
    an agent that keeps up loses nothing to the removal itself.
    """
    rng = random.Random(seed)
    d = config.duration
    events: list[Event] = []
    outages = _spread(rng, config.outages, 0.15 * d, 0.85 * d)
    busy = [(start, start + length + SETTLE) for start, length in outages]
    for start, length in outages:
        events += [Event(start, "outage_on"), Event(start + length, "outage_off")]
    for name, length, value in (
        ("reject", config.rejections, config.reject_fraction),
        ("slow", config.slow, config.slow_delay),
    ):
        if length > 0:
            start = _outside(rng, busy, length, 0.05 * d, 0.9 * d)
            events += [Event(start, f"{name}_on", value), Event(start + length, f"{name}_off")]
    kills = [
        rng.uniform(start + length * 0.7, start + length - 0.5)
        for start, length in outages[: config.kills_in_outages]
    ]
    gap = config.restart_after + 2.0
    for _ in range(config.kills - len(kills)):
        taken = busy + [(t - gap, t + gap) for t in kills]
        kills.append(_outside(rng, taken, 0.0, 0.1 * d, 0.9 * d))
    events += [Event(at, "kill") for at in sorted(kills)]
    for _ in range(config.churn):
        at = rng.uniform(0.05 * d, 0.9 * d)
        events.append(Event(at, "churn", rng.randrange(1 << 30)))
        windows = [(start, start + length) for start, length in outages]
        removal = max(at + config.gc_delay, _deliverable(windows, at) + DELIVERY_MARGIN)
        for start, end in busy:
            if start <= removal < end:
                removal = end
        events.append(Event(removal, "gc", at))
    return Plan(seed, config, tuple(sorted(events)))


def _deliverable(outages: list[tuple[float, float]], written: float) -> float:
    """At once, or when the outage it was written in (or 2 s before: not sent yet) ends."""
    for start, end in outages:
        if start - 2.0 <= written < end:
            return end
    return written


def _outside(
    rng: random.Random, taken: list[tuple[float, float]], length: float, lo: float, hi: float
) -> float:
    """A start in [lo, hi - length) whose window overlaps none taken (the last try if
    none of 100 does)."""
    start = lo
    for _ in range(100):
        start = rng.uniform(lo, max(lo, hi - length))
        if all(start + length <= a or start >= b for a, b in taken):
            break
    return start


def _spread(
    rng: random.Random, lengths: tuple[float, ...], lo: float, hi: float
) -> list[tuple[float, float]]:
    """Place windows of these lengths in order, each in its own part of [lo, hi)."""
    if not lengths:
        return []
    part = (hi - lo) / len(lengths)
    placed = []
    for i, length in enumerate(lengths):
        start = lo + i * part
        placed.append((rng.uniform(start, max(start, start + part - length)), length))
    return placed
