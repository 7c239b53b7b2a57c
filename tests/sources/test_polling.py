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


def one_round(
    polls: PollSchedule, files: dict[tuple[int, int], FollowedFile], now: float
) -> list[FollowedFile]:
    """A round of the source: the files it looks at (every one refreshed fine)."""
    polls.start_round(now)
    chosen = polls.round_files(files)
    polls.looked_at(chosen, now)
    return chosen


def quiet_after_a_cold_round() -> tuple[PollSchedule, dict[tuple[int, int], FollowedFile]]:
    """A schedule whose first (cold) round, at 100 s, looked at one quiet file."""
    polls = PollSchedule()
    quiet = cast(FollowedFile, File(quiet_since=0.0))
    files = {quiet.identity: quiet}
    one_round(polls, files, 100.0)
    return polls, files


def rounds_looking(file: File, start: float, seconds: float, step: float = 0.2) -> int:
    polls = PollSchedule()
    followed = cast(FollowedFile, file)
    files = {followed.identity: followed}
    rounds = (one_round(polls, files, start + k * step) for k in range(round(seconds / step)))
    return sum(followed in chosen for chosen in rounds)


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
    polls, files = quiet_after_a_cold_round()
    (quiet,) = files.values()
    new = cast(FollowedFile, File(quiet_since=0.0, identity=(1, 2)))
    files[new.identity] = new
    polls.start_round(100.2)
    assert polls.round_files(files) == []  # between cold rounds: only the hot ones
    polls.look_all()
    polls.start_round(100.4)
    assert polls.round_files(files) == [quiet, new]


def test_with_no_hot_file_the_source_sleeps_until_the_next_cold_round_or_its_deadline() -> None:
    polls, files = quiet_after_a_cold_round()
    assert polls.wait(100.0, due=200.0) == COLD_POLL
    assert polls.wait(100.0, due=100.25) == 0.25
    growing = cast(FollowedFile, File(quiet_since=100.0, identity=(1, 2)))
    files[growing.identity] = growing
    polls.look_all()
    one_round(polls, files, 100.1)
    assert polls.wait(100.1, due=200.0) == IDLE_WAIT
