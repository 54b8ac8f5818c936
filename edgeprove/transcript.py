"""The Fiat-Shamir transcript: one SHA-256 chain with labelled, length-prefixed absorbs.

Prover and verifier drive identical transcripts; every message the prover sends is absorbed before the
next challenge is drawn.  Challenges are squeezed with SHAKE-256 and take 128 bits per base coordinate
reduced mod p, so each coordinate's statistical distance from uniform is below p / 2^128.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np

from edgeprove import field as F

PROTOCOL_ID = b"edgeprove/v1"


class Transcript:
    """A running hash state; ``absorb_*`` binds prover messages, ``challenge_*`` derives verifier coins."""

    def __init__(self, domain: bytes = PROTOCOL_ID) -> None:
        self._state = hashlib.sha256(b"edgeprove-transcript\x00" + domain).digest()
        self._counter = 0

    def _mix(self, kind: bytes, label: str, payload: bytes) -> None:
        lab = label.encode()
        h = hashlib.sha256()
        h.update(self._state)
        h.update(kind)
        h.update(struct.pack("<I", len(lab)))
        h.update(lab)
        h.update(struct.pack("<Q", len(payload)))
        h.update(payload)
        self._state = h.digest()

    def absorb_bytes(self, label: str, data: bytes) -> None:
        """Bind raw bytes under a label."""
        self._mix(b"B", label, bytes(data))

    def absorb_int(self, label: str, value: int) -> None:
        """Bind a signed integer (up to 128 bits)."""
        self._mix(b"I", label, int(value).to_bytes(16, "little", signed=True))

    def absorb_base(self, label: str, values: np.ndarray) -> None:
        """Bind an array of base elements (little-endian u32)."""
        arr = np.ascontiguousarray(np.asarray(values, dtype=np.uint64).ravel())
        self._mix(b"F", label, arr.astype("<u4").tobytes())

    def absorb_ext(self, label: str, values: np.ndarray) -> None:
        """Bind an array of K elements (limb-major, little-endian u32)."""
        arr = np.ascontiguousarray(np.asarray(values, dtype=np.uint64))
        self._mix(b"K", label, struct.pack("<I", arr.ndim) + arr.astype("<u4").tobytes())

    def _squeeze(self, label: str, nbytes: int) -> bytes:
        """nbytes of SHAKE-256 output keyed by the state, a draw counter and the label; then ratchet."""
        lab = label.encode()
        xof = hashlib.shake_256(self._state + b"C" + struct.pack("<QI", self._counter, len(lab)) + lab)
        self._counter += 1
        out = xof.digest(nbytes)
        self._mix(b"S", label, struct.pack("<Q", nbytes))  # ratchet: later coins depend on this draw
        return out

    def _reduce128(self, label: str, count: int) -> np.ndarray:
        """count values, each a 128-bit draw reduced mod p (statistical distance < p / 2^128 each)."""
        raw = self._squeeze(label, 16 * count)
        if count <= 16:  # Python ints beat numpy's per-call overhead for a handful of values
            ints = [int.from_bytes(raw[16 * i : 16 * (i + 1)], "little") % F.P for i in range(count)]
            return np.array(ints, dtype=np.uint64)
        words = np.frombuffer(raw, dtype="<u8").reshape(count, 2)
        lo, hi = words[:, 0] % np.uint64(F.P), words[:, 1] % np.uint64(F.P)
        return (hi * np.uint64(pow(2, 64, F.P)) + lo) % np.uint64(F.P)

    def challenge_ext(self, label: str) -> np.ndarray:
        """One uniform-looking element of K (shape (4,))."""
        return self._reduce128(label, F.EXT_DEGREE)

    def challenge_ext_vec(self, label: str, n: int) -> np.ndarray:
        """n elements of K as a point of shape (4, n)."""
        return self._reduce128(label, F.EXT_DEGREE * n).reshape(n, F.EXT_DEGREE).T.copy()

    def challenge_indices(self, label: str, count: int, bound: int) -> list[int]:
        """count indices uniform in [0, bound) (128-bit reduction each; repeats allowed)."""
        raw = self._squeeze(label, 16 * count)
        return [int.from_bytes(raw[16 * i : 16 * (i + 1)], "little") % bound for i in range(count)]

    def copy(self) -> Transcript:
        """An independent transcript in the same state (to replay a verifier beside the prover)."""
        twin = Transcript.__new__(Transcript)
        twin._state, twin._counter = self._state, self._counter
        return twin

    def digest(self) -> bytes:
        """The current state (for binding a proof's end, or debugging transcript divergence)."""
        return self._state
