"""Byte sizes as people write them (512M, 6G, 1.5GiB) and as the harness prints them."""

from __future__ import annotations

import re

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Parse a memory size such as `512M`, `6G`, `1.5GiB` or `1073741824` into bytes.

    K/M/G/T are binary units (1024-based) with or without `i`/`B`, as in Docker and cgroup files.
    """
    match = _SIZE_PATTERN.match(str(text))
    if match is None:
        raise ValueError(f"cannot parse memory size {text!r}: use a number with K, M, G or T (e.g. 512M, 6G)")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if value < 1:
        raise ValueError(f"memory size {text!r} must be positive")
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
