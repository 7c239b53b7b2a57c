"""Which files a round of the tail source looks at: every round while they grow, once a
COLD_POLL when quiet, every round while they have bytes unread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from shipper.sources.tail.follow import FollowedFile
from shipper.sources.tail.polling import (
    COLD_POLL,
    FLUSH_INTERVAL,
    HOT_SECONDS,
    IDLE_WAIT,
    PollSchedule,
)


@dataclass
class File:
    """The three things the schedule reads of a followed file."""

    quiet_since: float
    unread: int = 0
    identity: tuple[int, int] = (1, 1)


def rounds_looking(file: File, start: float, seconds: float, step: float = 0.2) -> int:
    polls = PollSchedule()
    followed = cast(FollowedFile, file)
    files = {followed.identity: followed}
    looked = 0
    for k in range(round(seconds / step)):
        now = start + k * step
        polls.start_round(now)
        chosen = polls.round_files(files, now)
        polls.looked_at(chosen, now)
        looked += followed in chosen
    return looked


def test_a_growing_file_is_looked_at_every_round() -> None:
    assert rounds_looking(File(quiet_since=100.0), 100.0, 4.0) == 20


def test_a_quiet_file_is_looked_at_once_a_cold_poll() -> None:
    quiet = File(quiet_since=100.0 - HOT_SECONDS - 1)
    assert rounds_looking(quiet, 100.0, 10.0) == round(10.0 / COLD_POLL)


def test_a_quiet_file_with_bytes_unread_is_read_every_round() -> None:
    backlog = File(quiet_since=0.0, unread=4096)
    assert rounds_looking(backlog, 100.0, 4.0) == 20


def test_flushes_come_every_flush_interval_and_on_every_cold_round() -> None:
    polls = PollSchedule()
    due = []
    for tick in range(40):  # 4 s of 0.1 s rounds
        now = 100.0 + tick / 10
        polls.start_round(now)
        due.append(polls.flush_due(now))
    assert sum(due) >= 4.0 / FLUSH_INTERVAL - 1
    assert all(due[k] for k in range(0, 40, round(COLD_POLL * 10)))  # the cold rounds


def test_files_added_outside_a_round_are_looked_at_the_round_after_look_all() -> None:
    polls = PollSchedule()
    quiet = cast(FollowedFile, File(quiet_since=0.0))
    files = {quiet.identity: quiet}
    polls.start_round(100.0)
    polls.looked_at(polls.round_files(files, 100.0), 100.0)
    new = cast(FollowedFile, File(quiet_since=0.0, identity=(1, 2)))
    files[new.identity] = new
    polls.start_round(100.2)
    assert polls.round_files(files, 100.2) == []  # between cold rounds: only the hot ones
    polls.look_all()
    polls.start_round(100.4)
    assert polls.round_files(files, 100.4) == [quiet, new]


def test_with_no_hot_file_the_source_sleeps_until_the_next_cold_round_or_its_deadline() -> None:
    polls = PollSchedule()
    quiet = cast(FollowedFile, File(quiet_since=0.0))
    files = {quiet.identity: quiet}
    polls.start_round(100.0)
    polls.looked_at(polls.round_files(files, 100.0), 100.0)
    assert polls.wait(100.0, due=200.0) == COLD_POLL
    assert polls.wait(100.0, due=100.25) == 0.25
    growing = cast(FollowedFile, File(quiet_since=100.0, identity=(1, 2)))
    files[growing.identity] = growing
    polls.look_all()
    polls.start_round(100.1)
    polls.looked_at(polls.round_files(files, 100.1), 100.1)
    assert polls.wait(100.1, due=200.0) == IDLE_WAIT
