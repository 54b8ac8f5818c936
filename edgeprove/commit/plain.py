"""The trivial commitment: the root is SHA-256 of the vector, and an opening sends the whole vector.

The verifier re-hashes the vector against the root and evaluates its MLE at every point itself, so an
opening is as sound as SHA-256 is collision resistant, but it is as long as the vector and hides nothing.
It takes no parameters (its header entry is "plain": {}).  It exists to show that the proof runs over any
scheme behind ``scheme.CommitmentScheme``; proofs use Ligero.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprove import field as F
from edgeprove import poly
from edgeprove.commit.scheme import CommitmentError
from edgeprove.commit.spill import spill
from edgeprove.transcript import Transcript

SECURITY_BITS = 128.0
"""Collision resistance of SHA-256 (birthday bound): the only way to open to another vector."""
_DOMAIN = b"edgeprove-plain"


class PlainError(CommitmentError):
    """An opening whose vector does not match the root or the claimed values."""


@dataclass(frozen=True)
class PlainParams:
    """No parameters."""


@dataclass(frozen=True)
class PlainCommitment:
    """SHA-256 of the vector and its number of variables."""

    root: bytes
    num_vars: int


@dataclass
class PlainState:
    """The commitment and the committed vector (padded to a power of two)."""

    commitment: PlainCommitment
    vector: np.ndarray


@dataclass
class PlainOpening:
    """The whole committed vector."""

    vector: np.ndarray


def _digest(vector: np.ndarray) -> bytes:
    head = _DOMAIN + struct.pack("<Q", vector.shape[0])
    return hashlib.sha256(head + vector.astype("<u4").tobytes()).digest()


def _absorb(transcript: Transcript, label: str, commitment: PlainCommitment, points, values) -> None:
    transcript.absorb_bytes(f"{label}/root", commitment.root)
    for z in points:
        transcript.absorb_ext(f"{label}/point", z)
    transcript.absorb_ext(f"{label}/values", np.stack(values, axis=1))


class PlainScheme:
    """Send the vector, behind the commitment seam."""

    header_key = "plain"
    opening_type = PlainOpening

    def default_params(self) -> PlainParams:
        """The only parameters."""
        return PlainParams()

    def params_header(self, params: PlainParams) -> dict:
        """An empty entry."""
        return {}

    def params_from_header(self, entry: object) -> PlainParams:
        """The entry must be empty."""
        if entry != {}:
            raise ValueError("plain commitment parameters are not an empty object")
        return PlainParams()

    def security_bits(self, params: PlainParams) -> float:
        """SHA-256's collision resistance."""
        return SECURITY_BITS

    def commit(self, vector: np.ndarray, params: PlainParams) -> tuple[PlainCommitment, PlainState]:
        """Hash the vector, zero-padded to a power of two."""
        arr = np.asarray(vector)
        if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
            raise ValueError("commit needs a non-empty 1-D vector of field elements")
        padded = np.zeros(poly.next_pow2(arr.size), dtype=np.uint64)
        padded[: arr.size] = arr
        commitment = PlainCommitment(_digest(padded), poly.num_vars(padded.size))
        return commitment, PlainState(commitment, padded)

    def spill(self, state: PlainState, directory: str | Path) -> PlainState:
        """The state with its vector on disk (``spill.spill``)."""
        return dataclasses.replace(state, vector=spill(state.vector, directory))

    def open(
        self, state: PlainState, points: list[np.ndarray], transcript: Transcript, label: str
    ) -> tuple[list[np.ndarray], PlainOpening]:
        """The values at every point, and the vector."""
        values = [poly.evaluate(state.vector, z) for z in points]
        _absorb(transcript, label, state.commitment, points, values)
        return values, PlainOpening(state.vector)

    def commitment(self, root: bytes, length: int, params: PlainParams) -> PlainCommitment:
        """The root and the size."""
        return PlainCommitment(root, poly.num_vars(poly.next_pow2(length)))

    def opening_bytes_ceiling(self, commitment: PlainCommitment, params: PlainParams, num_points: int) -> int:
        """The vector at 4 bytes a value, plus the framing."""
        return 256 + 4 * (1 << commitment.num_vars)

    def verify(
        self,
        commitment: PlainCommitment,
        points: list[np.ndarray],
        values: list[np.ndarray],
        proof: object,
        transcript: Transcript,
        label: str,
        params: PlainParams,
    ) -> None:
        """Re-hash the vector and evaluate it at every point."""
        if not isinstance(proof, PlainOpening) or not isinstance(proof.vector, np.ndarray):
            raise PlainError("malformed opening")
        vector = proof.vector
        if vector.shape != (1 << commitment.num_vars,) or vector.dtype != np.uint64:
            raise PlainError(f"the opened vector does not have 2^{commitment.num_vars} elements")
        if _digest(vector) != commitment.root:
            raise PlainError("the opened vector does not match the root")
        for j, (z, value) in enumerate(zip(points, values, strict=True)):
            if not F.ext_eq(poly.evaluate(vector, z), value):
                raise PlainError(f"value {j} differs from the vector's MLE at its point")
        _absorb(transcript, label, commitment, points, values)

    def state_bytes(self, vector_len: int, params: PlainParams, spilled: bool = False) -> int:
        """The vector, padded to a power of two (nothing once ``spilled``)."""
        return 0 if spilled else 8 * poly.next_pow2(vector_len)

    def commit_bytes(self, vector_len: int, params: PlainParams, threads: int = 1) -> int:
        """Hashing needs a 4-byte copy of the padded vector (on one thread, whatever ``threads``)."""
        return 4 * poly.next_pow2(vector_len)


PLAIN = PlainScheme()
"""Send the vector."""
