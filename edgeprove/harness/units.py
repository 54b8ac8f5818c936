"""Byte sizes as people write them (512M, 6G, 1.5GiB) and as the harness prints them."""

from __future__ import annotations

import re

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_FORMS = (
    "give a number with a unit K, M, G or T (binary), e.g. 512M, 6G, 1.5GiB, or plain bytes, e.g. 1073741824"
)
MAX_SIZE = 1 << 63
"""Sizes from 2^63 bytes up cannot be written to a cgroup or rlimit."""


def parse_size(text: str) -> int:
    """Parse a memory size such as `512M`, `6G`, `1.5GiB` or `1073741824` into bytes.

    K/M/G/T are binary units (1024-based) with or without `i`/`B`, as in Docker and cgroup files.
    """
    match = _SIZE_PATTERN.match(str(text))
    if match is None:
        raise ValueError(f"cannot parse memory size {text!r}: {_FORMS}")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if value < 1:
        raise ValueError(
            f"memory size {text!r} is less than one byte (a number without a unit counts bytes): {_FORMS}"
        )
    if value >= MAX_SIZE:
        raise ValueError(f"memory size {text!r} is above 8 EiB, more than any cap can hold: {_FORMS}")
    return int(value)


def format_size(num_bytes: int | None) -> str:
    """Render a byte count with a binary unit (e.g. `1.50 GiB`); `n/a` for a missing value."""
    if num_bytes is None:
        return "n/a"
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} TiB"
