"""Polynomial commitments behind one seam (``scheme.CommitmentScheme``): Ligero (``ligero`` over ``ntt``
and ``merkle``), the scheme proofs use, and ``plain`` (send the vector)."""

from __future__ import annotations

from edgeprove.commit.ligero import LIGERO
from edgeprove.commit.plain import PLAIN
from edgeprove.commit.scheme import CommitmentScheme

DEFAULT_SCHEME: CommitmentScheme = LIGERO
"""The scheme a proof uses unless told otherwise."""
SCHEMES: dict[str, CommitmentScheme] = {scheme.header_key: scheme for scheme in (LIGERO, PLAIN)}
"""Every scheme, by its header key."""
