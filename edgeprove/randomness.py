"""Randomness from the operating system for what must stay secret (masks, blinding rows, salts, pads): a
32-byte seed of ``secrets.token_bytes`` expanded with SHAKE-256, never a seed from the command line, the
library's API or the transcript, so two proofs of the same private statement differ."""

from __future__ import annotations

import hashlib
import secrets

import numpy as np

from edgeprove import field as F

_SEED_BYTES = 32


class OsRandomness:
    """Field elements and bytes from a 32-byte seed of ``secrets.token_bytes`` expanded with SHAKE-256;
    each draw has its own domain-separated stream."""

    def __init__(self) -> None:
        self._seed = secrets.token_bytes(_SEED_BYTES)
        self._draws = 0

    def _stream(self, nbytes: int, draw: int) -> bytes:
        return hashlib.shake_256(self._seed + draw.to_bytes(8, "little")).digest(nbytes)

    def bytes(self, nbytes: int) -> bytes:
        """nbytes uniform bytes."""
        self._draws += 1
        return self._stream(nbytes, self._draws)

    def field(self, count: int) -> np.ndarray:
        """count uniform elements of F as uint64: 31-bit words below p kept (rejection sampling)."""
        self._draws += 1
        want = count + count // 8 + 64
        while True:
            words = np.frombuffer(self._stream(4 * want, self._draws), dtype="<u4") & np.uint32(0x7FFFFFFF)
            kept = words[words < F.P]
            if kept.size >= count:
                return kept[:count].astype(np.uint64)
            want *= 2
