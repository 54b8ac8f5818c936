"""Sumcheck for sums of products of multilinear tables: sum_x sum_t c_t * prod_{j in t} T_j(x).

The prover sends, per round, the round polynomial's evaluations at 0..degree (K elements); the verifier
checks s(0) + s(1) against the running claim, draws r, and moves to s(r).  Variables are bound most
significant first (see ``poly``), so the challenges form the evaluation point in the usual order.
Eq-weighted sums are the same thing with an eq table among the factors.  Tables may be base (n,) or
K (4, n); the prover keeps only the tables it folds, each halving per round.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

import numpy as np

from edgeprove import field as F
from edgeprove import poly
from edgeprove.transcript import Transcript
from edgeprove.zk import Checker, Hidden, PadPlan, PadSource, combination, send


class SumcheckError(Exception):
    """Raised by the verifier when a sumcheck transcript is inconsistent."""


@dataclass
class SumcheckProof:
    """Round polynomials as evaluations at 0..degree: one K array of shape (4, degree+1) per round."""

    rounds: list[np.ndarray]


Term = tuple[object, tuple[int, ...]]
"""(coefficient: int or K scalar, indices of the tables multiplied together)."""


def _mul_any(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.ndim == 1 and b.ndim == 1:
        return F.mul(a, b)
    if a.ndim == 1:
        return F.ext_scale(b, a)
    if b.ndim == 1:
        return F.ext_scale(a, b)
    return F.ext_mul(a, b)


def _coef(c) -> np.ndarray:
    if isinstance(c, (int, np.integer)):
        return F.ext_const(int(c))
    return np.asarray(c, dtype=np.uint64).reshape(F.EXT_DEGREE)


def _at(lo: np.ndarray, diff: np.ndarray, hi: np.ndarray, t: int) -> np.ndarray:
    """The table's restriction at X = t: lo + t * diff."""
    if t == 0:
        return lo
    if t == 1:
        return hi
    if lo.ndim == 1:
        return F.add(lo, F.mul(diff, np.uint64(t)))
    return F.ext_add(lo, (diff * np.uint64(t)) % np.uint64(F.P))


def round_evaluations(tables: list[np.ndarray], terms: list[Term], degree: int, skip_one: bool) -> list:
    """s(t) for t = 0..degree of the current round (s(1) left as None when ``skip_one``)."""
    return _restricted_sums(tables, terms, degree, None, skip_one)


def prove(
    tables: list[np.ndarray],
    terms: list[Term],
    degree: int,
    transcript: Transcript,
    label: str,
    claim: np.ndarray | None = None,
    consume: bool = False,
    pads: PadSource | None = None,
) -> tuple[SumcheckProof, np.ndarray, list[np.ndarray], np.ndarray]:
    """Run the prover; returns (proof, challenge point (4, n), final table values, the proven sum).

    ``claim`` (the sum, if the caller already knows it) saves computing s(1) each round.  With ``consume``
    the caller's list is emptied, K tables (which may be stored as uint32) are folded in place and base
    ones into uint32 storage, freed once folded (the caller must hold no other reference to them).  With
    ``pads`` every round is sent hidden (``verify_hidden``).
    """
    n = poly.num_vars(tables[0].shape[-1])
    for t in tables:
        if t.shape[-1] != tables[0].shape[-1]:
            raise ValueError("sumcheck tables must have equal length")
    if max((len(idx) for _, idx in terms), default=0) > degree:
        raise ValueError("a term has more factors than the declared degree")
    given, tables = tables, list(tables)
    if consume:
        given.clear()
    rounds, challenges, total, _ = prove_rounds(
        tables, terms, degree, n, transcript, label, claim, consume, pads
    )
    finals = [
        poly.as_u64(t).reshape(F.EXT_DEGREE).copy() if t.ndim == 2 else F.ext_from_base(t[0]) for t in tables
    ]
    if total is None:  # zero variables: the sum is the single product
        total = F.ext_zeros()
        for coef, idx in terms:
            prod = F.ext_ones()
            for j in idx:
                prod = F.ext_mul(prod, finals[j])
            total = F.ext_add(total, F.ext_mul(_coef(coef), prod))
    return SumcheckProof(rounds), poly.point(challenges), finals, total


def prove_rounds(
    tables: list[np.ndarray],
    terms: list[Term],
    degree: int,
    count: int,
    transcript: Transcript,
    label: str,
    claim: np.ndarray | None = None,
    consume: bool = False,
    pads: PadSource | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray | None, np.ndarray | None]:
    """The first ``count`` rounds of ``prove`` (its messages, transcript labels and folds) on ``tables``,
    which are replaced in the list by their folds (so a table is freed once folded); returns (messages as
    sent, challenges, the sum, the claim left for the next round).  A sumcheck may thus run in parts, each
    on tables of its own that give the same round sums."""
    rounds: list[np.ndarray] = []
    challenges: list[np.ndarray] = []
    current = claim
    total = claim
    for _ in range(count):
        evals = round_evaluations(tables, terms, degree, skip_one=current is not None)
        if current is None:
            current = F.ext_add(evals[0], evals[1])
            total = current
        elif evals[1] is None:
            evals[1] = F.ext_sub(current, evals[0])
        msg = np.stack(evals, axis=1)
        sent = send(msg, pads, transcript, f"{label}/round")
        r = transcript.challenge_ext(f"{label}/r")
        challenges.append(r)
        current = interpolate(msg, r)
        _fold_each(tables, r, consume)
        rounds.append(sent)
    return rounds, challenges, total, current


def prove_eq_weighted(
    tables: list[np.ndarray],
    terms: list[Term],
    degree: int,
    eq_point: np.ndarray,
    claim: np.ndarray,
    transcript: Transcript,
    label: str,
    consume: bool = False,
    pads: PadSource | None = None,
) -> tuple[SumcheckProof, np.ndarray, list[np.ndarray]]:
    """Prove sum_x eq(eq_point, x) P(x) = claim, P = sum_t c_t prod tables, without folding an eq table.

    Each round polynomial factors as s(X) = e * eq(rho_i, X) * q(X) with e the bound prefix of eq and q of
    degree ``degree - 1`` (Gruen's trick): q is evaluated against the eq weights of the remaining
    coordinates, as the product of two small tables (``SplitEq``), and q(1) follows from the claim.  The
    messages are exactly those of ``prove`` with eq_table(eq_point) as one more factor of every term, so
    ``verify`` is unchanged.  Returns (proof, point, final table values).  With ``consume`` the caller's
    list is emptied and tables fold as in ``prove`` (in place, or into compact storage), each freed once
    folded.  With ``pads`` every round is sent hidden.
    """
    n = poly.num_vars(tables[0].shape[-1])
    point = eq_point.reshape(F.EXT_DEGREE, -1)
    if point.shape[1] != n:
        raise ValueError("eq point and tables have different numbers of variables")
    if max((len(idx) for _, idx in terms), default=0) > degree - 1:
        raise ValueError("a term has more factors than the declared degree allows beside eq")
    given, tables = tables, list(tables)
    if consume:
        given.clear()
    rounds, challenges = [], []
    nonzero = np.any(point != 0, axis=0)
    inv_rho = F.ext_zeros(n)
    if np.any(nonzero):
        inv_rho[:, nonzero] = F.ext_inv(point[:, nonzero])
    reduced = np.asarray(claim, dtype=np.uint64).reshape(F.EXT_DEGREE)  # the claim divided by the prefix
    prefix = F.ext_ones()  # prod_{j < i} eq(rho_j, r_j)
    one = F.ext_ones()
    low = None  # the suffix's low eq table, kept while the rounds leave its coordinates unbound
    for i in range(n):
        rho = point[:, i]
        e_at = [
            F.ext_add(F.ext_sub(one, rho), F.ext_scale(F.ext_sub(F.ext_add(rho, rho), one), np.uint64(t)))
            for t in range(degree + 1)
        ]  # eq(rho, t) = (1 - rho) + t (2 rho - 1)
        suffix = SplitEq(point[:, i + 1 :], low)
        q = _restricted_sums(tables, terms, degree - 1, suffix, skip_one=bool(nonzero[i]))
        low = suffix.low
        if nonzero[i]:  # reduced claim = (1 - rho) q(0) + rho q(1)
            q[1] = F.ext_mul(F.ext_sub(reduced, F.ext_mul(e_at[0], q[0])), inv_rho[:, i])
        q_evals = np.stack(q, axis=1)
        q.append(interpolate(q_evals, F.ext_const(degree)))
        msg = np.stack([F.ext_mul(prefix, F.ext_mul(e_at[t], q[t])) for t in range(degree + 1)], axis=1)
        sent = send(msg, pads, transcript, f"{label}/round")
        r = transcript.challenge_ext(f"{label}/r")
        challenges.append(r)
        reduced = interpolate(q_evals, r)  # s(r) / (prefix * eq(rho, r)) = q(r)
        prefix = F.ext_mul(prefix, poly.eq_eval(rho, r))
        _fold_each(tables, r, consume)
        rounds.append(sent)
    finals = [
        poly.as_u64(t).reshape(F.EXT_DEGREE).copy() if t.ndim == 2 else F.ext_from_base(t[0]) for t in tables
    ]
    return SumcheckProof(rounds), poly.point(challenges), finals


def _fold_each(tables: list[np.ndarray], r: np.ndarray, consume: bool) -> None:
    """Replace each table in the list by its fold at r, one at a time, so a consumed table is freed before
    the next is folded."""
    for j in range(len(tables)):
        tables[j] = poly.fold(tables[j], r, in_place=consume)


SLICE = 1 << 16
"""Entries of each half-table a round evaluates at once for two tables (fewer per table when there are
more, a power of two): bounds the round's temporaries, not its tables."""
_MIN_SLICE = 1 << 10


class SplitEq:
    """eq(z, x) for all x as the outer product of two tables, eq(z_high, x_high) * eq(z_low, x_low), the low
    part at least a round's longest slice: the weights of a table of any length in a few MiB, never built
    whole.  ``low`` may pass in the low table of an earlier round whose last coordinates were the same."""

    def __init__(self, z: np.ndarray, low: np.ndarray | None = None) -> None:
        z = z.reshape(F.EXT_DEGREE, -1)
        n = z.shape[1]
        low_bits = min(n, max(poly.num_vars(_slice_step(1)), (n + 1) // 2))
        if low is None or low.shape[1] != 1 << low_bits:
            low = poly.eq_table(z[:, n - low_bits :])
        self.low = low
        self.high = poly.eq_table(z[:, : n - low_bits]) if low_bits < n else None  # None: the weight 1

    def inner(self, values: np.ndarray, part: slice) -> np.ndarray:
        """sum_x values[x] eq(z, x) over x in ``part``, a slice of ``_slice_step`` (so within one row of the
        outer product)."""
        row, offset = divmod(part.start, self.low.shape[1])
        partial = F.ext_inner(values, self.low[:, offset : offset + part.stop - part.start])
        return partial if self.high is None else F.ext_mul(partial, self.high[:, row])


def _slice_step(count: int) -> int:
    """Entries of a round's slice for ``count`` tables: a power of two, so slices never straddle a row of
    ``SplitEq``'s outer product."""
    step = max(_MIN_SLICE, 2 * SLICE // max(count, 1))  # many tables: shorter slices, same bytes
    return 1 << (step.bit_length() - 1)


def _restricted_sums(tables, terms, degree: int, weights: SplitEq | None, skip_one: bool) -> list:
    """q(t) = sum_x' weights(x') sum_terms c prod tables(t, x') for t = 0..degree (q(1) None if skipped);
    no weights means a plain sum over x'.  Taken a slice of x' at a time."""
    half = tables[0].shape[-1] // 2
    out: list = [None if x == 1 and skip_one else F.ext_zeros() for x in range(degree + 1)]
    step = _slice_step(len(tables))
    for start in range(0, half, step):
        part = slice(start, min(half, start + step))
        upper = slice(half + part.start, half + part.stop)
        los = [poly.as_u64(t[..., part]) for t in tables]
        his = [poly.as_u64(t[..., upper]) for t in tables]
        diffs = [F.sub(hi, lo) if lo.ndim == 1 else F.ext_sub(hi, lo) for lo, hi in zip(los, his)]
        for x in range(degree + 1):
            if out[x] is None:
                continue
            combined = _combined_terms(los, his, diffs, terms, x, part.stop - part.start)
            if combined is None:
                continue
            if weights is None:
                out[x] = F.ext_add(out[x], F.ext_sum(combined))
            else:
                out[x] = F.ext_add(out[x], weights.inner(combined, part))
    return out


def _combined_terms(los, his, diffs, terms: list[Term], x: int, length: int) -> np.ndarray | None:
    """sum_t c_t prod_j tables_j(x, .) on one slice, element-wise (K), or None without terms."""
    restricted: dict[int, np.ndarray] = {}
    combined = None
    for coef, idx in terms:
        for j in idx:
            if j not in restricted:
                restricted[j] = _at(los[j], diffs[j], his[j], x)
        term = restricted[idx[0]] if idx else None
        for j in idx[1:]:
            term = _mul_any(term, restricted[j])
        if term is None:
            term = F.ext_ones(length)
        if term.ndim == 1:
            term = F.ext_from_base(term)
        if not (isinstance(coef, (int, np.integer)) and int(coef) == 1):
            term = F.ext_mul_scalar(term, _coef(coef))
        combined = term if combined is None else F.ext_add(combined, term)
    return combined


def verify(
    claim: np.ndarray, n: int, degree: int, proof: SumcheckProof, transcript: Transcript, label: str
) -> tuple[np.ndarray, np.ndarray]:
    """Check the rounds against ``claim``; returns (challenge point, the claim left for the final check)."""
    if len(proof.rounds) != n:
        raise SumcheckError(f"{label}: expected {n} rounds, got {len(proof.rounds)}")
    current = [int(v) % F.P for v in np.asarray(claim, dtype=np.uint64).reshape(F.EXT_DEGREE).tolist()]
    challenges = []
    for i, msg in enumerate(proof.rounds):
        if msg.shape != (F.EXT_DEGREE, degree + 1):
            raise SumcheckError(f"{label}: round {i} polynomial has the wrong degree")
        limbs = msg.tolist()
        if any((row[0] + row[1]) % F.P != c for row, c in zip(limbs, current)):
            raise SumcheckError(f"{label}: round {i} sum s(0)+s(1) does not match the claim")
        transcript.absorb_ext(f"{label}/round", msg)
        r = transcript.challenge_ext(f"{label}/r")
        challenges.append(r)
        current = interpolate_ints(limbs, r.tolist())
    return poly.point(challenges), np.array(current, dtype=np.uint64)


def verify_hidden(
    claim: Hidden,
    n: int,
    degrees: int | list[int],
    proof: SumcheckProof,
    transcript: Transcript,
    label: str,
    checker: Checker,
) -> tuple[np.ndarray, Hidden]:
    """``verify`` over what ``checker`` makes of the sent rounds: in the clear the checks are made at once;
    hidden (a ``zk.PadLedger``), each round's values are its sent values plus the next pads, the check
    s(0) + s(1) = claim becomes a constraint owed to the opening, and the claim moves on to s(r) as an
    affine expression.  ``degrees`` is every round's degree, or one for all.  Returns (challenge point, the
    claim left for the final check)."""
    degrees = [degrees] * n if isinstance(degrees, int) else list(degrees)
    if len(proof.rounds) != n or len(degrees) != n:
        raise SumcheckError(f"{label}: expected {n} rounds, got {len(proof.rounds)}")
    current = claim
    challenges = []
    for i, (msg, degree) in enumerate(zip(proof.rounds, degrees)):
        if not isinstance(msg, np.ndarray) or msg.shape != (F.EXT_DEGREE, degree + 1):
            raise SumcheckError(f"{label}: round {i} polynomial has the wrong degree")
        values = checker.receive(msg)
        checker.require(
            values[0] + values[1], current, f"{label}: round {i} sum s(0)+s(1) does not match the claim"
        )
        transcript.absorb_ext(f"{label}/round", msg)
        r = transcript.challenge_ext(f"{label}/r")
        challenges.append(r)
        current = combination(lagrange_at(degree, r), values)
    return poly.point(challenges), current


def rounds_plan(degrees: list[int]) -> PadPlan:
    """The pads of a sumcheck sent hidden: one per evaluation of every round."""
    return PadPlan(sum(d + 1 for d in degrees))


def lagrange_at(degree: int, r: np.ndarray) -> list[tuple[int, int, int, int]]:
    """l_t(r) for t = 0..degree, the Lagrange basis of the nodes 0..degree at r: s(r) = sum_t l_t(r) s(t).
    As prod_{j != t} (r - j) / prod_{j != t} (t - j), from prefix and suffix products of the r - j."""
    rr = [int(v) for v in np.asarray(r).reshape(F.EXT_DEGREE)]
    shifted = [((rr[0] - j) % F.P, rr[1], rr[2], rr[3]) for j in range(degree + 1)]
    prefix = [(1, 0, 0, 0)]
    for value in shifted[:-1]:
        prefix.append(F.ext_mul_ints(prefix[-1], value))
    out, suffix, weights = [None] * (degree + 1), (1, 0, 0, 0), _lagrange_denominators(degree)
    for t in range(degree, -1, -1):
        out[t] = tuple(v * weights[t] % F.P for v in F.ext_mul_ints(prefix[t], suffix))
        suffix = F.ext_mul_ints(suffix, shifted[t])
    return out


@functools.lru_cache(maxsize=16)
def _lagrange_denominators(degree: int) -> tuple[int, ...]:
    """1 / prod_{j != t} (t - j) mod p for every node t of 0..degree."""
    out = []
    for t in range(degree + 1):
        denominator = 1
        for j in range(degree + 1):
            if j != t:
                denominator = denominator * (t - j) % F.P
        out.append(pow(denominator, F.P - 2, F.P))
    return tuple(out)


def combine_terms(terms: list[Term], finals: list[np.ndarray]) -> np.ndarray:
    """sum_t c_t prod_{j in t} finals_j: the value the verifier compares with the last round's claim."""
    total = F.ext_zeros()
    for coef, idx in terms:
        prod = _coef(coef)
        for j in idx:
            prod = F.ext_mul(prod, finals[j])
        total = F.ext_add(total, prod)
    return total


@functools.lru_cache(maxsize=16)
def _monomial_basis(d: int) -> tuple[tuple[int, ...], ...]:
    """Inverse Vandermonde matrix of the nodes 0..d mod p: coefficients = M @ evaluations."""
    size = d + 1
    rows = [[pow(i, k, F.P) for k in range(size)] + [int(i == j) for j in range(size)] for i in range(size)]
    for col in range(size):  # Gauss-Jordan over F_p on [V | I]
        pivot = next(r for r in range(col, size) if rows[r][col])
        rows[col], rows[pivot] = rows[pivot], rows[col]
        inv = pow(rows[col][col], F.P - 2, F.P)
        rows[col] = [v * inv % F.P for v in rows[col]]
        for r in range(size):
            if r != col and rows[r][col]:
                factor = rows[r][col]
                rows[r] = [(a - factor * b) % F.P for a, b in zip(rows[r], rows[col])]
    return tuple(tuple(row[size:]) for row in rows)


def interpolate(evals: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Value at r in K of the polynomial with the given evaluations at 0..d.

    Coefficients come from a cached inverse Vandermonde matrix, then Horner's rule, all in Python ints:
    this runs once per sumcheck round on both sides, where numpy's per-call overhead would dominate.
    """
    rr = [int(v) for v in np.asarray(r).reshape(F.EXT_DEGREE)]
    return np.array(interpolate_ints(evals.tolist(), rr), dtype=np.uint64)


def interpolate_ints(limbs: list[list[int]], r: list[int]) -> list[int]:
    """``interpolate`` on Python ints: limbs[l][i] is limb l of s(i), r the point's four limbs."""
    d = len(limbs[0]) - 1
    basis = _monomial_basis(d)
    coeffs = [[sum(map(operator.mul, row, limb)) % F.P for limb in limbs] for row in basis]
    acc = coeffs[d]
    for k in range(d - 1, -1, -1):
        acc = F.ext_mul_ints(acc, r)
        acc = [(a + c) % F.P for a, c in zip(acc, coeffs[k])]
    return list(acc)
