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
from dataclasses import dataclass, fields

import numpy as np

from edgeprove import field as F
from edgeprove import poly, sumcheck
from edgeprove.sumcheck import SumcheckError, SumcheckProof
from edgeprove.transcript import Transcript

_P64 = np.uint64(F.P)
_GKR_DEGREE = 3
_DIRECT_SPAN_PER_VALUE = 4
_DIRECT_SPAN_MIN = 1 << 16
"""Distinct table values spanning at most 4 * count + 2^16 integers are located by direct addressing."""


class LogUpError(Exception):
    """A lookup cannot be proven (a witness tuple is missing from the table) or a proof is rejected."""


@dataclass
class FractionSumProof:
    """GKR proof that a tree of fractions sums to ``root`` = (N, D) as K elements, shape (4, 2).

    ``layers[j]`` is the sumcheck reducing the claim on level j (2^j fractions) to its children, and
    ``children[j]`` (4, 4) holds the children's MLE values n_e, n_o, d_e, d_o at that sumcheck's point.
    """

    root: np.ndarray
    layers: list[SumcheckProof]
    children: list[np.ndarray]


@dataclass
class LookupProof:
    """Both fraction-sum proofs plus the prover's claimed openings at the leaf points.

    ``witness_values`` (4, c) are the witness columns' MLEs at the witness leaf point, and
    ``multiplicity_value`` (4,) the multiplicities' MLE at the table leaf point.
    """

    witness_tree: FractionSumProof
    table_tree: FractionSumProof
    witness_values: np.ndarray
    multiplicity_value: np.ndarray


@dataclass
class LookupClaims:
    """What a verified lookup still owes the caller: openings of the committed witness columns at
    ``witness_point`` equal to ``witness_values`` (4, c), and of the multiplicities at ``table_point``."""

    witness_point: np.ndarray
    witness_values: np.ndarray
    table_point: np.ndarray
    multiplicity_value: np.ndarray


# ------------------------------------------------------------------------------ fraction-sum GKR
def _times(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator * denominator for a base or K numerator and a K denominator."""
    if numerator.ndim == 1:
        return F.ext_scale(denominator, numerator)
    return F.ext_mul(numerator, denominator)


def _children(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous copies of the entries x||0 and x||1 (the least significant variable is the child bit)."""
    return np.ascontiguousarray(table[..., 0::2]), np.ascontiguousarray(table[..., 1::2])


def _split_levels(numerators: np.ndarray, denominators: np.ndarray) -> tuple[list, np.ndarray, np.ndarray]:
    """Build the fraction tree bottom-up; returns every non-root level split as (n_e, n_o, d_e, d_o),
    leaves first, and the root (n, d).  Only the split copies are kept: about twice the leaves in all."""
    levels = []
    while denominators.shape[-1] > 1:
        n_even, n_odd = _children(numerators)
        d_even, d_odd = _children(denominators)
        levels.append((n_even, n_odd, d_even, d_odd))
        numerators = F.ext_add(_times(n_even, d_odd), _times(n_odd, d_even))
        denominators = F.ext_mul(d_even, d_odd)
    return levels, numerators, denominators


def _as_ext_scalar(value: np.ndarray) -> np.ndarray:
    """A length-1 base or K table as a K scalar (4,)."""
    return F.ext_from_base(value[0]) if value.ndim == 1 else value.reshape(F.EXT_DEGREE)


def _layer_terms(lam: np.ndarray) -> list[sumcheck.Term]:
    """eq*n_e*d_o + eq*n_o*d_e + lambda*eq*d_e*d_o over tables [eq, n_e, n_o, d_e, d_o]."""
    return [(1, (0, 1, 4)), (1, (0, 2, 3)), (lam, (0, 3, 4))]


def _children_terms(lam: np.ndarray) -> list[sumcheck.Term]:
    """The same sum without the eq factor, over [n_e, n_o, d_e, d_o] (for the eq-weighted prover)."""
    return [(1, (0, 3)), (1, (1, 2)), (lam, (2, 3))]


def _line(value_even: np.ndarray, value_odd: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """(1 - mu) * even + mu * odd: the MLE one level down with mu as its last coordinate."""
    return F.ext_add(value_even, F.ext_mul(F.ext_sub(value_odd, value_even), mu))


def prove_fraction_sum(
    numerators: np.ndarray, denominators: np.ndarray, transcript: Transcript, label: str
) -> tuple[FractionSumProof, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Prove sum_x n(x)/d(x) = N/D for leaves n (base (2^k,) or K (4, 2^k)) and d (K (4, 2^k)).

    Returns (proof, N, D, leaf point (4, k), n~(leaf point), d~(leaf point)); the caller must tie the two
    leaf values to MLEs it trusts.  The leaf arrays are released once split, if the caller holds no copy.
    """
    length = denominators.shape[-1]
    if denominators.shape != (F.EXT_DEGREE, length) or numerators.shape not in ((length,), (4, length)):
        raise LogUpError("fraction-sum leaves: need base (L,) or K (4, L) numerators, K (4, L) denominators")
    if length == 0 or length & (length - 1):
        raise LogUpError(f"fraction-sum leaves: length {length} is not a power of two")
    num_vars = poly.num_vars(length)
    levels, root_n, root_d = _split_levels(numerators, denominators)
    del numerators, denominators
    root_n, root_d = _as_ext_scalar(root_n), _as_ext_scalar(root_d)
    root = np.stack([root_n, root_d], axis=1)
    transcript.absorb_int(f"{label}/num_vars", num_vars)
    transcript.absorb_ext(f"{label}/root", root)
    claim_n, claim_d = root_n, root_d
    point = F.ext_zeros(0)
    layers, children = [], []
    for depth in range(num_vars):
        lam = transcript.challenge_ext(f"{label}/L{depth}/lambda")
        claim = F.ext_add(claim_n, F.ext_mul(lam, claim_d))
        layer, sub_point, finals = sumcheck.prove_eq_weighted(
            list(levels.pop()),
            _children_terms(lam),
            _GKR_DEGREE,
            point,
            claim,
            transcript,
            f"{label}/L{depth}",
        )
        values = np.stack(finals, axis=1)  # (4, 4): n_e, n_o, d_e, d_o at sub_point
        transcript.absorb_ext(f"{label}/L{depth}/children", values)
        mu = transcript.challenge_ext(f"{label}/L{depth}/mu")
        claim_n = _line(values[:, 0], values[:, 1], mu)
        claim_d = _line(values[:, 2], values[:, 3], mu)
        point = poly.concat_points(sub_point, mu)
        layers.append(layer)
        children.append(values)
    return FractionSumProof(root, layers, children), root_n, root_d, point, claim_n, claim_d


def _check_ext_array(value: object, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A proof field must be a canonical uint64 K array of the given shape, else the proof is rejected."""
    if not isinstance(value, np.ndarray) or value.dtype != np.uint64 or value.shape != shape:
        raise LogUpError(f"{what}: expected a uint64 array of shape {shape}")
    if np.any(value >= _P64):
        raise LogUpError(f"{what}: element not below p")
    return value


def verify_fraction_sum(
    num_vars: int, proof: FractionSumProof, transcript: Transcript, label: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check a fraction-sum proof over 2^num_vars leaves; returns (N, D, leaf point, claimed n~, claimed d~).

    The claimed leaf values are only as good as the caller's own check of them against trusted MLEs.
    """
    if (
        not isinstance(proof, FractionSumProof)
        or not isinstance(proof.layers, list)
        or not isinstance(proof.children, list)
    ):
        raise LogUpError(f"{label}: not a fraction-sum proof")
    root = _check_ext_array(proof.root, (F.EXT_DEGREE, 2), f"{label}: root")
    if len(proof.layers) != num_vars or len(proof.children) != num_vars:
        raise LogUpError(f"{label}: expected {num_vars} GKR layers, got {len(proof.layers)}")
    transcript.absorb_int(f"{label}/num_vars", num_vars)
    transcript.absorb_ext(f"{label}/root", root)
    claim_n, claim_d = root[:, 0], root[:, 1]
    point = F.ext_zeros(0)
    for depth in range(num_vars):
        layer = proof.layers[depth]
        if not isinstance(layer, SumcheckProof) or not isinstance(layer.rounds, list):
            raise LogUpError(f"{label}: layer {depth} is not a sumcheck proof")
        for i, msg in enumerate(layer.rounds):
            _check_ext_array(msg, (F.EXT_DEGREE, _GKR_DEGREE + 1), f"{label}: layer {depth} round {i}")
        where = f"{label}/L{depth}"
        values = _check_ext_array(proof.children[depth], (F.EXT_DEGREE, 4), f"{where}: children")
        lam = transcript.challenge_ext(f"{where}/lambda")
        claim = F.ext_add(claim_n, F.ext_mul(lam, claim_d))
        try:
            sub_point, final = sumcheck.verify(claim, depth, _GKR_DEGREE, layer, transcript, where)
        except SumcheckError as err:
            raise LogUpError(str(err)) from None
        finals = [poly.eq_eval(point, sub_point)] + [values[:, i] for i in range(4)]
        if not F.ext_eq(sumcheck.combine_terms(_layer_terms(lam), finals), final):
            raise LogUpError(f"{where}: children values do not match the sumcheck's final claim")
        transcript.absorb_ext(f"{where}/children", values)
        mu = transcript.challenge_ext(f"{where}/mu")
        claim_n = _line(values[:, 0], values[:, 1], mu)
        claim_d = _line(values[:, 2], values[:, 3], mu)
        point = poly.concat_points(sub_point, mu)
    return root[:, 0].copy(), root[:, 1].copy(), point, claim_n, claim_d


# --------------------------------------------------------------------------------- lookup argument
def _as_columns(columns: Sequence[np.ndarray], what: str) -> list[np.ndarray]:
    """Validate columns of canonical base elements of one common length; returns them as uint64."""
    if len(columns) == 0:
        raise LogUpError(f"{what}: at least one column is needed")
    out = []
    for k, col in enumerate(columns):
        arr = np.asarray(col)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise LogUpError(f"{what} column {k}: expected a 1-D integer array of field elements")
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= F.P):
            raise LogUpError(f"{what} column {k}: entries outside [0, p); encode signed values first")
        out.append(arr.astype(np.uint64))
    if len({c.shape[0] for c in out}) != 1:
        raise LogUpError(f"{what}: columns have different lengths")
    if out[0].shape[0] == 0:
        raise LogUpError(f"{what}: columns are empty")
    return out


def _as_mask(mask: np.ndarray, length: int) -> np.ndarray:
    """Validate a 0/1 mask of the witness length; returns it as uint64."""
    arr = np.asarray(mask)
    if arr.shape != (length,) or arr.dtype.kind not in "iub":
        raise LogUpError(f"mask: expected a 1-D 0/1 array of length {length}")
    arr = arr.astype(np.uint64)
    if np.any(arr > 1):
        raise LogUpError("mask: entries must be 0 or 1")
    return arr


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
    zeros = np.zeros(extra, dtype=np.uint64)
    return [np.concatenate([c, zeros]) for c in witness_cols], np.concatenate([mask, zeros])


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
    table_key, witness_key, found = _row_keys(witness, table)
    missing = np.flatnonzero(used & ~found)
    if missing.size:
        row = int(missing[0])
        tuple_text = ", ".join(str(int(c[row])) for c in witness)
        raise LogUpError(f"witness row {row} ({tuple_text}) is not in the table ({missing.size} such rows)")
    _, first_row = np.unique(table_key, return_index=True)  # table keys are dense ranks 0..K-1
    counts = np.bincount(witness_key[used], minlength=first_row.shape[0])
    mult = np.zeros(table[0].shape[0], dtype=np.uint64)
    mult[first_row] = counts.astype(np.uint64)
    return mult


def _combine(columns: Sequence[np.ndarray], beta: np.ndarray) -> np.ndarray:
    """sum_k beta^k * columns[k] as a K array (4, n); each term is a base column times a K scalar."""
    acc = F.ext_from_base(columns[0])
    power = F.ext_ones()
    for col in columns[1:]:
        power = F.ext_mul(power, beta)
        acc = F.ext_add(acc, F.ext_scale(power.reshape(F.EXT_DEGREE, 1), col))
    return acc


def _combine_values(values: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """sum_k beta^k * values[:, k] for K scalars stacked as (4, c)."""
    acc = values[:, -1]
    for k in range(values.shape[1] - 2, -1, -1):
        acc = F.ext_add(F.ext_mul(acc, beta), values[:, k])
    return acc


def _draw_lookup_challenges(
    transcript: Transcript, label: str, num_vars_witness: int, num_vars_table: int, num_cols: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bind the lookup's shape, then draw (beta, alpha)."""
    transcript.absorb_int(f"{label}/witness_vars", num_vars_witness)
    transcript.absorb_int(f"{label}/table_vars", num_vars_table)
    transcript.absorb_int(f"{label}/columns", num_cols)
    return transcript.challenge_ext(f"{label}/beta"), transcript.challenge_ext(f"{label}/alpha")


def prove_lookup(
    witness_cols: Sequence[np.ndarray],
    mask: np.ndarray,
    table_cols: Sequence[np.ndarray],
    mult: np.ndarray,
    transcript: Transcript,
    label: str,
) -> tuple[LookupProof, LookupClaims]:
    """Prove that every masked witness tuple lies in the table, given the already-committed multiplicities.

    Witness columns and mask are zero-padded, the table padded by ``pad_table``; the returned claims are
    the openings the caller must prove (witness columns at the witness point, m at the table point).
    """
    witness = _as_columns(witness_cols, "witness")
    table = pad_table(table_cols)
    if len(witness) != len(table):
        raise LogUpError(f"witness has {len(witness)} columns, table has {len(table)}")
    witness, padded_mask = _pad_witness(witness, _as_mask(mask, witness[0].shape[0]))
    mult = np.asarray(mult)
    if mult.shape != table[0].shape or mult.dtype.kind not in "iu":
        raise LogUpError(f"multiplicities: expected {table[0].shape[0]} integer counts (the padded table)")
    mult = F.asbase(mult)
    num_vars_witness = poly.num_vars(padded_mask.shape[0])
    num_vars_table = poly.num_vars(table[0].shape[0])
    beta, alpha = _draw_lookup_challenges(transcript, label, num_vars_witness, num_vars_table, len(witness))
    alpha_col = alpha.reshape(F.EXT_DEGREE, 1)

    witness_proof, _, _, witness_point, _, _ = prove_fraction_sum(
        padded_mask, F.ext_sub(alpha_col, _combine(witness, beta)), transcript, f"{label}/witness"
    )
    table_proof, _, _, table_point, _, _ = prove_fraction_sum(
        F.neg(mult), F.ext_sub(alpha_col, _combine(table, beta)), transcript, f"{label}/table"
    )
    witness_eq = poly.eq_table(witness_point)
    witness_values = np.stack([F.ext_inner(c, witness_eq) for c in witness], axis=1)
    del witness_eq
    multiplicity_value = poly.evaluate(mult, table_point)
    transcript.absorb_ext(f"{label}/witness_values", witness_values)
    transcript.absorb_ext(f"{label}/multiplicity_value", multiplicity_value)
    proof = LookupProof(witness_proof, table_proof, witness_values, multiplicity_value)
    return proof, LookupClaims(witness_point, witness_values, table_point, multiplicity_value)


def verify_lookup(
    num_vars_witness: int,
    num_vars_table: int,
    proof: LookupProof,
    transcript: Transcript,
    label: str,
    mask_mle: Callable[[np.ndarray], np.ndarray],
    table_mles: Callable[[np.ndarray], list[np.ndarray]],
) -> LookupClaims:
    """Verify a lookup against the public mask and table (MLEs the verifier evaluates itself).

    ``mask_mle`` evaluates the zero-padded mask, ``table_mles`` the ``pad_table`` columns.  Raises
    ``LogUpError`` on any inconsistency; returns the openings the caller must still verify.
    """
    if (
        not isinstance(proof.witness_values, np.ndarray)
        or proof.witness_values.ndim != 2
        or proof.witness_values.shape[1] == 0
    ):
        raise LogUpError(f"{label}: witness values must be a (4, columns) array with columns >= 1")
    num_cols = proof.witness_values.shape[1]
    witness_values = _check_ext_array(proof.witness_values, (F.EXT_DEGREE, num_cols), f"{label}: witnesses")
    multiplicity_value = _check_ext_array(
        proof.multiplicity_value, (F.EXT_DEGREE,), f"{label}: multiplicity value"
    )
    for tree, what in ((proof.witness_tree, "witness"), (proof.table_tree, "table")):
        if not isinstance(tree, FractionSumProof):
            raise LogUpError(f"{label}: the {what} tree is not a fraction-sum proof")
        _check_ext_array(tree.root, (F.EXT_DEGREE, 2), f"{label}: {what} root")
    witness_root, table_root = proof.witness_tree.root, proof.table_tree.root
    if not np.any(witness_root[:, 1] != 0) or not np.any(table_root[:, 1] != 0):
        raise LogUpError(f"{label}: a root denominator is zero")
    cross = F.ext_add(
        F.ext_mul(witness_root[:, 0], table_root[:, 1]), F.ext_mul(table_root[:, 0], witness_root[:, 1])
    )
    if np.any(cross != 0):
        raise LogUpError(f"{label}: witness and table fraction sums do not cancel (a tuple is missing)")

    beta, alpha = _draw_lookup_challenges(transcript, label, num_vars_witness, num_vars_table, num_cols)
    _, _, witness_point, leaf_n, leaf_d = verify_fraction_sum(
        num_vars_witness, proof.witness_tree, transcript, f"{label}/witness"
    )
    _, _, table_point, table_leaf_n, table_leaf_d = verify_fraction_sum(
        num_vars_table, proof.table_tree, transcript, f"{label}/table"
    )
    if not F.ext_eq(leaf_n, np.asarray(mask_mle(witness_point))):
        raise LogUpError(f"{label}: witness leaf numerator does not match the mask")
    if not F.ext_eq(leaf_d, F.ext_sub(alpha, _combine_values(witness_values, beta))):
        raise LogUpError(f"{label}: witness leaf denominator does not match the claimed column values")
    table_values = [np.asarray(v, dtype=np.uint64).reshape(F.EXT_DEGREE) for v in table_mles(table_point)]
    if len(table_values) != num_cols:
        raise LogUpError(f"{label}: proof has {num_cols} witness columns, the table has {len(table_values)}")
    if not F.ext_eq(table_leaf_n, F.ext_neg(multiplicity_value)):
        raise LogUpError(f"{label}: table leaf numerator does not match the claimed multiplicity")
    if not F.ext_eq(table_leaf_d, F.ext_sub(alpha, _combine_values(np.stack(table_values, axis=1), beta))):
        raise LogUpError(f"{label}: table leaf denominator does not match the table")
    transcript.absorb_ext(f"{label}/witness_values", witness_values)
    transcript.absorb_ext(f"{label}/multiplicity_value", multiplicity_value)
    return LookupClaims(witness_point, witness_values, table_point, multiplicity_value)


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


def activation_table(bits: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns (v, clamp(v, lo, hi)) for v = -2^(bits-1) ... 2^(bits-1) - 1 in order, encoded mod p."""
    if bits < 1 or lo > hi:
        raise LogUpError(f"activation table needs bits >= 1 and lo <= hi (got bits={bits}, [{lo}, {hi}])")
    values = np.arange(-(1 << (bits - 1)), 1 << (bits - 1), dtype=np.int64)
    return F.encode_signed(values), F.encode_signed(np.clip(values, lo, hi))


def activation_mles(bits: int, lo: int, hi: int) -> Callable[[np.ndarray], list[np.ndarray]]:
    """A verifier-side evaluator of both ``activation_table`` column MLEs at a point of ``bits`` coordinates.

    The input column is linear (range MLE minus 2^(bits-1)); the clamp column is evaluated from the
    materialised table, O(2^bits).
    """
    _, clamped = activation_table(bits, lo, hi)
    offset = F.ext_const(-(1 << (bits - 1)))

    def evaluate(point: np.ndarray) -> list[np.ndarray]:
        return [F.ext_add(range_mle(point), offset), poly.evaluate(clamped, point)]

    return evaluate


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
