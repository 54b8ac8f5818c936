"""LogUp-GKR lookups (Papini-Haboeck 2023, "Improving logarithmic derivative lookups using GKR").

A lookup "every masked witness tuple lies in the table" becomes the fractional identity
    sum_x mask(x) / (alpha - w(x))  -  sum_y m(y) / (alpha - t(y))  =  0,
with tuples combined by a challenge beta (w = w_0 + beta w_1 + ...) and m the committed multiplicities.
Each side is a binary tree of fractions n/d (parent n = n_e d_o + n_o d_e, d = d_e d_o, children x||0 and
x||1), proven from the root down with one degree-3 sumcheck per level.  The leaf claims that remain are
either MLEs the verifier computes itself (mask, table columns) or openings of committed vectors (witness
columns, multiplicities), which the caller checks.  No inverses are ever committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from edgeprove import field as F
from edgeprove import poly, sumcheck
from edgeprove.sumcheck import SumcheckError, SumcheckProof
from edgeprove.transcript import Transcript
from edgeprove.zk import Checker, Hidden, PadPlan, PadSource, combination, scalar, send

_P64 = np.uint64(F.P)
_GKR_DEGREE = 3
_DIRECT_SPAN_PER_VALUE = 4
_DIRECT_SPAN_MIN = 1 << 16
"""Distinct table values spanning at most 4 * count + 2^16 integers are located by direct addressing."""


class LogUpError(Exception):
    """A lookup cannot be proven (a witness tuple is missing from the table) or a proof is rejected."""


@dataclass
class FractionSumProof:
    """Batched GKR proof of several fraction trees, run in lockstep from their tops down.

    ``tops[t]`` (4, 2, 2^k) is tree t's level k = min(TOP_VARS, n_t) sent outright (numerators, then
    denominators); the verifier sums it itself.  ``layers[i]`` is the one sumcheck of depth TOP_VARS + i for
    every tree deeper than that, taken deepest first (``tree_order``), and ``children[i]`` (4, T_i, 4) holds
    those trees' n_e, n_o, d_e, d_o at its point.
    """

    tops: list[np.ndarray]
    layers: list[SumcheckProof]
    children: list[np.ndarray]


@dataclass
class LookupProof:
    """The fraction trees of one or more lookups, in passes (``Tiling``), plus the prover's claimed openings
    at the leaf points.

    ``trees[p]`` proves pass p's trees; ``witness_values[i]`` (4, c) are the witness columns' MLEs at the
    leaf point of witness tree i (every lookup's witness tiles in order), and ``multiplicity_values[:, i]``
    the multiplicities' MLE at table tree i's leaf point.
    """

    trees: list[FractionSumProof]
    witness_values: list[np.ndarray]
    multiplicity_values: np.ndarray
    sums: np.ndarray
    """A hidden proof's running sums of each lookup's roots (4, S, 2), (N, D) after every root but the
    first and the last; (4, 0, 2) in the clear, where the verifier adds the roots itself."""


@dataclass
class LookupClaims:
    """What a verified lookup still owes the caller, one opening per tile: the committed witness columns
    at ``witness_points[j]`` equal to ``witness_values[j]`` (4, c), and the multiplicities at
    ``table_points[j]`` equal to ``multiplicity_values[j]``.  Points are on the whole (padded) vectors."""

    witness_points: list[np.ndarray]
    witness_values: list[np.ndarray]
    table_points: list[np.ndarray]
    multiplicity_values: list[np.ndarray]

    def column_openings(self, column: int) -> list[tuple[np.ndarray, object]]:
        """(point, value) of witness column ``column`` at every witness tile's leaf point (a tile's values
        are a (4, c) array, or in a hidden proof a list of c ``Hidden``)."""
        return [
            (z, v[column] if isinstance(v, list) else v[:, column])
            for z, v in zip(self.witness_points, self.witness_values)
        ]

    def multiplicity_openings(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(point, value) of the multiplicities at every table tile's leaf point."""
        return list(zip(self.table_points, self.multiplicity_values))


@dataclass(frozen=True)
class Tiling:
    """How a batch of lookups is cut into trees and passes; the verifier derives the same shapes.

    A vector of more than 2^tile_vars entries is cut into tiles of 2^tile_vars (tile j: the entries whose
    top bits are j, i.e. the subtree under node j of the whole tree), each its own fraction tree.  Trees
    are proven in passes of at most ``pass_leaves`` leaves (a larger tree alone), in order: the trees of a
    pass run in lockstep, passes one after another, so only one pass's trees are ever alive.
    """

    tile_vars: int = 18
    pass_leaves: int = 1 << 19

    def tiles(self, num_vars: int) -> tuple[int, int]:
        """(tile count, tile variables) of a vector of 2^num_vars entries."""
        tile_vars = min(num_vars, self.tile_vars)
        return 1 << (num_vars - tile_vars), tile_vars

    def passes(self, num_vars: Sequence[int]) -> list[list[int]]:
        """Consecutive trees grouped into passes of at most ``pass_leaves`` leaves (at least one tree)."""
        passes: list[list[int]] = []
        leaves = 0
        for t, v in enumerate(num_vars):
            if not passes or leaves + (1 << v) > self.pass_leaves:
                passes.append([])
                leaves = 0
            passes[-1].append(t)
            leaves += 1 << v
        return passes


TILING = Tiling()
"""The tiling proofs use (a protocol constant)."""


@dataclass(frozen=True)
class _Tree:
    """One fraction tree of a lookup batch: tile ``tile`` of lookup ``lookup``'s witness or table side."""

    lookup: int
    is_table: bool
    tile: int
    tile_bits: int
    num_vars: int

    def span(self) -> slice:
        """The tile's entries in the whole vector."""
        return slice(self.tile << self.num_vars, (self.tile + 1) << self.num_vars)

    def whole_point(self, point: np.ndarray) -> np.ndarray:
        """The tile's leaf point on the whole vector: the tile's index bits (most significant first) then
        ``point``."""
        bits = [(self.tile >> (self.tile_bits - 1 - k)) & 1 for k in range(self.tile_bits)]
        prefix = F.ext_zeros(self.tile_bits)
        prefix[0] = np.array(bits, dtype=np.uint64)
        return poly.concat_points(prefix, point)


def _trees(shapes: Sequence[tuple[int, int, int]], tiling: Tiling) -> list[_Tree]:
    """Every lookup's witness tiles, then its table tiles, lookup by lookup."""
    trees = []
    for i, (witness_vars, table_vars, _) in enumerate(shapes):
        for is_table, num_vars in ((False, witness_vars), (True, table_vars)):
            count, tile_vars = tiling.tiles(num_vars)
            trees += [_Tree(i, is_table, j, num_vars - tile_vars, tile_vars) for j in range(count)]
    return trees


# ------------------------------------------------------------------------------ fraction-sum GKR
TOP_VARS = 4
"""Each tree's level of 2^min(4, n) fractions goes in the proof as it is: the smallest GKR levels, where a
sumcheck round costs far more than the few elements it replaces, are never run."""
HIDDEN_TOP_VARS = 0
"""A hidden proof sends each tree's root alone: the verifier's sums of a sent level would multiply hidden
values that are themselves products, which its line checks cannot take (``zk``)."""


_GEMM_MIN = 64
"""Entries per tree from which a weighted sum goes through the limb GEMM rather than a product and a sum."""
_SLICE = 1 << 11
"""Entries per tree a GKR round evaluates or folds at once: bounds its temporaries, not its tables."""


def tree_order(num_vars: Sequence[int]) -> list[int]:
    """Trees deepest first (stable): the trees still open at any depth are a prefix of this order."""
    return sorted(range(len(num_vars)), key=lambda t: -num_vars[t])


def _children(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Views of the entries x||0 and x||1 (the least significant variable is the child bit): a level is
    kept once, as its parent's children, never copied."""
    return table[..., 0::2], table[..., 1::2]


def _as_ext(table: np.ndarray, is_base: bool) -> np.ndarray:
    """A stacked base (T, m) table as K (4, T, m); K tables pass through."""
    return F.ext_from_base(table) if is_base else table


def _times(numerator: np.ndarray, denominator: np.ndarray, is_base: bool) -> np.ndarray:
    """numerator * denominator for a stacked base or K numerator and a K denominator."""
    return F.ext_scale(denominator, numerator) if is_base else F.ext_mul(numerator, denominator)


Leaves = Callable[[], tuple[np.ndarray, np.ndarray]]
"""Makes one tree's leaves: base numerators (2^n,) and K denominators (4, 2^n).  Called twice, to build
the tree and again for its last GKR level, so the leaves (the tree's largest tables) are never kept."""


@dataclass
class _Group:
    """Trees of equal depth stacked along axis -2: ``levels[j]`` splits level j + 1 into (n_e, n_o, d_e,
    d_o) for the top depth <= j < n - 1 (the leaves are made again when needed); ``top_n``, ``top_d`` are
    the sent level (K)."""

    num_vars: int
    leaves: list[Leaves]
    levels: dict[int, tuple[np.ndarray, ...]]
    top_n: np.ndarray
    top_d: np.ndarray

    def made_leaves(self) -> tuple[np.ndarray, np.ndarray]:
        """The group's leaves, stacked: base (T, 2^n) numerators and K (4, T, 2^n) denominators."""
        length = 1 << self.num_vars
        numerators = np.empty((len(self.leaves), length), dtype=np.uint64)
        denominators = np.empty((F.EXT_DEGREE, len(self.leaves), length), dtype=np.uint64)
        for i in range(len(self.leaves)):
            numerators[i], denominators[:, i] = self.tree_leaves(i)
        return numerators, denominators

    def tree_leaves(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Tree ``index``'s leaves, checked: base (2^n,) numerators and K (4, 2^n) denominators."""
        length = 1 << self.num_vars
        n, d = self.leaves[index]()
        if n.shape != (length,) or d.shape != (F.EXT_DEGREE, length):
            raise LogUpError(f"fraction-sum leaves: need base ({length},) and K (4, {length}) tables")
        return n, d


def _parents(
    n_even: np.ndarray,
    n_odd: np.ndarray,
    d_even: np.ndarray,
    d_odd: np.ndarray,
    is_base: bool,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The level above: n = n_e d_o + n_o d_e, d = d_e d_o (K), a slice at a time, into ``out`` if given."""
    length = d_even.shape[-1]
    if out is None:
        out = np.empty(d_even.shape, dtype=np.uint64), np.empty(d_even.shape, dtype=np.uint64)
    numerators, denominators = out
    for start in range(0, length, _SLICE):
        part = slice(start, min(length, start + _SLICE))
        d_e, d_o = d_even[..., part], d_odd[..., part]
        numerators[..., part] = F.ext_add(
            _times(n_even[..., part], d_o, is_base), _times(n_odd[..., part], d_e, is_base)
        )
        denominators[..., part] = F.ext_mul(d_e, d_o)
    return numerators, denominators


def _build_group(num_vars: int, leaves: list[Leaves], top_vars: int) -> _Group:
    """Build stacked trees of 2^num_vars leaves bottom-up, keeping the levels between the leaves and the
    top (level ``top_vars``): about the leaves' size in all."""
    group = _Group(num_vars, leaves, {}, F.ext_zeros(0), F.ext_zeros(0))
    if num_vars <= top_vars:  # sent whole: the top is the leaves
        numerators, denominators = group.made_leaves()
        group.top_n, group.top_d = _as_ext(numerators, True), denominators
        return group
    half = 1 << (num_vars - 1)
    numerators = np.empty((F.EXT_DEGREE, len(leaves), half), dtype=np.uint64)
    denominators = np.empty((F.EXT_DEGREE, len(leaves), half), dtype=np.uint64)
    for i in range(len(leaves)):  # one tree's leaves at a time: they are made again for the last level
        n, d = group.tree_leaves(i)
        _parents(n[0::2], n[1::2], d[:, 0::2], d[:, 1::2], True, (numerators[:, i], denominators[:, i]))
        del n, d
    for depth in range(num_vars - 2, top_vars - 1, -1):
        n_even, n_odd = _children(numerators)
        d_even, d_odd = _children(denominators)
        group.levels[depth] = (n_even, n_odd, d_even, d_odd)
        numerators, denominators = _parents(n_even, n_odd, d_even, d_odd, False)
    group.top_n, group.top_d = numerators, denominators
    return group


def _level_tables(groups: list[_Group], depth: int) -> tuple[np.ndarray, ...]:
    """The open trees' (n_e, n_o, d_e, d_o) at ``depth``, stacked; numerators stay base only when every
    open tree is at its leaves."""
    open_groups = [g for g in groups if g.num_vars > depth]
    parts = []
    for g in open_groups:
        if g.num_vars == depth + 1:
            numerators, denominators = g.made_leaves()
            parts.append(_children(numerators) + _children(denominators))
            del numerators, denominators
        else:
            parts.append(g.levels.pop(depth))
    if len(parts) == 1:
        return parts[0]
    all_base = all(g.num_vars == depth + 1 for g in open_groups)
    out = []
    for k in range(4):
        pieces = [p[k] if (k >= 2 or all_base) else _as_ext(p[k], p[k].ndim == 2) for p in parts]
        out.append(np.concatenate(pieces, axis=-2))
    return tuple(out)


_ROUND_ENTRIES = 1 << 11
"""Entries (over all open trees) a GKR round evaluates or folds at once: bounds its scratch, not its
tables."""
_STACK_ENTRIES = 1 << 12
"""A level's four tables are stacked into one array (one set of operations per round for all of them) once
their halves hold at most this many entries over all open trees: where rounds are short enough for numpy's
per-call overhead to dominate, and the copy is small."""


def _stacked(tables: list[np.ndarray], lam: np.ndarray, part: slice) -> np.ndarray:
    """The level's tables [n_e, n_o, d_e, d_o] on ``part`` of their last axis as one K array (4, 4, T, s)
    in the order [d_o, n_o, U, d_e], U = n_e + lambda d_e, so that the level's sum d_o U + n_o d_e pairs
    the first two with the last two (base numerators are lifted to K)."""
    n_even, n_odd, d_even, d_odd = (t[..., part] for t in tables)
    out = np.empty((F.EXT_DEGREE, 4, *d_even.shape[1:]), dtype=np.uint64)
    out[:, 0], out[:, 3] = d_odd, d_even
    out[:, 2] = F.ext_mul_scalar(d_even, lam)
    if n_even.ndim == 2:  # base numerators: the first limb only
        out[0, 2] = F.add(out[0, 2], n_even)
        out[:, 1] = 0
        out[0, 1] = n_odd
    else:
        out[:, 2] = F.ext_add(out[:, 2], n_even)
        out[:, 1] = n_odd
    return out


def _difference(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """hi - lo for canonical arrays, canonical: the wrapped uint64 difference or it plus p, whichever is
    smaller (no division)."""
    diff = np.subtract(hi, lo)
    np.minimum(diff, diff + _P64, out=diff)
    return diff


def _round_sums(
    lo: np.ndarray, hi: np.ndarray, eq: np.ndarray, with_one: bool, keep_difference: bool
) -> np.ndarray:
    """Per open tree, sum_x eq(x) (d_o U + n_o d_e)(X, x) at X = 0, at infinity (q's leading coefficient)
    and, when ``with_one``, at X = 1, from the halves of stacked tables (4, 4, T, s): (4, 2 or 3, T).
    With ``keep_difference`` hi - lo is written over ``hi``, where the fold takes it."""
    diff = _difference(hi, lo)
    points = np.stack([lo, diff, hi] if with_one else [lo, diff], axis=1)  # (4, k, 4, T, s)
    if keep_difference:
        hi[...] = diff
    del diff
    products = F.ext_mul(points[:, :, 0:2], points[:, :, 2:4])  # d_o U and n_o d_e
    del points
    sums = np.add(products[:, :, 0], products[:, :, 1])  # (4, k, T, s), below 2p: the limb GEMM is exact
    count, trees, length = sums.shape[1:]
    if length < _GEMM_MIN:
        weighted = F.ext_sum(F.ext_mul(sums % _P64, eq[:, None, None, :]))
    else:
        weighted = F.ext_inner_rows(sums.reshape(F.EXT_DEGREE, count * trees, length), eq)
    return weighted.reshape(F.EXT_DEGREE, count, trees)


def _plus_times(lo: np.ndarray, diff: np.ndarray, matrix: list[list[np.uint64]]) -> np.ndarray:
    """lo + r diff for canonical K arrays, r given by its ``field.scalar_matrix``: each limb of the result
    is lo's plus four products below p^2, a sum below 2^64 reduced once."""
    out = np.empty(lo.shape, dtype=np.uint64)
    term = np.empty(lo.shape[1:], dtype=np.uint64)
    for k in range(F.EXT_DEGREE):
        limb = out[k]
        np.multiply(diff[0], matrix[k][0], out=limb)
        for j in range(1, F.EXT_DEGREE):
            np.multiply(diff[j], matrix[k][j], out=term)
            limb += term
        limb += lo[k]
        F.reduce_in_place(limb)
    return out


def _fold(
    level: list[np.ndarray], stacked: np.ndarray | None, lam: np.ndarray, r: np.ndarray, step: int
) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Bind the first variable to r: lo + r (hi - lo) on every table; returns the folded (level, stacked).

    While the separate tables [n_e, n_o, d_e, d_o] are large they fold one at a time into their own halves
    (denominators first), so an array of the level is freed as soon as both tables viewing it are folded,
    as the trees' memory bound assumes; once the halves hold at most ``_STACK_ENTRIES`` entries they are
    stacked (``_stacked``).  A stacked array folds in place (its lower half, returned as a view), its upper
    half already holding hi - lo (``_round_sums``)."""
    matrix = [[np.uint64(v) for v in row] for row in F.scalar_matrix(r).tolist()]
    if stacked is not None:
        half = stacked.shape[-1] // 2
        for start in range(0, half, step):
            part = slice(start, min(half, start + step))
            stacked[..., part] = _plus_times(
                stacked[..., part], stacked[..., half + part.start : half + part.stop], matrix
            )
        return [], stacked[..., :half]
    limbs = r.reshape(F.EXT_DEGREE, 1, 1)
    for k in (2, 3, 0, 1):  # the largest pair first: the level's denominators are freed once both fold
        table = level[k]
        half = table.shape[-1] // 2
        folded = np.empty((F.EXT_DEGREE, *table.shape[-2:-1], half), dtype=np.uint64)
        for start in range(0, half, step):
            part = slice(start, min(half, start + step))
            lo, hi = table[..., part], table[..., half + part.start : half + part.stop]
            if table.ndim == 2:  # base numerators: lo + r (hi - lo) takes four products
                values = limbs * _difference(hi, lo)
                values[0] += lo
                folded[..., part] = F.reduce_in_place(values)
            else:
                folded[..., part] = _plus_times(lo, _difference(hi, lo), matrix)
        level[k] = folded
        del table
    if level[2].shape[-1] * level[2].shape[-2] > _STACK_ENTRIES:
        return level, None
    return [], _stacked(level, lam, slice(0, level[2].shape[-1]))


def _prove_level(
    tables: list[np.ndarray],
    lam: np.ndarray,
    coefficients: np.ndarray,
    point: np.ndarray,
    claim: np.ndarray,
    transcript: Transcript,
    where: str,
    pads: PadSource | None = None,
) -> tuple[SumcheckProof, np.ndarray, list[np.ndarray]]:
    """The eq-weighted sumcheck of sum_t c_t sum_x eq(point, x) (n_e d_o + n_o d_e + lambda d_e d_o)_t(x) for
    the tables [n_e, n_o, d_e, d_o] (numerators base or K), with Gruen's factoring as in
    ``sumcheck.prove_eq_weighted``: q(X) (degree 2) is summed against the eq table of the remaining
    coordinates only; q(0) and q's leading coefficient are evaluated, q(1) follows from the claim.
    The sum is d_o U + n_o d_e with U = n_e + lambda d_e; once small (``_STACK_ENTRIES``) the four tables
    are one stacked array folded in place, so a short round is a fixed handful of whole-array operations.
    The messages are those of ``sumcheck.prove`` on the same sum.  ``tables`` is emptied (the caller's level
    is freed during the first round); with ``pads`` every round is sent hidden.  Returns (proof, point,
    final tables)."""
    num_vars = point.shape[1]
    nonzero = np.any(point != 0, axis=0)
    inverses = F.ext_zeros(num_vars)
    if np.any(nonzero):
        inverses[:, nonzero] = F.ext_inv(point[:, nonzero])
    coords, inverses = point.T.tolist(), inverses.T.tolist()
    weights = coefficients.T.tolist()
    step = max(1, _ROUND_ENTRIES // coefficients.shape[1])
    reduced, prefix = claim.tolist(), [1, 0, 0, 0]
    rounds, challenges = [], []
    level, stacked = list(tables), None
    tables.clear()
    if level[2].shape[-1] * level[2].shape[-2] <= 2 * _STACK_ENTRIES:  # small from the start
        level, stacked = [], _stacked(level, lam, slice(0, level[2].shape[-1]))
    eq = poly.eq_table(point[:, 1:])  # eq over the coordinates after round i's
    for i in range(num_vars):
        half = 1 << (num_vars - 1 - i)
        with_one = not nonzero[i]
        totals = None
        for start in range(0, half, step):
            low, high = (
                slice(start, min(half, start + step)),
                slice(half + start, half + min(half, start + step)),
            )
            if stacked is None:
                lo, hi = _stacked(level, lam, low), _stacked(level, lam, high)
            else:
                lo, hi = stacked[..., low], stacked[..., high]
            sums = _round_sums(lo, hi, eq[:, low], with_one, stacked is not None)
            totals = sums if totals is None else F.ext_add(totals, sums)
        q0, lead, *one = (
            _ints_sum(F.ext_mul_ints(c, v) for c, v in zip(weights, row))
            for row in totals.transpose(1, 2, 0).tolist()
        )
        rho = coords[i]
        one_minus = _one_minus(rho)
        if with_one:
            q1 = one[0]
        else:  # reduced = (1 - rho) q(0) + rho q(1)
            rest = [(a - b) % F.P for a, b in zip(reduced, F.ext_mul_ints(one_minus, q0))]
            q1 = list(F.ext_mul_ints(rest, inverses[i]))
        linear = [(b - a - c) % F.P for a, b, c in zip(q0, q1, lead)]  # q(X) = q0 + linear X + lead X^2
        q_at = [q0, q1] + [
            [(a + t * b + t * t * c) % F.P for a, b, c in zip(q0, linear, lead)] for t in (2, 3)
        ]
        slope = [(2 * c - (k == 0)) % F.P for k, c in enumerate(rho)]
        message = []
        for t in range(4):  # s(t) = prefix eq(rho, t) q(t), eq(rho, t) = (1 - rho) + t (2 rho - 1)
            eq_t = [(a + t * b) % F.P for a, b in zip(one_minus, slope)]
            message.append(F.ext_mul_ints(prefix, F.ext_mul_ints(eq_t, q_at[t])))
        msg = np.array(message, dtype=np.uint64).T.copy()
        sent = send(msg, pads, transcript, f"{where}/round")
        r = transcript.challenge_ext(f"{where}/r")
        challenges.append(r)
        r_ints = r.tolist()
        tail = F.ext_mul_ints([(b + c) % F.P for b, c in zip(linear, F.ext_mul_ints(lead, r_ints))], r_ints)
        reduced = [(a + b) % F.P for a, b in zip(q0, tail)]  # q(r)
        eq_r = _ints_sum([F.ext_mul_ints(rho, r_ints), F.ext_mul_ints(one_minus, _one_minus(r_ints))])
        prefix = list(F.ext_mul_ints(prefix, eq_r))
        level, stacked = _fold(level, stacked, lam, r, step)
        if half > 1:  # eq(rho_{i+1}, .) sums to 1 over its bit: halves added drop that coordinate
            eq = F.ext_add(eq[:, : half // 2], eq[:, half // 2 :])
        rounds.append(sent)
    d_odd, n_odd, combined, d_even = (stacked[:, k, :, 0] for k in range(4))
    n_even = F.ext_sub(combined, F.ext_mul_scalar(d_even, lam))
    return SumcheckProof(rounds), poly.point(challenges), [n_even, n_odd, d_even, d_odd]


def _one_minus(value: list[int]) -> list[int]:
    """1 - v for a K scalar as four Python ints."""
    return [(1 - value[0]) % F.P] + [(F.P - c) % F.P for c in value[1:]]


def _ints_sum(values) -> list[int]:
    """The sum of K scalars given as four Python ints each."""
    total = [0, 0, 0, 0]
    for value in values:
        total = [a + b for a, b in zip(total, value)]
    return [t % F.P for t in total]


def _coefficients(transcript: Transcript, where: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """lambda (numerator vs denominator) and the trees' weights zeta^t (4, count) of one GKR level."""
    lam = transcript.challenge_ext(f"{where}/lambda")
    zeta = transcript.challenge_ext(f"{where}/zeta")
    powers = [F.ext_ones()]
    for _ in range(count - 1):
        powers.append(F.ext_mul(powers[-1], zeta))
    return lam, np.stack(powers, axis=1)


def _top_claims(tops: list[np.ndarray], point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each sent level's n~ and d~ at the first k_t coordinates of ``point``: two (4, T) arrays."""
    values = [F.ext_inner_rows(top, poly.eq_table(point[:, : poly.num_vars(top.shape[-1])])) for top in tops]
    return np.stack([v[:, 0] for v in values], axis=1), np.stack([v[:, 1] for v in values], axis=1)


def _absorb_shape(transcript: Transcript, label: str, num_vars: Sequence[int]) -> None:
    transcript.absorb_int(f"{label}/trees", len(num_vars))
    transcript.absorb_base(f"{label}/num_vars", np.array(num_vars, dtype=np.uint64))


def prove_fraction_sums(
    num_vars: Sequence[int],
    leaves: Sequence[Leaves],
    transcript: Transcript,
    label: str,
    pads: PadSource | None = None,
) -> tuple[FractionSumProof, list[np.ndarray], np.ndarray, np.ndarray, list[np.ndarray]]:
    """Prove several trees' fraction sums at once, tree t of 2^num_vars[t] leaves made by ``leaves[t]``.

    Returns (proof, each tree's leaf point (4, n_t), leaf n~ and d~ as (4, T), each tree's top as it is);
    the caller must tie the leaf values to MLEs it trusts.  Trees of equal depth are built and reduced as
    one stacked array.  With ``pads`` every value is sent hidden and each tree's top is its root
    (``HIDDEN_TOP_VARS``).
    """
    if len(num_vars) == 0 or len(num_vars) != len(leaves):
        raise LogUpError("fraction sums: need one depth and one leaf maker per tree")
    top_vars = TOP_VARS if pads is None else HIDDEN_TOP_VARS
    order = tree_order(num_vars)
    groups = []
    for start in range(len(order)):
        if start and num_vars[order[start]] == num_vars[order[start - 1]]:
            continue
        members = [t for t in order[start:] if num_vars[t] == num_vars[order[start]]]
        groups.append(_build_group(num_vars[order[start]], [leaves[t] for t in members], top_vars))
    tops_sorted = [
        np.stack([g.top_n[:, i], g.top_d[:, i]], axis=1) for g in groups for i in range(len(g.leaves))
    ]
    tops = [tops_sorted[order.index(t)] for t in range(len(order))]
    _absorb_shape(transcript, label, num_vars)
    sent_tops = [send(top, pads, transcript, f"{label}/top") for top in tops]
    point = transcript.challenge_ext_vec(f"{label}/top_point", min(top_vars, max(num_vars)))
    claim_n, claim_d = _top_claims(tops_sorted, point)
    leaf_points = [point[:, : min(v, top_vars)] for v in num_vars]
    layers, children = [], []
    for depth in range(top_vars, max(num_vars)):
        count = sum(1 for v in num_vars if v > depth)
        where = f"{label}/L{depth}"
        lam, coefficients = _coefficients(transcript, where, count)
        tables = list(_level_tables(groups, depth))
        claim = F.ext_sum(
            F.ext_mul(coefficients, F.ext_add(claim_n[:, :count], F.ext_mul_scalar(claim_d[:, :count], lam)))
        )
        layer, sub_point, finals = _prove_level(
            tables, lam, coefficients, point, claim, transcript, where, pads
        )
        del tables
        values = np.stack(finals, axis=2)
        sent = send(values, pads, transcript, f"{where}/children")
        mu = transcript.challenge_ext(f"{where}/mu")
        claim_n = np.concatenate([_line(values[:, :, 0], values[:, :, 1], mu), claim_n[:, count:]], axis=1)
        claim_d = np.concatenate([_line(values[:, :, 2], values[:, :, 3], mu), claim_d[:, count:]], axis=1)
        point = poly.concat_points(sub_point, mu)
        for rank in range(count):
            if num_vars[order[rank]] == depth + 1:
                leaf_points[order[rank]] = point
        layers.append(layer)
        children.append(sent)
    inverse = [order.index(t) for t in range(len(order))]
    proof = FractionSumProof(sent_tops, layers, children)
    return proof, leaf_points, claim_n[:, inverse], claim_d[:, inverse], tops


def _line(value_even: np.ndarray, value_odd: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """(1 - mu) * even + mu * odd: the MLE one level down with mu as its last coordinate."""
    return F.ext_add(value_even, F.ext_mul_scalar(F.ext_sub(value_odd, value_even), mu))


def _check_ext_array(value: object, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A proof field must be a canonical uint64 K array of the given shape, else the proof is rejected."""
    if not isinstance(value, np.ndarray) or value.dtype != np.uint64 or value.shape != shape:
        raise LogUpError(f"{what}: expected a uint64 array of shape {shape}")
    if np.any(value >= _P64):
        raise LogUpError(f"{what}: element not below p")
    return value


def level_root(top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The root (N, D) of a sent level (4, 2, 2^k), summed pairwise as the tree does."""
    n, d = top[:, 0], top[:, 1]
    while d.shape[-1] > 1:
        n_even, n_odd, d_even, d_odd = n[:, 0::2], n[:, 1::2], d[:, 0::2], d[:, 1::2]
        n = F.ext_add(F.ext_mul(n_even, d_odd), F.ext_mul(n_odd, d_even))
        d = F.ext_mul(d_even, d_odd)
    return n[:, 0], d[:, 0]


def checked_tops(num_vars: Sequence[int], proof: FractionSumProof, label: str) -> list[np.ndarray]:
    """The proof's sent levels, each checked to be a canonical (4, 2, 2^min(TOP_VARS, n_t)) array."""
    if not isinstance(proof, FractionSumProof) or not isinstance(proof.tops, list):
        raise LogUpError(f"{label}: not a fraction-sum proof")
    if len(proof.tops) != len(num_vars):
        raise LogUpError(f"{label}: expected {len(num_vars)} tree tops, got {len(proof.tops)}")
    return [
        _check_ext_array(top, (F.EXT_DEGREE, 2, 1 << min(TOP_VARS, v)), f"{label}: tree {t} top")
        for t, (top, v) in enumerate(zip(proof.tops, num_vars))
    ]


def verify_fraction_sums(
    num_vars: Sequence[int], proof: FractionSumProof, transcript: Transcript, label: str
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray]:
    """Check a batched fraction-sum proof of trees of 2^n_t leaves; returns (the sent tops, each tree's leaf
    point, claimed leaf n~ and d~ as (4, T)).  The tops' roots (``level_root``) are what the trees sum to;
    the leaf values are only as good as the caller's own check of them against trusted MLEs."""
    if (
        not isinstance(proof, FractionSumProof)
        or not isinstance(proof.tops, list)
        or not isinstance(proof.layers, list)
        or not isinstance(proof.children, list)
    ):
        raise LogUpError(f"{label}: not a fraction-sum proof")
    deepest = max(num_vars)
    tops = checked_tops(num_vars, proof, label)
    if len(proof.layers) != max(0, deepest - TOP_VARS) or len(proof.children) != len(proof.layers):
        raise LogUpError(
            f"{label}: expected {max(0, deepest - TOP_VARS)} GKR layers, got {len(proof.layers)}"
        )
    order = tree_order(num_vars)
    _absorb_shape(transcript, label, num_vars)
    for top in tops:
        transcript.absorb_ext(f"{label}/top", top)
    point = transcript.challenge_ext_vec(f"{label}/top_point", min(TOP_VARS, deepest))
    claim_n, claim_d = _top_claims([tops[t] for t in order], point)
    leaf_points = [point[:, : min(v, TOP_VARS)] for v in num_vars]
    for index, depth in enumerate(range(TOP_VARS, deepest)):
        count = sum(1 for v in num_vars if v > depth)
        where = f"{label}/L{depth}"
        layer = proof.layers[index]
        if not isinstance(layer, SumcheckProof) or not isinstance(layer.rounds, list):
            raise LogUpError(f"{where}: not a sumcheck proof")
        for i, msg in enumerate(layer.rounds):
            _check_ext_array(msg, (F.EXT_DEGREE, _GKR_DEGREE + 1), f"{where}: round {i}")
        values = _check_ext_array(proof.children[index], (F.EXT_DEGREE, count, 4), f"{where}: children")
        lam, coefficients = _coefficients(transcript, where, count)
        claim = F.ext_sum(
            F.ext_mul(coefficients, F.ext_add(claim_n[:, :count], F.ext_mul_scalar(claim_d[:, :count], lam)))
        )
        try:
            sub_point, final = sumcheck.verify(claim, depth, _GKR_DEGREE, layer, transcript, where)
        except SumcheckError as err:
            raise LogUpError(str(err)) from None
        n_even, n_odd, d_even, d_odd = (values[:, :, k] for k in range(4))
        per_tree = F.ext_add(
            F.ext_add(F.ext_mul(n_even, d_odd), F.ext_mul(n_odd, d_even)),
            F.ext_mul_scalar(F.ext_mul(d_even, d_odd), lam),
        )
        expected = F.ext_mul(poly.eq_eval(point, sub_point), F.ext_sum(F.ext_mul(coefficients, per_tree)))
        if not F.ext_eq(expected, final):
            raise LogUpError(f"{where}: children values do not match the sumcheck's final claim")
        transcript.absorb_ext(f"{where}/children", values)
        mu = transcript.challenge_ext(f"{where}/mu")
        claim_n = np.concatenate([_line(n_even, n_odd, mu), claim_n[:, count:]], axis=1)
        claim_d = np.concatenate([_line(d_even, d_odd, mu), claim_d[:, count:]], axis=1)
        point = poly.concat_points(sub_point, mu)
        for rank in range(count):
            if num_vars[order[rank]] == depth + 1:
                leaf_points[order[rank]] = point
    inverse = [order.index(t) for t in range(len(order))]
    return tops, leaf_points, claim_n[:, inverse], claim_d[:, inverse]


# --------------------------------------------------------------------------------- lookup argument
def _as_columns(columns: Sequence[np.ndarray], what: str) -> list[np.ndarray]:
    """Validate columns of canonical base elements of one common length; returns them as uint64, or as the
    caller's arrays when they already are uint64 or uint32 (a layer's padded tables, views of its committed
    vector, are not copied: every use widens a tile or chunk at a time)."""
    if len(columns) == 0:
        raise LogUpError(f"{what}: at least one column is needed")
    out = []
    for k, col in enumerate(columns):
        arr = np.asarray(col)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise LogUpError(f"{what} column {k}: expected a 1-D integer array of field elements")
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= F.P):
            raise LogUpError(f"{what} column {k}: entries outside [0, p); encode signed values first")
        out.append(arr if arr.dtype == np.uint32 else arr.astype(np.uint64, copy=False))
    if len({c.shape[0] for c in out}) != 1:
        raise LogUpError(f"{what}: columns have different lengths")
    if out[0].shape[0] == 0:
        raise LogUpError(f"{what}: columns are empty")
    return out


def _as_mask(mask: np.ndarray, length: int) -> np.ndarray:
    """Validate a 0/1 mask of the witness length; returns it as uint8 (a byte per row; the trees convert a
    tile at a time)."""
    arr = np.asarray(mask)
    if arr.shape != (length,) or arr.dtype.kind not in "iub":
        raise LogUpError(f"mask: expected a 1-D 0/1 array of length {length}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 1):
        raise LogUpError("mask: entries must be 0 or 1")
    return arr.astype(np.uint8, copy=False)


def pad_table(table_cols: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The table padded to a power-of-two length by repeating its last row (its MLE is what a verifier
    evaluates); repeated rows change no statement, unlike padding with a row of zeros."""
    cols = _as_columns(table_cols, "table")
    length = cols[0].shape[0]
    extra = poly.next_pow2(length) - length
    return [np.concatenate([c, np.full(extra, c[-1], dtype=np.uint64)]) for c in cols]


def _pad_witness(witness_cols: list[np.ndarray], mask: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Zero-pad the witness columns and the mask to a power-of-two length (padded rows are masked out)."""
    length = mask.shape[0]
    extra = poly.next_pow2(length) - length
    if not extra:
        return witness_cols, mask
    zeros = np.zeros(extra, dtype=np.uint64)
    padded_mask = np.concatenate([mask, np.zeros(extra, dtype=mask.dtype)])
    return [np.concatenate([c, zeros]) for c in witness_cols], padded_mask


def _locate(values: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each query in the sorted distinct int64 ``values`` and whether it is there.

    Values spanning a short interval (range and activation tables, after signed decoding) use a
    direct-address array; a binary search over random queries is several times slower.
    """
    low = int(values[0])
    span = int(values[-1]) - low + 1
    if span > _DIRECT_SPAN_PER_VALUE * values.shape[0] + _DIRECT_SPAN_MIN:
        position = np.minimum(np.searchsorted(values, queries), values.shape[0] - 1)
        return position, values[position] == queries
    slots = np.full(span, -1, dtype=np.int64)
    slots[values - low] = np.arange(values.shape[0])
    offset = queries - low
    inside = (offset >= 0) & (offset < span)
    position = slots[np.where(inside, offset, 0)]
    return np.maximum(position, 0), inside & (position >= 0)


_COUNT_CHUNK = 1 << 18
"""Witness rows keyed at once when counting multiplicities."""


def _row_keys(
    witness_cols: list[np.ndarray], table_cols: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense integer keys for table rows and witness rows (equal tuples get equal keys).

    Columns are folded in one at a time and the combined keys re-ranked against the table's, so keys
    stay below (table rows)^2.  Returns (table keys, witness keys, witness-row-is-in-table mask).
    """
    table_key = np.zeros(table_cols[0].shape[0], dtype=np.int64)
    witness_key = np.zeros(witness_cols[0].shape[0], dtype=np.int64)
    found = np.ones(witness_cols[0].shape[0], dtype=bool)
    prefixes = 1
    for table_col, witness_col in zip(table_cols, witness_cols):
        table_signed = F.decode_signed(table_col)
        values = np.unique(table_signed)
        table_rank, _ = _locate(values, table_signed)
        witness_rank, in_column = _locate(values, F.decode_signed(witness_col))
        found &= in_column
        table_pair = table_key * values.shape[0] + table_rank
        pairs = np.unique(table_pair)
        if pairs.shape[0] == prefixes:  # the earlier columns already pin the row: this one must agree
            expected = np.empty(prefixes, dtype=np.int64)
            expected[table_key] = table_rank
            found &= expected[witness_key] == witness_rank
            continue
        table_key, _ = _locate(pairs, table_pair)
        witness_key, in_pairs = _locate(pairs, witness_key * values.shape[0] + witness_rank)
        found &= in_pairs
        prefixes = pairs.shape[0]
    return table_key, witness_key, found


def multiplicities(
    witness_cols: Sequence[np.ndarray], mask: np.ndarray, table_cols: Sequence[np.ndarray]
) -> np.ndarray:
    """How often each row of the padded table is used by the masked witness tuples (base, uint64).

    Counts go to the first copy of a repeated row.  Refuses, naming the row, if a masked tuple is missing.
    """
    witness = _as_columns(witness_cols, "witness")
    table = pad_table(table_cols)
    if len(witness) != len(table):
        raise LogUpError(f"witness has {len(witness)} columns, table has {len(table)}")
    used = _as_mask(mask, witness[0].shape[0]).astype(bool)
    counts = np.zeros(0, dtype=np.int64)
    first_missing, total_missing = -1, 0
    for start in range(0, used.shape[0], _COUNT_CHUNK):  # the keys' temporaries stay a chunk's size
        part = slice(start, start + _COUNT_CHUNK)
        table_key, witness_key, found = _row_keys([c[part] for c in witness], table)
        missing = np.flatnonzero(used[part] & ~found)
        if missing.size and first_missing < 0:
            first_missing = start + int(missing[0])
        total_missing += missing.size
        chunk_counts = np.bincount(witness_key[used[part]], minlength=int(table_key.max()) + 1)
        counts = chunk_counts if not counts.size else counts + chunk_counts
    if total_missing:
        tuple_text = ", ".join(str(int(c[first_missing])) for c in witness)
        raise LogUpError(
            f"witness row {first_missing} ({tuple_text}) is not in the table ({total_missing} such rows)"
        )
    _, first_row = np.unique(table_key, return_index=True)  # table keys are dense ranks 0..K-1
    mult = np.zeros(table[0].shape[0], dtype=np.uint64)
    mult[first_row] = counts.astype(np.uint64)
    return mult


def _denominators(alpha: np.ndarray, beta: np.ndarray, columns: Sequence[np.ndarray]) -> np.ndarray:
    """alpha - sum_k beta^k columns[k] as a K array (4, n), one limb at a time (no K-sized temporaries)."""
    powers = [F.ext_ones()]
    for _ in columns[1:]:
        powers.append(F.ext_mul(powers[-1], beta))
    out = np.empty((F.EXT_DEGREE, columns[0].shape[0]), dtype=np.uint64)
    for limb in range(F.EXT_DEGREE):
        acc = np.zeros(columns[0].shape[0], dtype=np.uint64)
        for power, col in zip(powers, columns):
            if power[limb]:
                acc += col * power[limb]
                acc %= _P64
        out[limb] = (_P64 + np.uint64(alpha[limb]) - acc) % _P64
    return out


def _combine_values(values: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """sum_k beta^k * values[:, k] for K scalars stacked as (4, c)."""
    acc = values[:, -1]
    for k in range(values.shape[1] - 2, -1, -1):
        acc = F.ext_add(F.ext_mul(acc, beta), values[:, k])
    return acc


@dataclass
class Lookup:
    """One lookup for the prover: the masked witness tuples lie in the table; ``multiplicities`` (already
    committed) counts each padded table row's uses."""

    witness_cols: Sequence[np.ndarray]
    mask: np.ndarray
    table_cols: Sequence[np.ndarray]
    multiplicities: np.ndarray


@dataclass
class LookupStatement:
    """One lookup for the verifier: its sizes and the public MLEs of its zero-padded mask and of the
    ``pad_table`` columns, which the verifier evaluates itself."""

    num_vars_witness: int
    num_vars_table: int
    mask_mle: Callable[[np.ndarray], np.ndarray]
    table_mles: Callable[[np.ndarray], list[np.ndarray]]
    name: str = ""
    """What the lookup checks (`activation`, `remainder range`), for the verifier's messages."""


def _draw_lookup_challenges(
    transcript: Transcript, label: str, shapes: Sequence[tuple[int, int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Bind every lookup's shape (witness vars, table vars, columns), then draw (beta, alpha)."""
    transcript.absorb_int(f"{label}/lookups", len(shapes))
    for witness_vars, table_vars, columns in shapes:
        transcript.absorb_int(f"{label}/witness_vars", witness_vars)
        transcript.absorb_int(f"{label}/table_vars", table_vars)
        transcript.absorb_int(f"{label}/columns", columns)
    return transcript.challenge_ext(f"{label}/beta"), transcript.challenge_ext(f"{label}/alpha")


def _prepare(lookup: Lookup) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], np.ndarray]:
    """Validated and padded (witness columns, mask, table columns, multiplicities)."""
    witness = _as_columns(lookup.witness_cols, "witness")
    table = pad_table(lookup.table_cols)
    if len(witness) != len(table):
        raise LogUpError(f"witness has {len(witness)} columns, table has {len(table)}")
    witness, padded_mask = _pad_witness(witness, _as_mask(lookup.mask, witness[0].shape[0]))
    mult = np.asarray(lookup.multiplicities)
    if mult.shape != table[0].shape or mult.dtype.kind not in "iu":
        raise LogUpError(f"multiplicities: expected {table[0].shape[0]} integer counts (the padded table)")
    return witness, padded_mask, table, F.asbase(mult)


def prove_lookups(
    lookups: Sequence[Lookup],
    transcript: Transcript,
    label: str,
    tiling: Tiling = TILING,
    pads: PadSource | None = None,
) -> tuple[LookupProof, list[LookupClaims]]:
    """Prove several lookups with their fraction trees cut and batched by ``tiling``.

    Witness columns and masks are zero-padded, tables padded by ``pad_table``; the returned claims are the
    openings the caller must prove (witness columns at each witness tile's point, m at each table tile's).
    With ``pads`` every value is sent hidden (``verify_lookups_hidden``), the running sums of each lookup's
    roots among them.
    """
    prepared = [_prepare(lookup) for lookup in lookups]
    shapes = [(poly.num_vars(m.shape[0]), poly.num_vars(t[0].shape[0]), len(w)) for w, m, t, _ in prepared]
    beta, alpha = _draw_lookup_challenges(transcript, label, shapes)
    trees = _trees(shapes, tiling)

    def fractions(tree: _Tree) -> Leaves:
        witness, padded_mask, table, mult = prepared[tree.lookup]
        part = tree.span()
        if tree.is_table:
            return lambda: (F.neg(mult[part]), _denominators(alpha, beta, [c[part] for c in table]))
        return lambda: (
            padded_mask[part].astype(np.uint64),
            _denominators(alpha, beta, [c[part] for c in witness]),
        )

    proofs, points, roots = [], [F.ext_zeros(0)] * len(trees), [None] * len(trees)
    for p, members in enumerate(tiling.passes([tree.num_vars for tree in trees])):
        proof, leaf_points, _, _, tops = prove_fraction_sums(
            [trees[t].num_vars for t in members],
            [fractions(trees[t]) for t in members],
            transcript,
            f"{label}/pass{p}",
            pads,
        )
        proofs.append(proof)
        for t, point, top in zip(members, leaf_points, tops):
            points[t], roots[t] = point, top
    sums = F.ext_zeros((0, 2))
    if pads is not None:
        sums = send(_running_sums(trees, roots), pads, transcript, f"{label}/sums")
    witness_values, multiplicity_values = [], []
    for tree, point in zip(trees, points):
        witness, _, _, mult = prepared[tree.lookup]
        part = tree.span()
        if tree.is_table:
            multiplicity_values.append(poly.evaluate(mult[part], point))
        else:
            witness_values.append(np.stack([poly.evaluate(c[part], point) for c in witness], axis=1))
    multiplicities = np.stack(multiplicity_values, axis=1)
    claims = _claims(len(prepared), trees, points, witness_values, multiplicities)
    if pads is not None:
        witness_values = [pads.hide(values) for values in witness_values]
        multiplicities = pads.hide(multiplicities)
    _absorb_values(transcript, label, witness_values, multiplicities)
    return LookupProof(proofs, witness_values, multiplicities, sums), claims


def _running_sums(trees: list[_Tree], roots: list[np.ndarray]) -> np.ndarray:
    """Each lookup's roots added one by one as fractions (witness tiles, then table tiles): the sums after
    every root but the first and the last, (4, S, 2) as (N, D)."""
    out = []
    for lookup in sorted({tree.lookup for tree in trees}):
        members = [roots[t][:, :, 0] for t, tree in enumerate(trees) if tree.lookup == lookup]
        total_n, total_d = members[0][:, 0], members[0][:, 1]
        for root in members[1:-1]:
            n, d = root[:, 0], root[:, 1]
            total_n, total_d = F.ext_add(F.ext_mul(total_n, d), F.ext_mul(n, total_d)), F.ext_mul(total_d, d)
            out.append(np.stack([total_n, total_d], axis=1))
    return np.stack(out, axis=1) if out else F.ext_zeros((0, 2))


def _absorb_values(
    transcript: Transcript, label: str, witness_values: list[np.ndarray], multiplicity_values: np.ndarray
) -> None:
    """Bind the claimed leaf openings (every witness tile's, then the multiplicities) after the passes."""
    for values in witness_values:
        transcript.absorb_ext(f"{label}/witness_values", values)
    transcript.absorb_ext(f"{label}/multiplicity_values", multiplicity_values)


def _claims(
    count: int,
    trees: list[_Tree],
    points: list[np.ndarray],
    witness_values: list[np.ndarray],
    multiplicity_values: np.ndarray,
) -> list[LookupClaims]:
    """Each lookup's claims, its tiles' points lifted to the whole vectors."""
    claims = [LookupClaims([], [], [], []) for _ in range(count)]
    witness, table = iter(witness_values), iter(multiplicity_values.T)
    for tree, point in zip(trees, points):
        claim = claims[tree.lookup]
        if tree.is_table:
            claim.table_points.append(tree.whole_point(point))
            claim.multiplicity_values.append(np.ascontiguousarray(next(table)))
        else:
            claim.witness_points.append(tree.whole_point(point))
            claim.witness_values.append(next(witness))
    return claims


def prove_lookup(
    witness_cols: Sequence[np.ndarray],
    mask: np.ndarray,
    table_cols: Sequence[np.ndarray],
    mult: np.ndarray,
    transcript: Transcript,
    label: str,
    tiling: Tiling = TILING,
) -> tuple[LookupProof, LookupClaims]:
    """Prove one lookup (``prove_lookups`` of a single ``Lookup``)."""
    proof, claims = prove_lookups([Lookup(witness_cols, mask, table_cols, mult)], transcript, label, tiling)
    return proof, claims[0]


def _check_lookup_proof(
    proof: object, trees: list[_Tree], passes: int, label: str, expected_columns: Sequence[int] | None = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """The claimed witness values (4, c >= 1) of each witness tree, equal in c within a lookup (and to
    ``expected_columns`` when given), and the multiplicity values (4, table trees)."""
    witness_trees = [tree for tree in trees if not tree.is_table]
    table_trees = len(trees) - len(witness_trees)
    if (
        not isinstance(proof, LookupProof)
        or not isinstance(proof.trees, list)
        or not isinstance(proof.witness_values, list)
        or len(proof.witness_values) != len(witness_trees)
    ):
        lookups = len({tree.lookup for tree in trees})
        raise LogUpError(
            f"{label}: not a lookup proof of {lookups} lookups ({len(witness_trees)} witness tiles)"
        )
    if len(proof.trees) != passes:
        raise LogUpError(f"{label}: expected {passes} passes of fraction trees, got {len(proof.trees)}")
    witness_values, columns = [], {}
    for tree, values in zip(witness_trees, proof.witness_values):
        if not isinstance(values, np.ndarray) or values.ndim != 2 or values.shape[1] == 0:
            raise LogUpError(f"{label}: witness values must be a (4, columns) array with columns >= 1")
        expected = values.shape[1] if expected_columns is None else expected_columns[tree.lookup]
        if columns.setdefault(tree.lookup, expected) != values.shape[1]:
            raise LogUpError(f"{label}: lookup {tree.lookup}'s tiles claim different column counts")
        where = f"{label}: lookup {tree.lookup} witnesses"
        witness_values.append(_check_ext_array(values, (F.EXT_DEGREE, values.shape[1]), where))
    where = f"{label}: multiplicity values"
    return witness_values, _check_ext_array(proof.multiplicity_values, (F.EXT_DEGREE, table_trees), where)


def _lookup_name(label: str, index: int, statements: Sequence[LookupStatement]) -> str:
    """Where a rejection happened: the batch label, and the lookup by name (else by position in the batch)."""
    if statements[index].name:
        return f"{label}: {statements[index].name} lookup"
    return f"{label}: lookup {index}" if len(statements) > 1 else label


def _check_roots(
    statements: Sequence[LookupStatement], trees: list[_Tree], tops: list[np.ndarray], label: str
) -> None:
    """Every tree's root denominator is nonzero and each lookup's roots (witness tiles minus table tiles,
    the table numerators being -m) sum to zero."""
    sums = [(F.ext_zeros(), F.ext_ones()) for _ in statements]
    for tree, top in zip(trees, tops):
        where = _lookup_name(label, tree.lookup, statements)
        n, d = level_root(top)
        if not np.any(d != 0):
            raise LogUpError(f"{where}: a root denominator is zero")
        total_n, total_d = sums[tree.lookup]
        sums[tree.lookup] = F.ext_add(F.ext_mul(total_n, d), F.ext_mul(n, total_d)), F.ext_mul(total_d, d)
    for i, (total_n, _) in enumerate(sums):
        if np.any(total_n != 0):
            where = _lookup_name(label, i, statements)
            raise LogUpError(f"{where}: witness and table fraction sums do not cancel (a tuple is missing)")


def verify_lookups(
    statements: Sequence[LookupStatement],
    proof: LookupProof,
    transcript: Transcript,
    label: str,
    tiling: Tiling = TILING,
) -> list[LookupClaims]:
    """Verify a batch of lookups against their public masks and tables.

    Raises ``LogUpError`` on any inconsistency; returns the openings the caller must still verify.
    """
    sizes = [(s.num_vars_witness, s.num_vars_table, 1) for s in statements]
    trees = _trees(sizes, tiling)
    passes = tiling.passes([tree.num_vars for tree in trees])
    witness_values, multiplicity_values = _check_lookup_proof(proof, trees, len(passes), label)
    _check_ext_array(proof.sums, (F.EXT_DEGREE, 0, 2), f"{label}: running sums (none in the clear)")
    first_tile = {}
    for tree, values in zip((t for t in trees if not t.is_table), witness_values):
        first_tile.setdefault(tree.lookup, values)
    shapes = [
        (s.num_vars_witness, s.num_vars_table, first_tile[i].shape[1]) for i, s in enumerate(statements)
    ]
    tops = []
    for p, members in enumerate(passes):
        tops += checked_tops([trees[t].num_vars for t in members], proof.trees[p], f"{label}/pass{p}")
    _check_roots(statements, trees, tops, label)
    beta, alpha = _draw_lookup_challenges(transcript, label, shapes)
    points, leaf_n, leaf_d = [], [], []
    for p, members in enumerate(passes):
        where = f"{label}/pass{p}"
        _, pass_points, n, d = verify_fraction_sums(
            [trees[t].num_vars for t in members], proof.trees[p], transcript, where
        )
        points += pass_points
        leaf_n += list(n.T)
        leaf_d += list(d.T)
    witness, table = iter(witness_values), iter(multiplicity_values.T)
    for tree, point, n, d in zip(trees, points, leaf_n, leaf_d):
        statement, where = statements[tree.lookup], _lookup_name(label, tree.lookup, statements)
        whole = tree.whole_point(point)
        if not tree.is_table:
            values = next(witness)
            if not F.ext_eq(n, np.asarray(statement.mask_mle(whole))):
                raise LogUpError(f"{where}: witness leaf numerator does not match the mask")
            if not F.ext_eq(d, F.ext_sub(alpha, _combine_values(values, beta))):
                raise LogUpError(
                    f"{where}: witness leaf denominator does not match the claimed column values"
                )
            continue
        table_values = [
            np.asarray(v, dtype=np.uint64).reshape(F.EXT_DEGREE) for v in statement.table_mles(whole)
        ]
        num_cols = shapes[tree.lookup][2]
        if len(table_values) != num_cols:
            raise LogUpError(
                f"{where}: proof has {num_cols} witness columns, the table has {len(table_values)}"
            )
        if not F.ext_eq(n, F.ext_neg(next(table))):
            raise LogUpError(f"{where}: table leaf numerator does not match the claimed multiplicity")
        if not F.ext_eq(d, F.ext_sub(alpha, _combine_values(np.stack(table_values, axis=1), beta))):
            raise LogUpError(f"{where}: table leaf denominator does not match the table")
    _absorb_values(transcript, label, witness_values, multiplicity_values)
    return _claims(len(statements), trees, points, witness_values, multiplicity_values)


def hidden_plan(shapes: Sequence[tuple[int, int, int]], tiling: Tiling = TILING) -> PadPlan:
    """The pads of a hidden lookup batch of (witness vars, table vars, columns) shapes, in the order
    ``verify_lookups_hidden`` takes them: per pass the roots, then per level its rounds and children and
    three products per open tree; then the running sums and their products; then the leaf values."""
    trees = _trees(shapes, tiling)
    plan = _PlanBuilder()
    roots: list[tuple[int, int]] = [(0, 0)] * len(trees)
    for members in tiling.passes([tree.num_vars for tree in trees]):
        num_vars = [trees[t].num_vars for t in members]
        for t in members:
            roots[t] = tuple(plan.take(2))
        for depth in range(HIDDEN_TOP_VARS, max(num_vars)):
            count = sum(1 for v in num_vars if v > depth)
            plan.take((_GKR_DEGREE + 1) * depth)
            children = plan.take(4 * count)
            for rank in range(count):
                n_even, n_odd, d_even, d_odd = children[4 * rank : 4 * rank + 4]
                plan.products += [(n_even, d_odd), (n_odd, d_even), (d_even, d_odd)]
    groups = [[roots[t] for t, tree in enumerate(trees) if tree.lookup == i] for i in range(len(shapes))]
    sums = iter(plan.take(2 * sum(len(g) - 2 for g in groups)))
    for group in groups:
        total = group[0]
        for j, (n, d) in enumerate(group[1:], start=2):
            plan.products += [(total[0], d), (n, total[1])]
            if j < len(group):
                plan.products.append((total[1], d))
                total = (next(sums), next(sums))
    for tree in trees:
        plan.take(1 if tree.is_table else shapes[tree.lookup][2])
    return PadPlan(plan.values, plan.products)


@dataclass
class _PlanBuilder:
    """Value indices handed out in order, and products of pairs of them."""

    values: int = 0
    products: list[tuple[int, int]] = field(default_factory=list)

    def take(self, count: int) -> list[int]:
        """The next ``count`` value indices."""
        self.values += count
        return list(range(self.values - count, self.values))


def verify_lookups_hidden(
    statements: Sequence[LookupStatement],
    columns: Sequence[int],
    proof: LookupProof,
    transcript: Transcript,
    label: str,
    checker: Checker,
    tiling: Tiling = TILING,
) -> list[LookupClaims]:
    """Verify a hidden lookup batch (``prove_lookups`` with pads): every sent value is taken by the
    ``checker`` (a ``zk.PadLedger``), every check is a constraint, and each product of two hidden values
    goes through its line check.  ``columns`` is each lookup's witness column count (the model's).  A
    root's denominator is not checked to be nonzero: every leaf denominator is alpha minus a value bound
    before alpha, so none is zero but with probability (leaves)/|K| (design.md section 10.4).  Returns the
    claims, their values ``Hidden``."""
    sizes = [(s.num_vars_witness, s.num_vars_table, c) for s, c in zip(statements, columns)]
    trees = _trees(sizes, tiling)
    passes = tiling.passes([tree.num_vars for tree in trees])
    witness_sent, multiplicity_sent = _check_lookup_proof(proof, trees, len(passes), label, columns)
    sum_count = sum(sum(1 for t in trees if t.lookup == i) - 2 for i in range(len(statements)))
    sums_sent = _check_ext_array(proof.sums, (F.EXT_DEGREE, sum_count, 2), f"{label}: running sums")
    beta, alpha = _draw_lookup_challenges(transcript, label, sizes)
    roots: list[list[Hidden]] = [[]] * len(trees)
    points, leaf_n, leaf_d = [F.ext_zeros(0)] * len(trees), [None] * len(trees), [None] * len(trees)
    for p, members in enumerate(passes):
        where = f"{label}/pass{p}"
        found = _verify_pass_hidden(
            [trees[t].num_vars for t in members], proof.trees[p], transcript, where, checker
        )
        for t, (root, point, n, d) in zip(members, zip(*found)):
            roots[t], points[t], leaf_n[t], leaf_d[t] = root, point, n, d
    transcript.absorb_ext(f"{label}/sums", sums_sent)
    sums = iter(checker.receive(sums_sent))
    for i in range(len(statements)):
        group = [roots[t] for t, tree in enumerate(trees) if tree.lookup == i]
        total = group[0]
        for j, (n, d) in enumerate(group[1:], start=2):
            numerator = checker.product(total[0], d) + checker.product(n, total[1])
            if j == len(group):
                where = _lookup_name(label, i, statements)
                checker.require(numerator, 0, f"{where}: witness and table fraction sums do not cancel")
                continue
            denominator = checker.product(total[1], d)
            total = [next(sums), next(sums)]
            checker.require(total[0], numerator, f"{label}: running sum {j} numerator")
            checker.require(total[1], denominator, f"{label}: running sum {j} denominator")
    _absorb_values(transcript, label, witness_sent, multiplicity_sent)
    witness = iter([checker.receive(values) for values in witness_sent])
    table = iter(checker.receive(multiplicity_sent))
    claims = [LookupClaims([], [], [], []) for _ in statements]
    for tree, point, n, d in zip(trees, points, leaf_n, leaf_d):
        statement, where = statements[tree.lookup], _lookup_name(label, tree.lookup, statements)
        whole = tree.whole_point(point)
        if tree.is_table:
            multiplicity = next(table)
            table_values = [
                np.asarray(v, dtype=np.uint64).reshape(F.EXT_DEGREE) for v in statement.table_mles(whole)
            ]
            checker.require(n, -multiplicity, f"{where}: table leaf numerator")
            checker.require(
                d,
                F.ext_sub(alpha, _combine_values(np.stack(table_values, axis=1), beta)),
                f"{where}: table leaf denominator",
            )
            claims[tree.lookup].table_points.append(whole)
            claims[tree.lookup].multiplicity_values.append(multiplicity)
            continue
        values = next(witness)
        powers = [F.ext_pow(beta, k) for k in range(len(values))]
        checker.require(n, np.asarray(statement.mask_mle(whole)), f"{where}: witness leaf numerator")
        checker.require(
            d, Hidden.of(alpha) - combination(powers, values), f"{where}: witness leaf denominator"
        )
        claims[tree.lookup].witness_points.append(whole)
        claims[tree.lookup].witness_values.append(values)
    return claims


def _verify_pass_hidden(
    num_vars: Sequence[int], proof: object, transcript: Transcript, label: str, checker: Checker
) -> tuple[list[list[Hidden]], list[np.ndarray], list[Hidden], list[Hidden]]:
    """One hidden pass (``verify_fraction_sums`` with roots for tops): returns per tree its root (N, D),
    its leaf point and its leaf n~ and d~."""
    if not isinstance(proof, FractionSumProof) or not all(
        isinstance(v, list) for v in (proof.tops, proof.layers, proof.children)
    ):
        raise LogUpError(f"{label}: not a fraction-sum proof")
    deepest = max(num_vars)
    if len(proof.tops) != len(num_vars):
        raise LogUpError(f"{label}: expected {len(num_vars)} tree roots, got {len(proof.tops)}")
    if len(proof.layers) != deepest or len(proof.children) != deepest:
        raise LogUpError(f"{label}: expected {deepest} GKR layers, got {len(proof.layers)}")
    tops = [
        _check_ext_array(top, (F.EXT_DEGREE, 2, 1), f"{label}: tree {t} root")
        for t, top in enumerate(proof.tops)
    ]
    order = tree_order(num_vars)
    _absorb_shape(transcript, label, num_vars)
    roots = []
    for top in tops:
        transcript.absorb_ext(f"{label}/top", top)
        roots.append(checker.receive(top))
    transcript.challenge_ext_vec(f"{label}/top_point", 0)
    point = F.ext_zeros(0)
    claim_n = [roots[t][0] for t in order]
    claim_d = [roots[t][1] for t in order]
    leaf_points = [point] * len(num_vars)
    for depth in range(HIDDEN_TOP_VARS, deepest):
        count = sum(1 for v in num_vars if v > depth)
        where = f"{label}/L{depth}"
        layer = proof.layers[depth]
        if not isinstance(layer, SumcheckProof) or not isinstance(layer.rounds, list):
            raise LogUpError(f"{where}: not a sumcheck proof")
        values = _check_ext_array(proof.children[depth], (F.EXT_DEGREE, count, 4), f"{where}: children")
        lam_array, coefficients = _coefficients(transcript, where, count)
        lam, weights = scalar(lam_array), [scalar(w) for w in coefficients.T]
        claim = combination(weights, [claim_n[k] + claim_d[k].times(lam) for k in range(count)])
        try:
            sub_point, final = sumcheck.verify_hidden(
                claim, depth, _GKR_DEGREE, layer, transcript, where, checker
            )
        except SumcheckError as err:
            raise LogUpError(str(err)) from None
        children = checker.receive(values)
        per_tree = []
        for rank in range(count):
            n_even, n_odd, d_even, d_odd = children[4 * rank : 4 * rank + 4]
            sums = checker.product(n_even, d_odd) + checker.product(n_odd, d_even)
            per_tree.append(sums + checker.product(d_even, d_odd).times(lam))
        expected = combination(weights, per_tree).times(scalar(poly.eq_eval(point, sub_point)))
        checker.require(final, expected, f"{where}: children values do not match the sumcheck's final claim")
        transcript.absorb_ext(f"{where}/children", values)
        mu_array = transcript.challenge_ext(f"{where}/mu")
        mu = scalar(mu_array)
        for rank in range(count):
            n_even, n_odd, d_even, d_odd = children[4 * rank : 4 * rank + 4]
            claim_n[rank] = n_even + (n_odd - n_even).times(mu)
            claim_d[rank] = d_even + (d_odd - d_even).times(mu)
        point = poly.concat_points(sub_point, mu_array)
        for rank in range(count):
            if num_vars[order[rank]] == depth + 1:
                leaf_points[order[rank]] = point
    inverse = [order.index(t) for t in range(len(order))]
    return roots, leaf_points, [claim_n[i] for i in inverse], [claim_d[i] for i in inverse]


def verify_lookup(
    num_vars_witness: int,
    num_vars_table: int,
    proof: LookupProof,
    transcript: Transcript,
    label: str,
    mask_mle: Callable[[np.ndarray], np.ndarray],
    table_mles: Callable[[np.ndarray], list[np.ndarray]],
    tiling: Tiling = TILING,
) -> LookupClaims:
    """Verify one lookup (``verify_lookups`` of a single ``LookupStatement``)."""
    statement = LookupStatement(num_vars_witness, num_vars_table, mask_mle, table_mles)
    return verify_lookups([statement], proof, transcript, label, tiling)[0]


# ------------------------------------------------------------------------------- standard tables
def range_table(bits: int) -> np.ndarray:
    """The column 0, 1, ..., 2^bits - 1 (range checks of unsigned values)."""
    return np.arange(1 << bits, dtype=np.uint64)


def range_mle(point: np.ndarray) -> np.ndarray:
    """MLE of ``range_table(bits)`` at a point of ``bits`` coordinates: sum_k 2^(bits-1-k) z_k, O(bits)."""
    point = point.reshape(F.EXT_DEGREE, -1)
    bits = point.shape[1]
    weights = np.array([pow(2, bits - 1 - k, F.P) for k in range(bits)], dtype=np.uint64)
    return F.ext_sum(F.ext_scale(point, weights))


def mapped_table(bits: int, mapping: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Columns (v, mapping(v)) for v = -2^(bits-1) ... 2^(bits-1) - 1 in order, encoded mod p; ``mapping``
    takes and returns int64 arrays."""
    if bits < 1:
        raise LogUpError(f"a mapped table needs bits >= 1 (got {bits})")
    values = np.arange(-(1 << (bits - 1)), 1 << (bits - 1), dtype=np.int64)
    return F.encode_signed(values), F.encode_signed(np.asarray(mapping(values), dtype=np.int64))


def mapped_mles(
    bits: int, mapping: Callable[[np.ndarray], np.ndarray]
) -> Callable[[np.ndarray], list[np.ndarray]]:
    """A verifier-side evaluator of both ``mapped_table`` column MLEs at a point of ``bits`` coordinates.

    The input column is linear (range MLE minus 2^(bits-1)); the mapped column is evaluated from the
    materialised table, O(2^bits).
    """
    _, mapped = mapped_table(bits, mapping)
    offset = F.ext_const(-(1 << (bits - 1)))

    def evaluate(point: np.ndarray) -> list[np.ndarray]:
        return [F.ext_add(range_mle(point), offset), poly.evaluate(mapped, point)]

    return evaluate


def activation_table(bits: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns (v, clamp(v, lo, hi)) for v = -2^(bits-1) ... 2^(bits-1) - 1 in order, encoded mod p."""
    if bits < 1 or lo > hi:
        raise LogUpError(f"activation table needs bits >= 1 and lo <= hi (got bits={bits}, [{lo}, {hi}])")
    return mapped_table(bits, lambda values: np.clip(values, lo, hi))


def activation_mles(bits: int, lo: int, hi: int) -> Callable[[np.ndarray], list[np.ndarray]]:
    """``mapped_mles`` of the clamp table ``activation_table(bits, lo, hi)``."""
    if bits < 1 or lo > hi:
        raise LogUpError(f"activation table needs bits >= 1 and lo <= hi (got bits={bits}, [{lo}, {hi}])")
    return mapped_mles(bits, lambda values: np.clip(values, lo, hi))


# --------------------------------------------------------------------------------------- benchmark
def _proof_elements(obj: object) -> int:
    """Number of base field elements in a proof object (arrays, dataclasses, lists)."""
    if isinstance(obj, np.ndarray):
        return int(obj.size)
    if isinstance(obj, list):
        return sum(_proof_elements(x) for x in obj)
    if hasattr(obj, "__dataclass_fields__"):
        return sum(_proof_elements(getattr(obj, f.name)) for f in fields(obj))
    return 0


def bench_lookup(log_n: int = 16, log_table: int = 16, repeats: int = 3) -> dict:
    """Time an activation lookup of 2^log_n (q, clamp(q)) pairs into the 2^log_table-row table.

    Returns median seconds for multiplicities, prove and verify, and the proof size in field elements.
    """
    if log_n < 0 or log_table < 1 or repeats < 1:
        raise ValueError(
            f"bench_lookup needs log_n >= 0, log_table >= 1, repeats >= 1 (got {log_n}, "
            f"{log_table}, {repeats})"
        )
    rng = np.random.default_rng(1)
    lo, hi = -128, 127
    table = activation_table(log_table, lo, hi)
    raw = rng.integers(-(1 << (log_table - 1)), 1 << (log_table - 1), size=1 << log_n)
    witness = [F.encode_signed(raw), F.encode_signed(np.clip(raw, lo, hi))]
    mask = np.ones(1 << log_n, dtype=np.uint64)
    table_mles = activation_mles(log_table, lo, hi)
    times: dict[str, list[float]] = {"multiplicities": [], "prove": [], "verify": []}
    size = 0
    for _ in range(repeats):
        start = time.perf_counter()
        mult = multiplicities(witness, mask, table)
        times["multiplicities"].append(time.perf_counter() - start)
        start = time.perf_counter()
        proof, _ = prove_lookup(witness, mask, table, mult, Transcript(), "bench")
        times["prove"].append(time.perf_counter() - start)
        start = time.perf_counter()
        verify_lookup(log_n, log_table, proof, Transcript(), "bench", lambda z: F.ext_const(1), table_mles)
        times["verify"].append(time.perf_counter() - start)
        size = _proof_elements(proof)
    return {
        "log_n": log_n,
        "log_table": log_table,
        "multiplicities_seconds": float(np.median(times["multiplicities"])),
        "prove_seconds": float(np.median(times["prove"])),
        "verify_seconds": float(np.median(times["verify"])),
        "proof_elements": size,
    }
