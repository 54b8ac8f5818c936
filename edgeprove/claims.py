"""Opening claims: the values a commitment must be opened to, collected per tensor until its opening.

Every sub-protocol ends in claims "segment s of tensor t's committed vector has MLE value v at point z";
the walks hand a ``ClaimLedger`` to each layer kind, which adds its claims, and open each commitment once,
at every point owed to it, after the tensor's last reader.  The order of a tensor's claims is the order
of its opening points, so it is part of the proof.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

INPUT = -1
"""Tensor index of the model input (the source of first layers)."""


@dataclass(frozen=True)
class Claim:
    """Segment ``segment`` of tensor ``tensor``'s committed vector has MLE value ``value`` (a K element)
    at ``point`` (a K point on the segment's variables)."""

    tensor: int
    segment: str
    point: np.ndarray
    value: np.ndarray


class ClaimLedger:
    """The claims owed to each committed tensor, in the order they are made, until it is opened."""

    def __init__(self, tensors: Iterable[int]) -> None:
        self._owed: dict[int, list[Claim]] = {t: [] for t in tensors}

    def tracks(self, tensor: int) -> bool:
        """Whether claims on ``tensor`` are still collected (it has not been opened yet)."""
        return tensor in self._owed

    def add(self, tensor: int, segment: str, point: np.ndarray, value: np.ndarray) -> None:
        """Owe one more opening of ``tensor`` (KeyError if it is not tracked)."""
        self._owed[tensor].append(Claim(tensor, segment, point, value))

    def extend(self, claims: Iterable[Claim]) -> None:
        """Owe every claim, each to its own tensor."""
        for claim in claims:
            self._owed[claim.tensor].append(claim)

    def pop(self, tensor: int) -> list[Claim]:
        """Everything owed to ``tensor``, which stops being tracked (it is being opened)."""
        return self._owed.pop(tensor)
