"""Durations and sizes as operators write them: `500ms`, `5s`, `5MiB`, and Fluentd's `2M`.

Both parsers raise `ValueError` with accepted examples, so a caller can prefix the
variable name and value and hand the message to the user as it is.
"""

from __future__ import annotations

import re
from fractions import Fraction

_NUMBER_AND_SUFFIX = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)", re.IGNORECASE)

_SECONDS_PER_UNIT: dict[str, int | Fraction] = {
    "": 1,
    "ms": Fraction(1, 1000),
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
}

# Fluentd's `k`/`m`/`g`/`t` and Kubernetes' `Ki`/`Mi` are binary, like `KiB`; only the
# explicit SI forms `KB`/`MB`/... are decimal.
_BYTES_PER_UNIT: dict[str, int | Fraction] = {
    "": 1,
    "b": 1,
    **{f"{p}{tail}": 1024**n for n, p in enumerate("kmgt", 1) for tail in ("", "i", "ib")},
    **{f"{p}b": 1000**n for n, p in enumerate("kmgt", 1)},
}

_DURATION_EXAMPLES = "examples: 500ms, 5s, 2m, 1h, 10"
_SIZE_EXAMPLES = "examples: 512KiB, 5MiB, 1GiB, 512k, 2M, 1g, 10KB, 1048576"


def parse_duration(text: str) -> float:
    """Seconds in `text`: a number with `ms`, `s`, `m`, `h` or `d`, or a bare number of seconds."""
    number, unit = _split(text, _SECONDS_PER_UNIT, f"not a duration ({_DURATION_EXAMPLES})")
    try:
        return float(number * unit)
    except OverflowError:
        raise ValueError(f"duration too large ({_DURATION_EXAMPLES})") from None


def parse_size(text: str) -> int:
    """Bytes in `text`: a number with a binary (`KiB`, `k`, `Mi`) or SI (`KB`) suffix, or bare."""
    number, unit = _split(text, _BYTES_PER_UNIT, f"not a size ({_SIZE_EXAMPLES})")
    return int(number * unit)


def _split(
    text: str, units: dict[str, int | Fraction], error: str
) -> tuple[Fraction, int | Fraction]:
    """The exact number and the unit's factor; Fraction keeps `0.1s` and `1.5GiB` exact."""
    match = _NUMBER_AND_SUFFIX.fullmatch(text.strip())
    if match is None or match[2].lower() not in units:
        raise ValueError(error)
    return Fraction(match[1]), units[match[2].lower()]
