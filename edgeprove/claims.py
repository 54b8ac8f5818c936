"""Opening claims: the values a commitment must be opened to, collected per tensor until its opening."""

from __future__ import annotations

INPUT = -1
"""Tensor index of the model input (the source of first layers)."""

Claims = dict[int, list]
"""Opening claims owed per tensor: (segment, point, value) in the order they are made."""
