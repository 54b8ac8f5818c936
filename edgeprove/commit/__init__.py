"""Polynomial commitments behind one seam (``scheme.CommitmentScheme``): Ligero (``ligero`` over ``ntt``
and ``merkle``), the scheme proofs use, its hiding variant with a zero-knowledge opening (``zk_ligero``),
which a private input's commitment uses, and ``plain`` (send the vector)."""

from __future__ import annotations

from edgeprove.commit.ligero import LIGERO
from edgeprove.commit.plain import PLAIN
from edgeprove.commit.scheme import CommitmentScheme
from edgeprove.commit.zk_ligero import ZK_LIGERO

DEFAULT_SCHEME: CommitmentScheme = LIGERO
"""The scheme a proof uses unless told otherwise."""
HIDING_SCHEME: CommitmentScheme = ZK_LIGERO
"""The scheme a private input is committed with, whatever the layers' scheme: its opening reveals nothing
of the input beyond the claimed values (design.md section 10.2)."""
SCHEMES: dict[str, CommitmentScheme] = {scheme.header_key: scheme for scheme in (LIGERO, ZK_LIGERO, PLAIN)}
"""Every scheme, by its header key."""
