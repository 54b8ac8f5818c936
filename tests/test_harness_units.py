"""Memory sizes: parsing what people type and printing it back."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeprove.harness.units import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512M", 512 << 20),
        ("6G", 6 << 30),
        ("1.5GiB", 3 << 29),
        ("6GB", 6 << 30),
        ("100k", 100 << 10),
        ("1073741824", 1 << 30),
        (" 2 t ", 2 << 40),
        ("64MiB", 64 << 20),
        ("7b", 7),
    ],
)
def test_parse_size_accepts_common_forms(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "six gigs", "6X", "-1G", "0", "1.2.3G", "G"])
def test_parse_size_rejects_garbage_with_one_line(text: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_size(text)
    assert "\n" not in str(error.value)


@given(st.integers(min_value=1, max_value=1 << 20), st.sampled_from(["K", "M", "G", "KiB", "MiB", "GiB"]))
def test_parse_size_scales_by_binary_units(number: int, unit: str) -> None:
    factor = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[unit[0]]
    assert parse_size(f"{number}{unit}") == number * factor


def test_format_size() -> None:
    assert format_size(None) == "n/a"
    assert format_size(512) == "512 B"
    assert format_size(3 << 29) == "1.50 GiB"
    assert format_size(5 << 40) == "5.00 TiB"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0.5", "is less than one byte (a number without a unit counts bytes)"),
        ("0", "is less than one byte"),
        ("0.0001K", "is less than one byte"),
        ("99999999999999999999999T", "is above 8 EiB"),
        ("8589934592G", "is above 8 EiB"),
    ],
)
def test_parse_size_says_what_is_wrong_and_what_it_accepts(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_size(text)
    assert reason in str(error.value) and "e.g. 512M, 6G, 1.5GiB" in str(error.value)
    assert "\n" not in str(error.value)
