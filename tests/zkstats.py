"""For zero-knowledge tests: the hiding opening's simulator, affine hulls mod p (a view that is an affine
function of uniform randomness is uniform on its hull) and chi-square tests of uniformity and of two
samples' equality."""

from __future__ import annotations

import math

import numpy as np

from edgeprove import field as F
from edgeprove.commit import merkle
from edgeprove.commit import zk_ligero as Z
from edgeprove.randomness import OsRandomness
from edgeprove.transcript import Transcript


def simulate_opening(length: int, params: Z.ZkLigeroParams, functional: Z.Functional, coins: Z.Challenges):
    """The simulator: from the public shape, the batched functional (its points, weights and target) and the
    verifier's coins only, a root and an opening.  Data columns uniform; ldt uniform of degree < D; dot
    uniform with coefficient C-1 the target; the blinding rows' opened entries solved from the two checks;
    opened leaves hash fresh salts, every other leaf is a uniform digest; for a vector of ``length``."""
    num_vars, row_bits, num_rows, t = params.layout(length)
    rng = OsRandomness()
    width = 1 << (num_vars - row_bits)
    _, length, domain_bits = Z._shape(params.rate_log, t, num_vars, row_bits)
    q = coins.indices.size
    data = rng.field(q * num_rows).reshape(q, num_rows)
    ldt = rng.field(4 * length).reshape(4, length)
    dot = rng.field(4 * length).reshape(4, length)
    dot[:, width - 1] = functional.target
    at = Z.evaluate_at(np.concatenate([ldt, dot]), domain_bits, coins.indices).T
    xs = Z.domain_points(domain_bits, coins.indices)
    blind_dot = F.ext_sub(at[4:], Z.functional_at(functional, row_bits, data.T, xs))
    blind_ldt = F.ext_sub(at[:4], Z.ligero.combine_rows(coins.u[:, None, :num_rows], data.T)[:, 0])
    blind_ldt = F.ext_sub(blind_ldt, Z._base_combination(coins.u[:, num_rows:], blind_dot))
    columns = np.concatenate([data, blind_ldt.T, blind_dot.T], axis=1)
    salts = rng.bytes(Z.SALT_BYTES * q)
    leaves = (
        np.frombuffer(rng.bytes(merkle.DIGEST_SIZE << domain_bits), dtype=np.uint8).reshape(-1, 32).copy()
    )
    for i, (c, column) in enumerate(zip(coins.indices, columns)):
        digest = merkle.hash_leaf(salts[16 * i : 16 * (i + 1)] + merkle.column_bytes(column))
        leaves[c] = np.frombuffer(digest, dtype=np.uint8)
    tree = merkle.MerkleTree(leaves, 1 << domain_bits)
    commitment = Z.Commitment(tree.root, num_vars, row_bits, num_rows, t)
    return commitment, Z.ZkOpeningProof(ldt, dot, columns, salts, tree.open(coins.indices))


def rank_mod_p(matrix: np.ndarray) -> int:
    """Rank over F_p by Gaussian elimination on int64 (entries < p, products < 2^62)."""
    m = np.array(matrix, dtype=np.int64) % F.P
    rank = 0
    for col in range(m.shape[1]):
        rows = np.nonzero(m[rank:, col])[0]
        if rows.size == 0:
            continue
        pivot = rank + rows[0]
        m[[rank, pivot]] = m[[pivot, rank]]
        m[rank] = m[rank] * pow(int(m[rank, col]), F.P - 2, F.P) % F.P
        factors = m[:, col].copy()
        factors[rank] = 0
        m = (m - (factors[:, None] * m[rank][None, :]) % F.P) % F.P
        rank += 1
        if rank == m.shape[0]:
            break
    return rank


def affine_dimension(samples: np.ndarray) -> int:
    """Dimension of the affine hull of the rows of ``samples``."""
    return rank_mod_p((samples[1:].astype(np.int64) - samples[0].astype(np.int64)) % F.P)


BUCKETS = 8


def buckets(samples: np.ndarray) -> np.ndarray:
    return (samples.astype(np.float64) * BUCKETS / F.P).astype(np.int64)


def uniform_chi2_p(samples: np.ndarray) -> float:
    counts = np.stack([np.bincount(col, minlength=BUCKETS) for col in buckets(samples).T])
    expected = samples.shape[0] / BUCKETS
    statistic = float(((counts - expected) ** 2 / expected).sum())
    return chi2_upper_tail(statistic, counts.shape[0] * (BUCKETS - 1))


def two_sample_chi2_p(a: np.ndarray, b: np.ndarray) -> float:
    ca = np.stack([np.bincount(col, minlength=BUCKETS) for col in buckets(a).T]).astype(np.float64)
    cb = np.stack([np.bincount(col, minlength=BUCKETS) for col in buckets(b).T]).astype(np.float64)
    total = ca + cb
    keep = total > 0
    statistic = float((((ca - cb) ** 2)[keep] / total[keep]).sum())
    return chi2_upper_tail(statistic, ca.shape[0] * (BUCKETS - 1))


def chi2_upper_tail(statistic: float, dof: int) -> float:
    """P(chi2_dof >= statistic) by the Wilson-Hilferty normal approximation (dof in the hundreds)."""
    z = ((statistic / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


class FixedCoins(Transcript):
    """The honest verifier's coins fixed in advance, by label, whatever the messages: the view of one
    verifier run, which a simulator must reproduce in distribution.  A vector's coins are ``coins[label]``,
    or one coin per coordinate under ``label/i``."""

    def __init__(self, coins: dict) -> None:
        super().__init__()
        self.coins = coins

    def challenge_ext(self, label: str) -> np.ndarray:
        return self.coins[label]

    def challenge_ext_vec(self, label: str, n: int) -> np.ndarray:
        if label in self.coins:
            return self.coins[label]
        return np.stack([self.coins[f"{label}/{i}"] for i in range(n)], axis=1) if n else F.ext_zeros(0)

    def challenge_indices(self, label: str, count: int, bound: int) -> list[int]:
        return self.coins[label]
