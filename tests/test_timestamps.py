from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipper.timestamps import (
    ALL_ZULU,
    all_zulu,
    epoch_seconds,
    is_timestamp,
    now_rfc3339,
    to_utc,
)


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("2024-05-01T14:00:00.123456789+02:00", "2024-05-01T12:00:00.123456789Z"),
        ("2024-05-01T14:00:00+02:00", "2024-05-01T12:00:00Z"),
        ("2024-05-01T06:30:00.5-05:30", "2024-05-01T12:00:00.5Z"),
        ("2024-01-01T05:29:59.000000000+05:30", "2023-12-31T23:59:59.000000000Z"),
        ("2024-02-28T23:30:00.1-01:00", "2024-02-29T00:30:00.1Z"),
        ("2023-12-31T23:00:00.12-01:00", "2024-01-01T00:00:00.12Z"),
        ("2024-05-01T12:00:00.1234+00:00", "2024-05-01T12:00:00.1234Z"),
    ],
)
def test_to_utc_applies_the_offset_and_keeps_the_fraction_digits(local: str, utc: str) -> None:
    assert to_utc(local) == utc


def test_to_utc_returns_a_z_timestamp_untouched() -> None:
    ts = "2024-05-01T12:00:00.6697942Z"
    assert to_utc(ts) is ts


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
    st.text(alphabet="0123456789", max_size=9),
)
def test_to_utc_and_epoch_seconds_agree_with_datetime(
    moment: datetime, offset_minutes: int, digits: str
) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    local = moment.replace(microsecond=0, tzinfo=zone)
    fraction = f".{digits}" if digits else ""
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    ts = f"{_iso(local)}{fraction}{sign}{hours:02d}:{minutes:02d}"
    assert is_timestamp(ts.encode())
    expected = local.astimezone(UTC)
    assert to_utc(ts) == f"{_iso(expected)}{fraction}Z"
    whole = (expected - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)
    assert epoch_seconds(ts) == pytest.approx(whole + float(f"0{fraction}"), abs=1e-6)
    assert epoch_seconds(to_utc(ts)) == epoch_seconds(ts)


def _iso(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"


def test_epoch_seconds_of_a_z_timestamp() -> None:
    assert epoch_seconds("2024-05-01T12:00:00Z") == 1714564800
    assert epoch_seconds("2024-05-01T12:00:00.25Z") == 1714564800.25


@pytest.mark.parametrize(
    "ts",
    [
        "2016-10-06T00:17:09Z",
        "2016-10-06T00:17:09.6Z",
        "2016-10-06T00:17:09.6697942Z",
        "2016-10-06T00:17:09.669794202Z",
        "2016-10-06T00:17:09+05:30",
        "2016-10-06T00:17:09.669794202-08:00",
    ],
)
def test_is_timestamp_accepts_rfc3339_with_0_to_9_fraction_digits(ts: str) -> None:
    assert is_timestamp(ts.encode())


@pytest.mark.parametrize(
    "ts",
    [
        "",
        "Z",
        "stdout",
        "2016-10-06T00:17:09",
        "2016-10-06T00:17:09.Z",
        "2016-10-06T00:17:09.6697942021Z",
        "2016-10-06 00:17:09Z",
        "2016-10-06T00:17:0aZ",
        "2016-10-06T00:17:09.66a7Z",
        "2016-10-06T00:17:09.1.2Z",
        "2016/10/06T00:17:09Z",
        "2016-10-06T00:17:09+0530",
        "2016-10-06T00:17:09+05:30Z",
        "20161-0-06T00:17:09Z",
        "\uff12016-10-06T00:17:09Z",
    ],
)
def test_is_timestamp_rejects_other_shapes(ts: str) -> None:
    assert not is_timestamp(ts.encode())


@pytest.mark.parametrize(
    "ts",
    [
        "2024-13-45T99:99:99Z",
        "2024-00-10T12:00:00Z",
        "2024-05-00T12:00:00Z",
        "2024-02-30T12:00:00Z",
        "2023-02-29T12:00:00Z",
        "1900-02-29T12:00:00Z",
        "2024-04-31T12:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:60:00Z",
        "2024-05-01T12:00:60Z",
        "0000-05-01T12:00:00Z",
        "2024-05-01T12:00:00+99:99",
        "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00-05:60",
        "0001-01-01T00:30:00+01:00",  # year 0 in UTC
        "9999-12-31T23:30:00.5-01:00",  # year 10000 in UTC
    ],
)
def test_is_timestamp_rejects_times_that_are_not_on_the_calendar(ts: str) -> None:
    assert not is_timestamp(ts.encode())


@pytest.mark.parametrize(
    "ts",
    [
        "2024-02-29T23:59:59.999999999Z",
        "2000-02-29T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:30:00-01:00",
        "9999-12-31T23:30:00+01:00",
        "2024-05-01T12:00:00-23:59",
    ],
)
def test_is_timestamp_accepts_the_edges_of_the_calendar(ts: str) -> None:
    assert is_timestamp(ts.encode())


@given(
    st.integers(0, 10000),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 24),
    st.integers(0, 60),
    st.integers(0, 60),
)
def test_is_timestamp_agrees_with_datetime_on_every_z_time(
    year: int, month: int, day: int, hour: int, minute: int, second: int
) -> None:
    ts = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"
    try:
        datetime(year, month, day, hour, minute, second)
        valid = True
    except ValueError:
        valid = False
    assert is_timestamp(ts.encode()) is valid
    assert (ALL_ZULU(f"2024-05-01T12:00:00Z\n{ts}".encode()) is not None) is valid
    assert all_zulu([ts.encode(), b"2024-05-01T12:00:00Z"]) is valid


def test_now_rfc3339_is_utc_with_nine_fraction_digits() -> None:
    before = time.time()
    now = now_rfc3339()
    after = time.time()
    assert is_timestamp(now.encode())
    assert len(now) == 30 and now.endswith("Z")
    assert before - 1e-6 <= epoch_seconds(now) <= after + 1e-6


@pytest.mark.parametrize(
    ("stamps", "valid"),
    [
        ([b"2024-05-01T12:00:00Z", b"2024-05-01T23:59:59.999999999Z"], True),
        ([b"2024-05-01T23:59:59Z", b"2024-05-02T00:00:00Z"], True),  # over midnight
        ([b"2024-02-29T00:00:00Z", b"2024-02-29T01:00:00Z"], True),
        ([b"2023-02-29T00:00:00Z", b"2023-02-29T01:00:00Z"], False),  # no such day
        ([b"2024-05-01T12:00:00Z", b"2024-05-01T24:00:00Z"], False),  # same day, bad hour
        ([b"2024-05-01T12:00:00Z", b"2024-05-31T12:00:60Z"], False),
        ([b"2024-05-01T12:00:00Z", b"2024-05-01T12:00:00+00:00"], False),  # not Z
        ([b"2024-05-01T12:00:00Z", b"2024-05-01T12:00:00.Z"], False),
        ([b"2024-05-01T12:00:59.1Z", b"2024-05-01T12:00:01Z"], True),  # one minute
        ([b"2024-05-01T12:00:59Z", b"2024-05-01T12:00:60Z"], False),  # same minute, bad second
        ([b"2024-05-01T12:00:01Z", b"2024-05-01T12:00:01.1234567890Z"], False),  # 10 digits
        ([b"2024-05-01T12:60:01Z", b"2024-05-01T12:60:02Z"], False),  # a minute that is not
    ],
)
def test_all_zulu_checks_every_time_whether_or_not_they_share_a_day(
    stamps: list[bytes], valid: bool
) -> None:
    assert all_zulu(stamps) is valid
    assert all_zulu(stamps[::-1]) is valid


_SECONDS = st.from_regex(r"\A[0-6]\d(\.\d{0,10})?Z?\Z", fullmatch=True)


@given(
    st.sampled_from(["2024-05-01T12:00:", "2024-02-30T12:00:", "2024-05-01T12:61:"]),
    st.lists(_SECONDS, min_size=1, max_size=8),
)
def test_all_zulu_agrees_with_one_time_at_a_time_on_columns_sharing_a_minute(
    minute: str, seconds: list[str]
) -> None:
    stamps = [(minute + second).encode() for second in seconds]
    one_at_a_time = all(stamp.endswith(b"Z") and is_timestamp(stamp) for stamp in stamps)
    assert all_zulu(stamps) is one_at_a_time
    assert all_zulu(stamps[::-1]) is one_at_a_time
