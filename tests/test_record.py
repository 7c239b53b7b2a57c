"""Acknowledgements: in-order commits from out-of-order acks, and the byte budget."""

from __future__ import annotations

import asyncio
import random

import pytest

from shipper.budget import ByteBudget
from shipper.record import AckTracker, Event, Ticket, ack_all


class Recorder:
    def __init__(self) -> None:
        self.commits: list[int] = []
        self.released = 0

    def tracker(self, start: int = 0) -> AckTracker:
        return AckTracker(start, self.commits.append, self.release)

    def release(self, n: int) -> None:
        self.released += n


def test_commit_waits_for_the_oldest_ticket() -> None:
    rec = Recorder()
    tracker = rec.tracker()
    first = tracker.issue(2, resume=100, nbytes=100)
    second = tracker.issue(1, resume=250, nbytes=150)
    second.ack()
    assert rec.commits == []  # the first read is not acknowledged yet
    assert rec.released == 150  # but the second read's memory is free
    first.ack()
    assert rec.commits == []  # one of its two events is still out
    first.ack()
    assert rec.commits == [250]
    assert tracker.committed == 250
    assert rec.released == 250


def test_ticket_without_events_completes_at_once_in_order() -> None:
    rec = Recorder()
    tracker = rec.tracker(10)
    open_ticket = tracker.issue(1, resume=50, nbytes=40)
    tracker.issue(0, resume=60, nbytes=10)  # a read that held only part of a line
    assert rec.commits == []
    open_ticket.ack()
    assert rec.commits == [60]


def test_resume_offset_may_stay_behind_the_read_position() -> None:
    """An open partial group keeps the committed position at its start."""
    rec = Recorder()
    tracker = rec.tracker()
    tracker.issue(0, resume=0, nbytes=100).ack(0)
    tracker.issue(0, resume=0, nbytes=100)
    assert tracker.committed == 0
    assert rec.commits == []


def test_truncation_moves_the_committed_offset_back() -> None:
    rec = Recorder()
    tracker = rec.tracker(500)
    tracker.issue(0, resume=20, nbytes=20)
    assert rec.commits == [20]


@pytest.mark.parametrize("seed", range(20))
def test_random_ack_order_commits_only_contiguous_prefixes(seed: int) -> None:
    rnd = random.Random(seed)
    rec = Recorder()
    tracker = rec.tracker()
    tickets: list[Ticket] = []
    events: list[tuple[int, Ticket]] = []
    for i in range(30):
        n = rnd.randint(0, 4)
        ticket = tracker.issue(n, resume=(i + 1) * 10, nbytes=10)
        tickets.append(ticket)
        events += [(i, ticket)] * n
    rnd.shuffle(events)
    for _, ticket in events:
        ticket.ack()
        # committed == end of the longest fully acknowledged prefix of tickets
        prefix = 0
        while prefix < len(tickets) and tickets[prefix].pending <= 0:
            prefix += 1
        assert tracker.committed == prefix * 10
    assert tracker.committed == 300
    assert rec.commits == sorted(rec.commits)
    assert rec.released == 300


def test_ack_all_acks_each_ticket_by_its_count() -> None:
    rec = Recorder()
    tracker = rec.tracker()
    a = tracker.issue(2, resume=10, nbytes=10)
    b = tracker.issue(3, resume=20, nbytes=10)
    batch = [Event(b"{}", str(i), "", {}, t) for i, t in enumerate([a, a, b, b, b])]
    ack_all(batch[:3])
    assert (a.pending, b.pending) == (0, 2)
    ack_all(batch[3:])
    assert rec.commits[-1] == 20


async def test_budget_pauses_until_release() -> None:
    budget = ByteBudget(100)
    await budget.acquire(80)
    waiter = asyncio.create_task(budget.acquire(50))
    await asyncio.sleep(0)
    assert not waiter.done()
    budget.release(40)
    await asyncio.wait_for(waiter, 1)
    assert budget.used == 90


async def test_budget_lets_one_oversized_request_through_alone() -> None:
    budget = ByteBudget(100)
    await asyncio.wait_for(budget.acquire(500), 1)
    assert not budget.try_acquire(1)
    budget.release(500)
    assert budget.try_acquire(1)


def test_budget_refuses_to_go_negative() -> None:
    budget = ByteBudget(100)
    with pytest.raises(RuntimeError):
        budget.release(1)


async def test_charged_bytes_make_the_next_acquire_wait() -> None:
    budget = ByteBudget(100)
    await budget.acquire(60)
    budget.charge(60)  # what was read became bigger in memory
    assert budget.used == 120 and not budget.try_acquire(1)
    budget.release(120)
    assert budget.try_acquire(100)


async def test_a_reader_that_must_wait_calls_on_full() -> None:
    calls: list[int] = []
    budget = ByteBudget(100, on_full=lambda: calls.append(1))
    await budget.acquire(100)
    assert calls == []  # it fitted
    waiter = asyncio.create_task(budget.acquire(10))
    await asyncio.sleep(0)
    assert calls == [1]
    budget.release(100)
    await asyncio.wait_for(waiter, 1)
