"""RFC 3339 timestamps as kubelet's log formats write them, kept as text.

A record's time stays the string the runtime wrote, so nanoseconds survive without
float rounding. Only the rare numeric-offset form is rewritten, by integer arithmetic
on its fields; out-of-range fields roll over instead of raising, so a timestamp that
passed `is_timestamp` can never stop the pipeline further down.
"""

from __future__ import annotations

import re
import time

_DIGITS = b"0123456789"
_WITH_OFFSET = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?[+-]\d\d:\d\d").fullmatch
_DAY = 86400


def is_timestamp(ts: bytes) -> bool:
    """Whether `ts` has the shape of RFC 3339 with 0-9 fraction digits.

    Runs once per line, so the `Z` form that containerd and docker write is checked
    without a regex: separators at their fixed places, and nothing but digits between.
    """
    if ts[-1:] == b"Z":
        if len(ts) == 20:
            return ts[4:20:3] == b"--T::Z" and ts.translate(None, _DIGITS) == b"--T::Z"
        return (
            22 <= len(ts) <= 30
            and ts[4:20:3] == b"--T::."
            and ts.translate(None, _DIGITS) == b"--T::.Z"
        )
    return _WITH_OFFSET(ts) is not None


def to_utc(ts: str) -> str:
    """`ts` (valid per `is_timestamp`) in UTC ending in `Z`, its fraction digits kept exactly."""
    if ts[-1] == "Z":
        return ts
    return _format(_utc_seconds(ts)) + ts[19:-6] + "Z"


def epoch_seconds(ts: str) -> float:
    """Seconds since the Unix epoch of `ts` (valid per `is_timestamp`)."""
    fraction = ts[19:-1] if ts[-1] == "Z" else ts[19:-6]
    return _utc_seconds(ts) + (float(fraction) if fraction else 0.0)


def now_rfc3339() -> str:
    """The current time as RFC 3339 UTC with nine fraction digits."""
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    return f"{_format(seconds)}.{nanos:09d}Z"


def _utc_seconds(ts: str) -> int:
    """Whole seconds since the epoch of `ts`, its offset applied."""
    days = _days_from_civil(int(ts[0:4]), int(ts[5:7]), int(ts[8:10]))
    seconds = days * _DAY + int(ts[11:13]) * 3600 + int(ts[14:16]) * 60 + int(ts[17:19])
    if ts[-1] != "Z":
        offset = int(ts[-5:-3]) * 3600 + int(ts[-2:]) * 60
        seconds += -offset if ts[-6] == "+" else offset
    return seconds


def _format(seconds: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS` of whole seconds since the epoch, in UTC."""
    days, rest = divmod(seconds, _DAY)
    year, month, day = _civil_from_days(days)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hours:02d}:{minutes:02d}:{secs:02d}"


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date; months and days roll over.

    The year is counted from March so that the leap day is the year's last day; a
    400-year era has a fixed 146097 days.
    """
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    if month <= 2:
        year -= 1
    era, year_of_era = divmod(year, 400)
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """The inverse of `_days_from_civil`: (year, month, day) of a day since the epoch."""
    era, day_of_era = divmod(days + 719468, 146097)
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153  # 0 = March
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    return era * 400 + year_of_era + (month <= 2), month, day
