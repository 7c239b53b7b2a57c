"""RFC 3339 timestamps as kubelet's log formats write them, kept as text.

A record's time stays the string the runtime wrote, so nanoseconds survive without
float rounding. Only the rare numeric-offset form is rewritten, by integer arithmetic
on its fields. A time is valid only when Elasticsearch would take it: a real calendar
day (no 30 February, 29 February only in leap years), hours 00-23, minutes and seconds
00-59, an offset within ±23:59, and a UTC year from 1 to 9999. The checks are regular
expressions, so that the CRI parser can check a whole column of `Z` times in one call
(`all_zulu`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from functools import lru_cache

_LEAP_YEAR = rb"(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_MONTH_DAY = (
    rb"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])"
    rb"|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    rb"|02-(?:0[1-9]|1\d|2[0-8]))"
)
_DATE = rb"(?!0000)(?:\d{4}-%s|%s-02-29)" % (_MONTH_DAY, _LEAP_YEAR)
_HOUR_MINUTE = rb"T(?:[01]\d|2[0-3]):[0-5]\d:"
_SECOND = rb"[0-5]\d(?:\.\d{1,9}+)?+"  # possessive (never backtracks): the same times, sooner
_TIME = _HOUR_MINUTE + _SECOND
_SHARED_STARTS = (len(b"2024-05-01T12:00:"), len(b"2024-05-01"))  # a column's minute, its day
ZULU = _DATE + _TIME + rb"Z"  # a valid time in UTC, as containerd and docker write it
ALL_ZULU = re.compile(rb"%s(?:\n%s)*" % (ZULU, ZULU)).fullmatch  # "\n"-joined valid Z times
_VALID_START = re.compile(rb"%s(?:%s)?" % (_DATE, _HOUR_MINUTE)).fullmatch  # a day or minute
_VALID_ZULU = re.compile(ZULU).fullmatch
_WITH_OFFSET = re.compile(_DATE + _TIME + rb"[+-](?:[01]\d|2[0-3]):[0-5]\d").fullmatch
_DAY = 86400
_FIRST_SECOND = -62135596800  # 0001-01-01T00:00:00Z
_PAST_LAST_SECOND = 253402300800  # 10000-01-01T00:00:00Z


def all_zulu(stamps: Sequence[bytes]) -> bool:
    """Whether every one of `stamps` (at least one) is a valid time ending in `Z`.

    A column's times nearly always share their minute, else their day: checked as that
    one literal minute or day (itself checked once), the column costs a half or a
    quarter of the general expression, whose calendar alternatives are tried on every
    time (literal bytes cost the expression engine far less than classes).
    """
    joined = b"\n".join(stamps)
    for length in _SHARED_STARTS:
        same_start = _zulu_times_from(stamps[0][:length])
        if same_start is not None and same_start(joined) is not None:
            return True
    return ALL_ZULU(joined) is not None


@lru_cache(maxsize=32)
def _zulu_times_from(start: bytes) -> Callable[[bytes], re.Match[bytes] | None] | None:
    """The fullmatch of "\n"-joined valid `Z` times that begin with `start`, a day
    (`YYYY-MM-DD`) or a minute (`YYYY-MM-DDTHH:MM:`); None if `start` is not a valid one."""
    if _VALID_START(start) is None:
        return None
    rest = _TIME if len(start) == _SHARED_STARTS[1] else _SECOND
    one = re.escape(start) + rest + rb"Z"
    return re.compile(rb"%s(?:\n%s)*" % (one, one)).fullmatch


def is_timestamp(ts: bytes) -> bool:
    """Whether `ts` is a valid RFC 3339 time with 0-9 fraction digits (see the module)."""
    if ts[-1:] == b"Z":
        return _VALID_ZULU(ts) is not None
    if _WITH_OFFSET(ts) is None:
        return False
    seconds = _utc_seconds(ts.decode("ascii"))
    return _FIRST_SECOND <= seconds < _PAST_LAST_SECOND


def to_utc(ts: str) -> str:
    """`ts` (valid per `is_timestamp`) in UTC ending in `Z`, its fraction digits kept exactly."""
    if ts[-1] == "Z":
        return ts
    return _format(_utc_seconds(ts)) + ts[19:-6] + "Z"


def epoch_seconds(ts: str) -> float:
    """Seconds since the Unix epoch of `ts` (valid per `is_timestamp`)."""
    fraction = ts[19:-1] if ts[-1] == "Z" else ts[19:-6]
    return _utc_seconds(ts) + (float(fraction) if fraction else 0.0)


def now_rfc3339(digits: int = 9) -> str:
    """The current time as RFC 3339 UTC with `digits` fraction digits (1 to 9, cut)."""
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    return f"{_format(seconds)}.{f'{nanos:09d}'[:digits]}Z"


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
    """Days since 1970-01-01 of a proleptic Gregorian date.

    The year is counted from March so that the leap day is the year's last day; a
    400-year era has a fixed 146097 days.
    """
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
