import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipper.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("5s", 5.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("10", 10.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("0.25s", 0.25),
        (".5s", 0.5),
        ("1.5m", 90.0),
        ("5S", 5.0),
        ("250MS", 0.25),
        (" 5 s ", 5.0),
    ],
)
def test_parse_duration_accepts(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "abc", "5x", "s", "-1s", "1e3", "5 sec", "1h30m", "nan", "inf", "9" * 400]
)
def test_parse_duration_rejects_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r"500ms, 5s, 2m"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512KiB", 512 * 1024),
        ("5MiB", 5 * 1024**2),
        ("1GiB", 1024**3),
        ("1TiB", 1024**4),
        ("512k", 512 * 1024),
        ("2M", 2 * 1024**2),
        ("1g", 1024**3),
        ("3t", 3 * 1024**4),
        ("64Ki", 64 * 1024),
        ("10KB", 10_000),
        ("2MB", 2_000_000),
        ("1gb", 1_000_000_000),
        ("1048576", 1048576),
        ("100b", 100),
        ("0", 0),
        ("1.5k", 1536),
        ("1.5KiB", 1536),
        ("5mib", 5 * 1024**2),
        (" 5 MiB ", 5 * 1024**2),
    ],
)
def test_parse_size_accepts(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "abc", "5x", "MiB", "-1k", "1e6", "5 megabytes", "1kk"])
def test_parse_size_rejects_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r"512KiB, 5MiB.*512k, 2M, 1g"):
        parse_size(text)


_BINARY = {"k": 1024, "KiB": 1024, "M": 1024**2, "MiB": 1024**2, "g": 1024**3, "GiB": 1024**3}
_DECIMAL = {"KB": 1000, "MB": 1000**2, "GB": 1000**3}
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "": 1}


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(sorted({**_BINARY, **_DECIMAL})))
def test_parse_size_round_trips_whole_numbers(number: int, suffix: str) -> None:
    assert parse_size(f"{number}{suffix}") == number * {**_BINARY, **_DECIMAL}[suffix]


@given(st.integers(min_value=0, max_value=10**7), st.sampled_from(sorted(_SECONDS)))
def test_parse_duration_round_trips_whole_numbers(number: int, suffix: str) -> None:
    assert parse_duration(f"{number}{suffix}") == pytest.approx(number * _SECONDS[suffix])


@given(st.integers(min_value=0, max_value=10**6))
def test_milliseconds_are_exact(millis: int) -> None:
    # Fraction arithmetic: 100ms is exactly float(0.1), not 100 * 0.001.
    assert parse_duration(f"{millis}ms") == millis / 1000
