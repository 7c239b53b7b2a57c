"""Files that trickle are read together, once their bytes have waited TRICKLE_WAIT; a file
with more to read, a backlog and --once are read at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pytest

from shipper.sources.tail.follow import FollowedFile
from shipper.sources.tail.pacing import TRICKLE_BYTES, TRICKLE_WAIT, ReadPacing
from tests.sources.support import TailFactory, append, lines, until


@dataclass
class File:
    """What the pacing reads of a followed file."""

    unread: int = 0


def files(*unread: int) -> list[FollowedFile]:
    return [cast(FollowedFile, File(n)) for n in unread]


def test_small_unread_bytes_wait_until_the_first_have_waited_trickle_wait() -> None:
    pacing = ReadPacing()
    assert not pacing.defer(files(0, 0), 10.0)  # nothing to read: nothing gathers
    assert pacing.wait(10.0, 0.2) == 0.2
    assert pacing.defer(files(100, 0), 10.0)
    assert pacing.defer(files(100, 50), 10.0 + TRICKLE_WAIT / 2)  # the first bytes' time
    assert pacing.wait(10.0 + TRICKLE_WAIT / 2, 1.0) == pytest.approx(TRICKLE_WAIT / 2)
    assert not pacing.defer(files(100, 50), 10.001 + TRICKLE_WAIT)  # due: read them all
    # what comes after that round waits TRICKLE_WAIT from it, not from its first byte
    assert pacing.gathering
    assert pacing.defer(files(0, 10), 10.0 + TRICKLE_WAIT * 1.5)
    assert not pacing.defer(files(0, 10), 10.002 + TRICKLE_WAIT * 2)


def test_a_file_with_more_to_read_is_read_at_once_with_the_others() -> None:
    pacing = ReadPacing()
    assert pacing.defer(files(100), 5.0)
    assert not pacing.defer(files(100, TRICKLE_BYTES), 5.01)
    assert not pacing.gathering  # the next round comes at once
    assert not pacing.defer(files(0, 0), 5.02)


async def test_trickling_files_are_read_in_one_round(tails: TailFactory) -> None:
    paths = [tails.logs / f"app-{n:02}.log" for n in range(12)]
    for path in paths:
        path.write_bytes(lines(path.stem, 0, 3))
    tail = await tails.start()
    await until(lambda: tail.consumer.caught_up_at != [])
    await until(
        lambda: (
            tail.source.lag_bytes == 0
            and tail.consumer.total == sum(p.stat().st_size for p in paths)
        )
    )
    before = len(tail.consumer.feeds)
    append(paths[-1], lines(paths[-1].stem, 3, 1))
    await until(lambda: tail.source.lag_bytes > 0)  # seen by a round, left to gather
    for path in paths[:-1]:
        append(path, lines(path.stem, 3, 1))
    await until(lambda: len(tail.consumer.feeds) == before + len(paths))
    # one round read them all, in the order the files are followed, not as they grew
    assert [path for path, _ in tail.consumer.feeds[before:]] == [str(p) for p in paths]
