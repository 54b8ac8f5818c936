"""The seam between the proof and its polynomial commitment scheme.

Prover, verifier, planner and protocol reach a scheme only through ``CommitmentScheme``: its parameters
to and from the proof header (one entry, under the scheme's header key), commit, open at many points with
one proof, verify, the ceiling of an opening section, security bits, and the memory the planner budgets
for it.  ``ligero`` is the scheme proofs use; ``plain`` (send the vector) shows the seam carries any
multilinear commitment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from edgeprove.transcript import Transcript

P = TypeVar("P")
"""A scheme's parameters."""
C = TypeVar("C", bound="Commitment")
"""A scheme's commitment."""
S = TypeVar("S", bound="CommitState")
"""A scheme's prover state."""


class CommitmentError(Exception):
    """An opening that is malformed or does not check out (each scheme raises its own subclass)."""


class Commitment(Protocol):
    """What a commitment exposes to the proof: the root the commitment section carries and the transcript
    binds, and the number of variables of the committed vector."""

    @property
    def root(self) -> bytes:
        """The bytes that bind the committed vector."""
        ...

    @property
    def num_vars(self) -> int:
        """log2 of the committed vector's (padded) length."""
        ...


class CommitState(Protocol):
    """What the prover keeps of a commitment until it is opened."""

    @property
    def commitment(self) -> Commitment:
        """The public commitment."""
        ...


class CommitmentScheme(Protocol[P, C, S]):
    """A multilinear polynomial commitment over BabyBear, opened at points in K."""

    header_key: str
    """The proof header's key for this scheme's parameters (bound by the transcript)."""
    opening_type: type
    """The dataclass an opening section holds (registered with the proof file format)."""

    def default_params(self) -> P:
        """The parameters a proof uses unless told otherwise."""
        ...

    def params_header(self, params: P) -> dict:
        """The header entry naming ``params`` (a JSON object)."""
        ...

    def params_from_header(self, entry: object) -> P:
        """The parameters a header entry names, each within the range a verifier accepts (ValueError with
        one line when malformed or out of range)."""
        ...

    def security_bits(self, params: P) -> float:
        """Bits of security ``params`` give (the worst case over every vector size a proof may commit)."""
        ...

    def commit(self, vector: np.ndarray, params: P) -> tuple[C, S]:
        """Commit to a vector of base elements (zero-padded to a power of two)."""
        ...

    def spill(self, state: S, directory: str | Path) -> S:
        """The same state with its bulk (the committed rows) in an unlinked temporary file in ``directory``,
        mapped read-only (``spill.spill``): for a state that waits for a later layer's opening."""
        ...

    def open(
        self, state: S, points: list[np.ndarray], transcript: Transcript, label: str
    ) -> tuple[list[np.ndarray], object]:
        """The vector's MLE at every point (K arrays (4, num_vars)) and one proof of all of them."""
        ...

    def commitment(self, root: bytes, length: int, params: P) -> C:
        """The verifier's view of a commitment from its root and the vector's length (known from the model;
        zero-padded to a power of two)."""
        ...

    def opening_bytes_ceiling(self, commitment: C, params: P, num_points: int) -> int:
        """Most bytes an honest opening section at ``num_points`` points can take (a longer one is refused
        unread)."""
        ...

    def verify(
        self,
        commitment: C,
        points: list[np.ndarray],
        values: list[np.ndarray],
        proof: object,
        transcript: Transcript,
        label: str,
        params: P,
    ) -> None:
        """Check an opening of ``commitment`` at ``points`` to ``values`` (CommitmentError on failure)."""
        ...

    def state_bytes(self, vector_len: int, params: P, spilled: bool = False) -> int:
        """What the prover's state of a commitment holds in memory (for the planner): ``vector_len`` is where
        the vector's data ends, before its zero padding to a power of two; ``spilled``, once ``spill`` has
        put its bulk on disk."""
        ...

    def commit_bytes(self, vector_len: int, params: P, threads: int = 1) -> int:
        """Transient bytes of committing to such a vector beyond the vector itself, on ``threads`` threads
        (for the planner)."""
        ...
