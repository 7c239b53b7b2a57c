"""Records and documents as columns; acknowledgements: in-order commits from out-of-order
acks, and the byte budget."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipper.budget import ByteBudget
from shipper.record import AckTracker, Documents, Pieces, Record, Records, Ticket, ack_all


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
    a = _documents(tracker.issue(2, resume=10, nbytes=10), 2)
    b = _documents(tracker.issue(3, resume=20, nbytes=10), 3)
    ack_all([a, b.slice(0, 1)])
    assert (a.ticket.pending, b.ticket.pending) == (0, 2)
    ack_all([b.slice(1, 3)])
    assert rec.commits[-1] == 20


def _documents(ticket: Ticket, n: int, ids: list[str] | None = None) -> Documents:
    docs = [b'{"n":%d}\n' % i for i in range(n)]
    times = [b"2024-05-01T12:00:%02dZ" % i for i in range(n)]
    return Documents(docs, times, [i * 160 for i in range(n)], "f-", {"a": 1}, ticket, ids)


def test_document_ids_come_from_the_prefix_and_offset_or_are_given() -> None:
    ticket = Recorder().tracker().issue(6, resume=1, nbytes=0)
    assert _documents(ticket, 3).id_list() == ["f-0", "f-a0", "f-140"]
    assert _documents(ticket, 3, ids=["x", "", "z"]).id_list() == ["x", "", "z"]


def test_documents_slice_and_pick_keep_their_columns_aligned() -> None:
    ticket = Recorder().tracker().issue(5, resume=1, nbytes=0)
    block = _documents(ticket, 5)
    part = block.slice(1, 3)
    assert part.docs == [b'{"n":1}\n', b'{"n":2}\n'] and len(part) == 2
    assert part.times == [b"2024-05-01T12:00:01Z", b"2024-05-01T12:00:02Z"]
    assert part.id_list() == ["f-a0", "f-140"]
    assert (part.ticket, part.fields, part.ids) == (ticket, {"a": 1}, None)
    picked = _documents(ticket, 5, ids=list("abcde")).pick([0, 3, 4])
    assert picked.docs == [b'{"n":0}\n', b'{"n":3}\n', b'{"n":4}\n']
    assert picked.offsets == [0, 480, 640] and picked.id_list() == ["a", "d", "e"]
    assert picked.times[1] == b"2024-05-01T12:00:03Z"


def test_documents_ack_counts_their_own_documents_only() -> None:
    rec = Recorder()
    ticket = rec.tracker().issue(5, resume=500, nbytes=50)
    block = _documents(ticket, 5)
    block.slice(0, 0).ack()
    block.pick([1, 3]).ack()
    assert ticket.pending == 3 and rec.commits == []
    block.slice(4, 5).ack()
    block.pick([0, 2]).ack()
    assert ticket.pending == 0 and rec.commits == [500] and rec.released == 50


def test_records_keep_rows_as_columns() -> None:
    rows = [
        Record("2024-05-01T12:00:00Z", "stdout", "one", 0),
        Record("2024-05-01T12:00:01.5Z", "stderr", "two", 40, truncated=True),
    ]
    records = Records.of(rows)
    assert len(records) == 2 and records.utc
    assert records.times == [b"2024-05-01T12:00:00Z", b"2024-05-01T12:00:01.5Z"]
    assert records.streams == [b"stdout", b"stderr"]
    assert records.texts == ["one", "two"] and records.offsets == [0, 40]
    assert records.truncated == [1]
    assert list(records) == rows


def test_records_extend_shifts_truncated_rows_and_keeps_utc_only_if_both_are() -> None:
    records = Records.of([Record("2024-05-01T12:00:00Z", "stdout", "a", 0, truncated=True)])
    other = Records()
    other.append(Record("2024-05-01T14:00:00+02:00", "stdout", "b", 10))
    other.append(Record("2024-05-01T12:00:02Z", "stderr", "c", 20, truncated=True))
    assert not other.utc
    records.extend(other)
    assert len(records) == 3 and records.truncated == [0, 2] and not records.utc
    assert [row.log for row in records] == ["a", "b", "c"]
    assert [row.truncated for row in records] == [True, False, True]
    assert list(records)[1].time == "2024-05-01T14:00:00+02:00"
    records.add_columns([b"2024-05-01T12:00:03Z"], [b"stdout"], ["d"], [30])
    assert records.offsets == [0, 10, 20, 30] and records.truncated == [0, 2]


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


@given(
    st.lists(st.tuples(st.binary(max_size=12), st.binary(max_size=12)), max_size=6),
    st.binary(max_size=12),
    st.data(),
)
def test_documents_kept_as_pieces_are_their_columns_and_constants_row_by_row(
    rows: list[tuple[bytes, bytes]], end: bytes, data: st.DataObject
) -> None:
    firsts, seconds = [a for a, _ in rows], [b for _, b in rows]
    ticket = Recorder().tracker().issue(len(rows), resume=1, nbytes=1)
    pieces = Pieces((b'{"t":"', firsts, b'","m":', seconds, end + b"\n"))
    docs = Documents(pieces, firsts, list(range(len(rows))), "p-", {}, ticket)
    expected = [b'{"t":"' + a + b'","m":' + b + end + b"\n" for a, b in rows]
    assert len(docs) == len(rows)
    assert docs.docs == expected
    assert docs.nbytes == sum(map(len, expected))
    assert docs.sizes() == list(map(len, expected))
    lead = [b"action %d\n" % i for i in range(len(rows))]
    assert b"".join(docs.parts(lead)) == b"".join(
        a + d for a, d in zip(lead, expected, strict=True)
    )
    assert b"".join(docs.parts()) == b"".join(expected)
    start = data.draw(st.integers(0, len(rows)))
    stop = data.draw(st.integers(start, len(rows)))
    part = docs.slice(start, stop)
    assert (part.docs, part.offsets, part.times) == (
        expected[start:stop],
        docs.offsets[start:stop],
        firsts[start:stop],
    )
    positions = sorted(
        data.draw(st.sets(st.integers(0, max(0, len(rows) - 1)), max_size=len(rows)))
    )
    picked = docs.pick(positions)
    assert picked.docs == [expected[i] for i in positions]
    assert picked.nbytes == sum(len(expected[i]) for i in positions)


def test_whole_documents_are_kept_as_they_came() -> None:
    whole = [b'{"a":1}\n', b'{"b":2}\n']
    ticket = Recorder().tracker().issue(2, resume=1, nbytes=1)
    docs = Documents(whole, [b"t", b"t"], [0, 1], "p-", {}, ticket)
    assert docs.docs is whole
    assert (docs.nbytes, docs.sizes(), docs.slice(1, 2).docs) == (16, [8, 8], whole[1:])
