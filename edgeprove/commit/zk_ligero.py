"""Hiding Ligero commitment with a zero-knowledge opening (design.md sections 10.2 and 10.3).

A vector f of ``length`` base elements, zero-padded to 2^n, is laid out row-major as an R x C matrix M, as
in ``ligero``, so f~(z) = eq(z_row)^T M eq(z_col).  Only its first R' = ceil(length / C) rows are in the
tableau: the length is public (the model's), so the rows after it are zero by construction, and hiding
them would only cost time and proof bytes.  The tableau adds column hiding and blinding rows:
  - row r < R' is the polynomial P_r(X) = sum_{i<C} M[r,i] X^i + X^C m_r(X), m_r uniform of degree < t
    (t = the query count), so the t opened entries of every row are uniform whatever the data;
  - four base rows B_ldt (one K polynomial, uniform of degree < D, D = 2C + t - 1) and four base rows
    B_dot (uniform of degree < D with coefficient C - 1 zero);
  - every row is encoded on L = 2^rate_log * max(C, next_pow2(t)) points (so D <= 3L/8 at rate_log 3), and
    leaf c is H(0x00 || salt_c || column_c) with 16 random bytes salt_c.
Randomness comes from the operating system (``secrets``), expanded with SHAKE-256 and reduced to F by
rejection sampling; it never enters the transcript.
Open at points z_1..z_k (the linear test): bind the values v_j, draw alpha and u in K^(R'+4); the claims
combine into A = sum_j alpha^j eq(z_j) (j from 1), b = sum_j alpha^j v_j.  Send
    ldt = B_ldt + sum_{r<R'} u_r P_r + sum_i u_{R'+i} B_dot_i      (degree < D),
    dot = B_dot + sum_j alpha^j E_j(X) U_j(X),  U_j = sum_{r<R'} eq(z_j,row)_r P_r,
E_j(X) = sum_i eq(z_j,col)_i X^(C-1-i) = prod_k (z_k + (1 - z_k) X^(2^(c-1-k))), so coefficient C - 1 of
dot is <A, M> (the masks reach only degrees >= C).  Then t column indices; send the queried columns, their
salts and one Merkle multi-path.  The verifier checks dot[C-1] = b and, on every queried column, ldt and dot
against the column's entries (A's row weights at a query point cost O(k (R' + log C))).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from edgeprove import field as F
from edgeprove import poly
from edgeprove.commit import ligero, merkle
from edgeprove.commit.ntt import (
    encode_rows_into,
    encode_scratch_elements,
    intt,
    ntt,
    root_of_unity,
    rs_encode_at,
)
from edgeprove.commit.scheme import CommitmentError
from edgeprove.commit.spill import spill
from edgeprove.randomness import OsRandomness
from edgeprove.transcript import Transcript
from edgeprove.zk import LinearConstraint

_P = np.uint64(F.P)
_ELEMENT_BYTES = 4
_HASH_ELEMENTS = merkle.DIGEST_SIZE // _ELEMENT_BYTES
SALT_BYTES = 16
"""Random bytes in front of every leaf, so an unopened leaf says nothing about its column."""
BLINDING_ROWS = 2 * F.EXT_DEGREE
"""Base rows after the data rows: B_ldt's four components, then B_dot's four."""
_SENT_ROWS = 2
"""K polynomials of D coefficients an opening sends: ldt and dot."""
RATE_LOGS = (3, 4)
"""Rates a proof may use: L = 2^rate_log * max(C, next_pow2(t)), so dot's degree D stays below 3L/8 (3/16)."""
MAX_QUERIES = 512
"""Most column queries (and column masks) a proof may name."""
MAX_COL_BITS = 18
"""Widest tableau, C = 2^18 (a 2^32 vector's best split): so L <= 2^22 and the field term of the
security bound stays above 101 bits."""
_COEFFICIENT_BLOCK_ELEMENTS = 1 << 19
"""Codeword entries encoded from one block of coefficient rows (``_leaf_digests``): the 206 data rows of a
2^18-entry vector take 1.6 MiB of coefficients laid out at once, 0.5 MiB in blocks of this size."""
HEADER_KEYS = ("group_vars", "rate_log", "security_bits")
DEFAULT_GROUP_VARS = 18
"""Default ``ZkLigeroParams.group_vars``: the smallest groups that bring wc50's zero-knowledge proof within
1.2x the bytes of its proof in the clear (1.10x; 2^19 sends 0.80x for 8.8 MiB more peak,
``scripts/bench_zk_groups.py``), design.md section 10.2.1."""


class ZkLigeroError(CommitmentError):
    """Raised by the verifier when a hiding opening is malformed or does not check out."""


@dataclass(frozen=True)
class ZkLigeroParams:
    """Rate, security target and (optionally) a fixed query count t, which is also the number of column masks;
    without one, every tableau takes the fewest queries that reach the target at its own width.

    Soundness.  The low-degree test covers every row (data and blinding) at degree < D = 2C + t - 1, so with
    delta = 1 - D/L a prover survives a column query with probability at most 1 - delta/2 = (1 + D/L)/2
    (unique decoding, as ``ligero.LigeroParams``).  The linear test compares dot (degree < D) with the
    decoded rows' combination: a wrong dot agrees with it on fewer than D points, and up to delta/2 of the
    columns may be corrupted, so a query passes it with probability at most delta/2 + D/L = (1 + D/L)/2
    too.  Both tests share the queries: security bits = min(t * -log2((1 + D/L)/2), log2|K| - log2 L) for a
    tableau of width C.  Batching the claims with alpha^1..alpha^k adds k/|K| (B_dot is committed before
    alpha, so its coefficient C - 1 is a constant the batched claim cannot cancel).

    ``group_vars``: in a proof, consecutive layers share one hiding commitment while their vectors fit in
    2^group_vars entries (``protocol.hidden_groups``): larger groups send fewer bytes (an opening grows as
    the square root of its vector) and keep more alive at once.
    """

    rate_log: int = 3
    security_bits_target: int = 100
    queries: int | None = None
    group_vars: int = DEFAULT_GROUP_VARS

    def __post_init__(self) -> None:
        """Refuse parameters outside the range the analysis supports."""
        if self.rate_log not in RATE_LOGS:
            raise ValueError(f"rate_log must be one of {RATE_LOGS}, got {self.rate_log}")
        if not 1 <= self.security_bits_target <= 256:
            raise ValueError(f"security_bits_target must be in [1, 256], got {self.security_bits_target}")
        if self.queries is not None and not 1 <= self.queries <= MAX_QUERIES:
            raise ValueError(f"queries must be in [1, {MAX_QUERIES}], got {self.queries}")
        if not 0 <= self.group_vars <= ligero.MAX_NUM_VARS:
            raise ValueError(f"group_vars must be in [0, {ligero.MAX_NUM_VARS}], got {self.group_vars}")

    def num_queries(self, length: int) -> int:
        """t for a vector of ``length`` elements: the fixed count if given, else the fewest queries whose
        query term reaches the target at the width the layout then gives (``_queries_at``)."""
        if self.queries is not None:
            return self.queries
        return _queries_at(self.rate_log, self.security_bits_target, length)

    def layout(self, length: int) -> Tableau:
        """The tableau of a vector of ``length`` elements (``_layout`` with its query count)."""
        t = self.num_queries(length)
        return Tableau(*_layout(self.rate_log, t, length), t)

    def security_bits(self, length: int | None = None) -> float:
        """min(query term, field term) for a vector of ``length`` elements; if None, the least over every
        length: with a fixed t the worst over every width, else the target (every tableau reaches it) or the
        field term at the widest tableau, whichever is less."""
        if length is not None:
            return _security_bits(self.rate_log, self.num_queries(length), length)
        if self.queries is not None:
            return _security_bits(self.rate_log, self.queries, None)
        widest = self.rate_log + max(MAX_COL_BITS, (MAX_QUERIES - 1).bit_length())
        return min(float(self.security_bits_target), ligero.EXT_FIELD_BITS - widest)


class Tableau(NamedTuple):
    """The shape of a vector's tableau: 2^num_vars padded entries as 2^row_bits x C, its first ``num_rows``
    rows committed, opened with ``queries`` column queries (and as many masks per row)."""

    num_vars: int
    row_bits: int
    num_rows: int
    queries: int


def _shape(rate_log: int, t: int, num_vars: int, row_bits: int) -> tuple[int, int, int]:
    """(C, D, log2 L) of a tableau: C columns of data, dot's length D, the codeword length L."""
    col_bits = num_vars - row_bits
    width = 1 << col_bits
    domain_bits = rate_log + max(col_bits, (t - 1).bit_length())
    return width, 2 * width + t - 1, domain_bits


@functools.lru_cache(maxsize=4096)
def _layout(rate_log: int, t: int, length: int) -> tuple[int, int, int]:
    """(num_vars, row_bits, num_rows) of a vector of ``length`` elements: the width C <= 2^MAX_COL_BITS
    minimising t columns of R' + 8 entries, a salt and their multi-path share, plus the two K rows of D
    entries (all widths at once, the widest of equals)."""
    if not 1 <= length <= 1 << ligero.MAX_NUM_VARS:
        raise ValueError(f"a committed vector has 1 to 2^{ligero.MAX_NUM_VARS} elements, got {length}")
    num_vars = (length - 1).bit_length()
    col_bits = np.arange(min(num_vars, MAX_COL_BITS), -1, -1, dtype=np.int64)
    num_rows = -(-length // np.left_shift(1, col_bits))
    domain_bits = rate_log + np.maximum(col_bits, (t - 1).bit_length())
    opened = np.minimum(t, np.left_shift(1, domain_bits))
    path = _HASH_ELEMENTS * np.maximum(0, domain_bits - np.floor(np.log2(opened)).astype(np.int64))
    per_column = num_rows + BLINDING_ROWS + SALT_BYTES // _ELEMENT_BYTES + path
    rows = _SENT_ROWS * F.EXT_DEGREE * (2 * np.left_shift(1, col_bits) + t - 1)
    best = int(col_bits[np.argmin(opened * per_column + rows)])
    return num_vars, num_vars - best, -(-length // (1 << best))


@functools.lru_cache(maxsize=1024)
def _security_bits(rate_log: int, t: int, length: int | None) -> float:
    """The least of the query term (both tests, ``ZkLigeroParams``) and the field term, for the tableau of a
    vector of ``length`` elements or the worst over every width."""
    if length is None:
        col_bits = np.arange(MAX_COL_BITS + 1)
    else:
        num_vars, row_bits, _ = _layout(rate_log, t, length)
        col_bits = np.array([num_vars - row_bits])
    domain_bits = rate_log + np.maximum(col_bits, (t - 1).bit_length())
    return min(_query_bits(rate_log, t, col_bits), ligero.EXT_FIELD_BITS - int(domain_bits.max()))


def _query_bits(rate_log: int, t: int, col_bits: np.ndarray) -> float:
    """t * -log2((1 + D/L)/2), the least over the widths 2^col_bits."""
    domain_bits = rate_log + np.maximum(col_bits, (t - 1).bit_length())
    passing = (1 + (2.0**col_bits * 2 + t - 1) / 2.0**domain_bits) / 2
    return t * -math.log2(float(passing.max()))


@functools.lru_cache(maxsize=4096)
def _queries_at(rate_log: int, target: int, length: int) -> int:
    """The fewest t whose query term reaches the target for a vector of ``length`` elements, at the width
    the layout gives for that t.  A query buys less than one bit, so t >= target; the scan goes up from
    there (bits per query are not monotone in t: L doubles as t passes a power of two, and the width may
    change with t)."""
    for t in range(target, MAX_QUERIES + 1):
        num_vars, row_bits, _ = _layout(rate_log, t, length)
        if _query_bits(rate_log, t, np.array([num_vars - row_bits])) >= target:
            return t
    raise ValueError(f"no query count up to {MAX_QUERIES} reaches {target} bits at rate 2^-{rate_log}")


@dataclass(frozen=True)
class Commitment:
    """The public commitment: the Merkle root over the salted encoded columns and the tableau's shape
    (``Tableau``): its first ``num_rows`` rows (R') are the data rows, ``queries`` its t."""

    root: bytes
    num_vars: int
    row_bits: int
    num_rows: int
    queries: int

    @property
    def col_bits(self) -> int:
        """log2 of the number of data columns C."""
        return self.num_vars - self.row_bits


@dataclass
class CommitState:
    """What opening needs: the data rows (R', C), their masks (R', t), the blinding rows (8, D), the salts
    (L, 16) and the Merkle tree."""

    commitment: Commitment
    params: ZkLigeroParams
    rows: np.ndarray
    masks: np.ndarray
    blinding: np.ndarray
    salts: np.ndarray
    tree: merkle.MerkleTree

    def nbytes(self) -> int:
        """Bytes the state holds."""
        held = (self.rows, self.masks, self.blinding, self.salts)
        return sum(a.nbytes for a in held) + self.tree.nbytes()


@dataclass
class ZkOpeningProof:
    """The low-degree row ldt (4, D), the linear-test row dot (4, D), the queried columns (q, R' + 8), their
    salts (16 bytes each, in query order) and one Merkle multi-path."""

    ldt: np.ndarray
    dot: np.ndarray
    columns: np.ndarray
    salts: bytes
    paths: bytes

    def nbytes(self) -> int:
        """Size on the wire: 4 bytes per field element, the salts and 32 per hash."""
        elements = self.ldt.size + self.dot.size + self.columns.size
        return _ELEMENT_BYTES * elements + len(self.salts) + len(self.paths)


@dataclass(frozen=True)
class Challenges:
    """The verifier's coins of one opening: alpha (4,), u (4, R' + 4) and the distinct sorted queries."""

    alpha: np.ndarray
    u: np.ndarray
    indices: np.ndarray


# ------------------------------------------------------------------------------------------- prover
def commit(values: np.ndarray, params: ZkLigeroParams) -> tuple[Commitment, CommitState]:
    """Commit to a vector of base elements with fresh masks, blinding rows and salts.  Every row up to the
    vector's length is masked, zero or not (what is zero is private); the rows after it are not in the
    tableau (``Commitment.num_rows``)."""
    arr = ligero.checked_vector(values)
    rows = blank_rows(arr.size, params)
    rows.reshape(-1)[: arr.size] = arr
    return commit_rows(rows, arr.size, params)


def blank_rows(length: int, params: ZkLigeroParams) -> np.ndarray:
    """The zeroed data rows (R', C) uint32 of a vector of ``length`` entries, to be filled in place (its
    entries are the first ``length`` of the flattened rows) and committed by ``commit_rows``: a vector
    assembled there is not copied again."""
    num_vars, row_bits, num_rows, _ = params.layout(length)
    return np.zeros((num_rows, 1 << (num_vars - row_bits)), dtype=np.uint32)


def commit_rows(rows: np.ndarray, length: int, params: ZkLigeroParams) -> tuple[Commitment, CommitState]:
    """``commit`` of the vector of ``length`` entries laid out in ``rows`` (``blank_rows``' shape, the
    entries after the vector zero), which the state keeps as they are; ValueError for rows of another
    shape or type, or holding entries that are not canonical or lie past the vector."""
    num_vars, row_bits, num_rows, t = params.layout(length)
    width = 1 << (num_vars - row_bits)
    if not isinstance(rows, np.ndarray) or rows.dtype != np.uint32 or rows.shape != (num_rows, width):
        raise ValueError(
            f"a vector of {length} entries is committed from uint32 rows of shape ({num_rows}, {width})"
        )
    if int(rows.max()) >= F.P or rows.reshape(-1)[length:].any():
        raise ValueError("the rows hold entries that are not canonical or lie past the vector's length")
    _, dot_length, domain_bits = _shape(params.rate_log, t, num_vars, row_bits)
    rng = OsRandomness()
    masks = rng.field(num_rows * t).astype(np.uint32).reshape(num_rows, t)
    blinding = rng.field(BLINDING_ROWS * dot_length).astype(np.uint32).reshape(BLINDING_ROWS, dot_length)
    blinding[F.EXT_DEGREE :, width - 1] = 0  # B_dot's coefficient C - 1
    salts = np.frombuffer(rng.bytes(SALT_BYTES << domain_bits), dtype=np.uint8).reshape(-1, SALT_BYTES)
    digests = _leaf_digests(rows, masks, blinding, salts, domain_bits)
    tree = merkle.MerkleTree(
        np.frombuffer(digests, dtype=np.uint8).reshape(-1, merkle.DIGEST_SIZE), len(salts)
    )
    commitment = Commitment(tree.root, num_vars, row_bits, num_rows, t)
    return commitment, CommitState(commitment, params, rows, masks, blinding, salts, tree)


def _coefficient_rows(
    rows: np.ndarray, masks: np.ndarray, blinding: np.ndarray, start: int, stop: int, width: int
) -> np.ndarray:
    """Rows start..stop of the tableau (data rows with their masks, then the blinding rows) as coefficient
    vectors zero-padded to ``width`` (at least C + t for data rows, D for blinding rows), uint32."""
    num_rows, columns = rows.shape
    out = np.zeros((stop - start, width), dtype=np.uint32)
    data = range(start, min(stop, num_rows))
    if len(data):
        out[: len(data), :columns] = rows[data.start : data.stop]
        out[: len(data), columns : columns + masks.shape[1]] = masks[data.start : data.stop]
    if stop > num_rows:
        out[len(data) :, : blinding.shape[1]] = blinding[max(0, start - num_rows) : stop - num_rows]
    return out


def _coefficient_block_rows(codeword: int) -> int:
    """Rows whose coefficients are laid out at a time when encoding: ``_COEFFICIENT_BLOCK_ELEMENTS`` codeword
    entries' worth, enough for the encoding's threads, never the whole tableau."""
    return max(1, _COEFFICIENT_BLOCK_ELEMENTS // codeword)


def _encoding(length: int, domain_bits: int) -> tuple[int, int]:
    """(message width, rate_log) that encodes D coefficients on the 2^domain_bits points."""
    width = poly.next_pow2(length)
    return width, domain_bits - (width.bit_length() - 1)


def _leaf_digests(rows, masks, blinding, salts, domain_bits: int) -> bytes:
    """The salted leaf digests H(0x00 || salt_c || column_c) of the encoded tableau: each leaf hashed whole
    when the tableau's codewords fit one block, else a block of rows at a time into one incremental hash
    per column."""
    num_rows = rows.shape[0]
    total = num_rows + BLINDING_ROWS
    codeword = 1 << domain_bits
    block_rows = max(1, min(total, ligero.HASH_BLOCK_BYTES // (_ELEMENT_BYTES * codeword)))
    buffer = np.empty(codeword * block_rows, dtype=np.uint32)

    def encoded(start: int, stop: int) -> np.ndarray:
        """Rows start..stop encoded into the buffer (L, stop - start); the data rows from their C + t
        coefficients, the blinding rows from their D."""
        block = buffer[: codeword * (stop - start)].reshape(codeword, stop - start)
        split = min(max(num_rows, start), stop)
        step = _coefficient_block_rows(codeword)
        for first, last, used in (
            (start, split, rows.shape[1] + masks.shape[1]),
            (split, stop, blinding.shape[1]),
        ):
            width, rate = _encoding(used, domain_bits)
            for low in range(first, last, step):
                high = min(last, low + step)
                coefficients = _coefficient_rows(rows, masks, blinding, low, high, width)
                encode_rows_into(coefficients, rate, block[:, low - start : high - start])
        return block

    if total <= block_rows:
        block = encoded(0, total)
        return b"".join(_salted_digest(salt, column) for salt, column in zip(salts, block))
    hashers = [merkle.leaf_hasher() for _ in range(codeword)]
    update = type(hashers[0]).update
    deque(map(update, hashers, salts), maxlen=0)
    for start in range(0, total, block_rows):
        deque(map(update, hashers, encoded(start, min(total, start + block_rows))), maxlen=0)
    return b"".join(h.digest() for h in hashers)


def _salted_digest(salt: np.ndarray, column: np.ndarray) -> bytes:
    hasher = merkle.leaf_hasher()
    hasher.update(salt)
    hasher.update(column)
    return hasher.digest()


def open(
    state: CommitState, points: list[np.ndarray], transcript: Transcript, label: str
) -> tuple[list[np.ndarray], ZkOpeningProof]:
    """Open the committed vector's MLE at every point with the linear test; returns the values and proof."""
    commitment, params = state.commitment, state.params
    points = [ligero._prover_point(z, commitment.num_vars) for z in points]
    if not points:
        raise ValueError("open needs at least one point")
    _absorb_statement(transcript, label, commitment, params, points)
    values = mle_values(state, points)
    transcript.absorb_ext(f"{label}/values", np.stack(values, axis=1))
    alpha, u = _draw_combinations(transcript, label, commitment)
    return values, _respond(state, claims_functional(points, values, alpha), u, transcript, label)


def open_constraints(
    state: CommitState,
    points: list[np.ndarray],
    constraints: list[LinearConstraint],
    pad_offset: int,
    transcript: Transcript,
    label: str,
) -> ZkOpeningProof:
    """Prove linear constraints on the committed vector (``zk.LinearConstraint``: its MLE at ``points``
    and the K elements held four entries each from ``pad_offset``), revealing nothing else."""
    commitment, params = state.commitment, state.params
    points = [ligero._prover_point(z, commitment.num_vars) for z in points]
    _absorb_constraints(transcript, label, commitment, params, points, constraints)
    alpha, u = _draw_combinations(transcript, label, commitment)
    width = 1 << commitment.col_bits
    functional = constraints_functional(points, constraints, pad_offset, width, alpha)
    return _respond(state, functional, u, transcript, label)


def _respond(
    state: CommitState, functional: Functional, u: np.ndarray, transcript: Transcript, label: str
) -> ZkOpeningProof:
    """The two rows for the batched functional, then the queried columns."""
    ldt, dot = prove_rows(state, functional, u)
    transcript.absorb_ext(f"{label}/ldt", ldt)
    transcript.absorb_ext(f"{label}/dot", dot)
    indices = query_indices(transcript, label, state.params, state.commitment)
    columns, salts, paths = open_columns(state, indices)
    return ZkOpeningProof(ldt, dot, columns, salts, paths)


def _absorb_statement(
    transcript: Transcript,
    label: str,
    commitment: Commitment,
    params: ZkLigeroParams,
    points: list[np.ndarray],
) -> None:
    """Bind the commitment and its shape, the rate and the points before any prover message."""
    fields = (
        ("num-vars", commitment.num_vars),
        ("row-bits", commitment.row_bits),
        ("num-rows", commitment.num_rows),
        ("queries", commitment.queries),
        ("rate-log", params.rate_log),
    )
    ligero.absorb_root_and_points(transcript, label, commitment.root, fields, points)


def _absorb_constraints(
    transcript: Transcript,
    label: str,
    commitment: Commitment,
    params: ZkLigeroParams,
    points: list[np.ndarray],
    constraints: list[LinearConstraint],
) -> None:
    """Bind the commitment, the points and the constraints' right sides before the batching challenges."""
    _absorb_statement(transcript, label, commitment, params, points)
    transcript.absorb_int(f"{label}/constraints", len(constraints))
    if constraints:
        values = np.array([c.value for c in constraints], dtype=np.uint64).T
        transcript.absorb_ext(f"{label}/constraint-values", values)


@dataclass(frozen=True)
class Functional:
    """One K linear functional on the committed vector and the value it must take: the claims or
    constraints of an opening batched by alpha.  sum_e weights_e eq(points_e) on the whole vector, plus
    ``dense`` (4, m, C) on the matrix rows ``dense_rows``."""

    points: list[np.ndarray]
    weights: np.ndarray
    dense_rows: np.ndarray
    dense: np.ndarray
    target: np.ndarray


def claims_functional(points: list[np.ndarray], values: list[np.ndarray], alpha: np.ndarray) -> Functional:
    """Claims f~(z_j) = v_j batched with alpha^1 .. alpha^k."""
    powers = _powers(alpha, len(points))
    target = F.ext_sum(F.ext_mul(powers, np.stack(values, axis=1)))
    return Functional(points, powers, np.zeros(0, dtype=np.int64), F.ext_zeros((0, 0)), target)


def constraints_functional(
    points: list[np.ndarray],
    constraints: list[LinearConstraint],
    pad_offset: int,
    width: int,
    alpha: np.ndarray,
) -> Functional:
    """Constraints batched with alpha^1 .. alpha^m: each point's weight, and the pad terms as a dense
    functional on the rows holding the pads (pad i is entries pad_offset + 4i + l, l its limbs, so a
    coefficient c on it is c X^l on entry l)."""
    powers = _powers(alpha, len(constraints)) if constraints else F.ext_zeros((0,))
    values = np.array([c.value for c in constraints], dtype=np.uint64).reshape(-1, F.EXT_DEGREE).T
    target = F.ext_sum(F.ext_mul(powers, values)) if constraints else F.ext_zeros()
    weights = _batched_terms([c.claims for c in constraints], powers, len(points))
    named, pad_weights = _batched_pad_terms([c.pads for c in constraints], powers)
    nonzero = np.any(pad_weights != 0, axis=0)
    if not nonzero.any():
        return Functional(points, weights, np.zeros(0, dtype=np.int64), F.ext_zeros((0, width)), target)
    pads, coefficients = named[nonzero], pad_weights[:, nonzero]  # (s,), (4, s)
    entries = pad_offset + F.EXT_DEGREE * pads[:, None] + np.arange(F.EXT_DEGREE)[None, :]  # (s, 4)
    by_limb = np.stack([F.ext_mul_scalar(coefficients, _x_power(limb)) for limb in range(F.EXT_DEGREE)], 2)
    rows, cols = np.divmod(entries.reshape(-1), width)
    dense_rows = np.unique(rows)
    dense = F.ext_zeros((dense_rows.size, width))
    dense[:, np.searchsorted(dense_rows, rows), cols] = by_limb.reshape(F.EXT_DEGREE, -1)
    return Functional(points, weights, dense_rows, dense, target)


def _batched_terms(terms: list[dict], powers: np.ndarray, size: int) -> np.ndarray:
    """sum_j alpha^j terms_j[i] for every index i < size (4, size): the constraints' coefficients on their
    claims, batched."""
    index, weighted = _weighted_terms(terms, powers)
    out = np.zeros((F.EXT_DEGREE, size), dtype=np.uint64)
    for limb in range(F.EXT_DEGREE):  # sums of fewer than 2^33 values below 2^31 stay within 64 bits
        np.add.at(out[limb], index, weighted[limb])
    return out % _P


def _batched_pad_terms(terms: list[dict], powers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pads the constraints name (sorted) and sum_j alpha^j terms_j[i] for each (4, named): sized by
    the terms, never by the largest index (a pad far into a shared commitment's vector)."""
    index, weighted = _weighted_terms(terms, powers)
    named, slot = np.unique(index, return_inverse=True)
    out = np.zeros((F.EXT_DEGREE, named.size), dtype=np.uint64)
    for limb in range(F.EXT_DEGREE):
        np.add.at(out[limb], slot, weighted[limb])
    return named, out % _P


def _weighted_terms(terms: list[dict], powers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (index, alpha^j coefficient) of the constraints' terms of one kind: (m,) int64, (4, m)."""
    index = np.array([i for term in terms for i in term], dtype=np.int64)
    if not index.size:
        return index, F.ext_zeros(0)
    which = np.repeat(np.arange(len(terms)), [len(term) for term in terms])
    coefficients = np.array([c for term in terms for c in term.values()], dtype=np.uint64).T
    return index, F.ext_mul(coefficients, powers[:, which])


def _x_power(limb: int) -> np.ndarray:
    """X^limb in K."""
    out = F.ext_zeros()
    out[limb] = 1
    return out


def mle_values(state: CommitState, points: list[np.ndarray]) -> list[np.ndarray]:
    """f~(z) for every point: eq(z_row)^T M eq(z_col)."""
    row_bits = state.commitment.row_bits
    partial = ligero.column_partials(state.rows, points, row_bits, state.rows.shape[0])
    row_eqs = ligero.row_combinations(points, row_bits)[:, :, : state.rows.shape[0]]
    return [F.ext_inner(row_eqs[:, j], partial[:, j]) for j in range(len(points))]


def _draw_combinations(
    transcript: Transcript, label: str, commitment: Commitment
) -> tuple[np.ndarray, np.ndarray]:
    """alpha, which batches the claims, and u in K^(R'+4), the low-degree test's row weights."""
    alpha = transcript.challenge_ext(f"{label}/alpha")
    u = transcript.challenge_ext_vec(f"{label}/u", commitment.num_rows + F.EXT_DEGREE)
    return alpha, u


def prove_rows(state: CommitState, functional: Functional, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two K rows of the opening, ldt and dot (4, D each), for the batched functional and the low-degree
    test's row weights u."""
    rows, masks, blinding = state.rows, state.masks, state.blinding
    num_rows = rows.shape[0]
    row_bits = state.commitment.row_bits
    points = functional.points
    combined = _combined_rows(u[:, None, :num_rows], rows, masks)
    span = combined.shape[2]
    ldt = F.ext_add(
        blinding[: F.EXT_DEGREE].astype(np.uint64),
        _base_combination(u[:, num_rows:], blinding[F.EXT_DEGREE :]),
    )
    ldt[:, :span] = F.ext_add(ldt[:, :span], combined[:, 0])
    dot = blinding[F.EXT_DEGREE :].astype(np.uint64)
    columns, row_weights = _row_weights_by_column(points, functional.weights, row_bits, num_rows)
    for start in range(0, len(columns), ligero.POINT_BLOCK):  # a block's rows at a time: (4, block, C + t)
        combined = _combined_rows(row_weights[:, start : start + ligero.POINT_BLOCK], rows, masks)
        for j, z_col in enumerate(columns[start : start + ligero.POINT_BLOCK]):
            dot = F.ext_add(dot, times_reversed_eq(combined[:, j], z_col))
    if functional.dense_rows.size:
        polynomials = np.concatenate([rows[functional.dense_rows], masks[functional.dense_rows]], axis=1)
        dense_part = _dense_products(functional.dense, polynomials, dot.shape[1])
        dot = F.ext_add(dot, dense_part)
    return ldt, dot


def _row_weights_by_column(
    points: list[np.ndarray], weights: np.ndarray, row_bits: int, num_rows: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """The points' distinct column parts z_col, and for each the row weights sum_j w_j eq(z_j,row) over the
    points j that end in it (4, distinct, R'): points sharing their column coordinates (a layer's segments
    claimed at one point) share E(X), so their rows are combined before the product with it."""
    slots: dict[bytes, int] = {}
    columns: list[np.ndarray] = []
    slot_of = []  # each point's column part, by its index in ``columns``
    for z in points:
        slot_of.append(slots.setdefault(z[:, row_bits:].tobytes(), len(slots)))
        if slot_of[-1] == len(columns):
            columns.append(z[:, row_bits:])
    out = F.ext_zeros((len(columns), num_rows))
    for start in range(0, len(points), ligero.POINT_BLOCK):
        block = points[start : start + ligero.POINT_BLOCK]
        row_eqs = ligero.row_combinations(block, row_bits)[:, :, :num_rows]
        weighted = F.ext_mul(row_eqs, weights[:, start : start + len(block), None])
        for j, slot in enumerate(slot_of[start : start + len(block)]):
            out[:, slot] = F.ext_add(out[:, slot], weighted[:, j])
    return columns, out


def _combined_rows(weights: np.ndarray, rows: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """sum_r w_r P_r for K row weights (4, m, R'): over the data rows and their masks apart (no copy of the
    rows), (4, m, C + t)."""
    return np.concatenate([ligero.combine_rows(weights, rows), ligero.combine_rows(weights, masks)], axis=2)


def _dense_products(dense: np.ndarray, polynomials: np.ndarray, length: int) -> np.ndarray:
    """sum_r A_r^rev(X) P_r(X), A_r^rev(X) = sum_i A[r, i] X^(C-1-i), for K rows A (4, m, C) and base
    polynomials P (m, C + t): products of spectra of the next power of two above ``length``, summed a
    block of rows at a time (the pads of a shared commitment span many rows), then one inverse NTT."""
    count, width = dense.shape[1], dense.shape[2]
    size = poly.next_pow2(length)
    total = F.ext_zeros(size)
    for start in range(0, count, ligero.POINT_BLOCK):
        block = min(count, start + ligero.POINT_BLOCK) - start
        left = np.zeros((F.EXT_DEGREE * block, size), dtype=np.uint64)
        left[:, :width] = dense[:, start : start + block, ::-1].reshape(F.EXT_DEGREE * block, width)
        right = np.zeros((block, size), dtype=np.uint64)
        right[:, : polynomials.shape[1]] = polynomials[start : start + block]
        spectra = F.ext_scale(ntt(left).reshape(F.EXT_DEGREE, block, size), ntt(right))
        total = F.ext_add(total, F.ext_sum(spectra, axis=0))
        del left, right, spectra
    return intt(total)[:, :length]


def _base_combination(weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """sum_i weights[i] * rows[i] for K weights (4, m) and base rows (m, n) -> (4, n)."""
    return ligero.combine_rows(weights[:, None, :], rows)[:, 0]


def times_reversed_eq(values: np.ndarray, z_col: np.ndarray) -> np.ndarray:
    """values(X) * E(X), E(X) = sum_i eq(z_col, i) X^(C-1-i) = prod_k (z_k + (1 - z_k) X^(2^(c-1-k))): one
    shift-and-add per variable, each factor applied as X^s v + z_k (v - X^s v) with one product in K,
    (4, m) -> (4, m + C - 1)."""
    out = values
    bits = z_col.shape[1]
    for k in range(bits):
        shift = 1 << (bits - 1 - k)
        low = np.zeros((F.EXT_DEGREE, out.shape[1] + shift), dtype=np.uint64)
        high = np.zeros_like(low)
        low[:, : out.shape[1]] = out
        high[:, shift:] = out
        out = F.ext_add(high, F.ext_mul_scalar(F.ext_sub(low, high), z_col[:, k]))
    return out


def reversed_eq_at(z_col: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """E(x) = prod_k (z_k + (1 - z_k) x^(2^(c-1-k))) at base points xs (q,) -> (4, q), O(c) per point."""
    out = F.ext_ones(xs.shape)
    bits = z_col.shape[1]
    square = xs.astype(np.uint64) % _P
    powers = []
    for _ in range(bits):
        powers.append(square)
        square = F.mul(square, square)
    for k in range(bits):
        z = z_col[:, k : k + 1]
        factor = F.ext_add(
            np.broadcast_to(z, (F.EXT_DEGREE, xs.size)),
            F.ext_scale(F.ext_sub(F.ext_ones(1), z), powers[bits - 1 - k]),
        )
        out = F.ext_mul(out, factor)
    return out


def query_indices(
    transcript: Transcript, label: str, params: ZkLigeroParams, commitment: Commitment
) -> np.ndarray:
    """The distinct queried codeword positions, sorted: t draws with replacement from the transcript."""
    domain_bits = _shape(params.rate_log, commitment.queries, commitment.num_vars, commitment.row_bits)[2]
    draws = transcript.challenge_indices(f"{label}/columns", commitment.queries, 1 << domain_bits)
    return np.unique(np.asarray(draws, dtype=np.int64))


def tableau_columns(state: CommitState, indices: np.ndarray) -> np.ndarray:
    """The encoded tableau's columns at ``indices``, (q, R' + 8) uint64, evaluated directly: the data rows
    from their C coefficients and their masks' t times x^C (no copy of the rows), the blinding rows from
    their D."""
    params, commitment = state.params, state.commitment
    domain_bits = _shape(params.rate_log, commitment.queries, commitment.num_vars, commitment.row_bits)[2]
    shift = domain_points(domain_bits, (indices << commitment.col_bits) & ((1 << domain_bits) - 1))
    data = F.add(
        evaluate_at(state.rows, domain_bits, indices),
        F.mul(evaluate_at(state.masks, domain_bits, indices), shift[:, None]),
    )
    return np.concatenate([data, evaluate_at(state.blinding, domain_bits, indices)], axis=1)


def evaluate_at(coefficients: np.ndarray, domain_bits: int, indices: np.ndarray) -> np.ndarray:
    """Base polynomials (k, n), n <= 2^domain_bits, at w^c for the codeword positions c -> (q, k) uint64."""
    return rs_encode_at(coefficients, 0, indices, length=1 << domain_bits)


def open_columns(state: CommitState, indices: np.ndarray) -> tuple[np.ndarray, bytes, bytes]:
    """The queried columns, their salts and the multi-path, each column checked against its leaf."""
    columns = tableau_columns(state, indices)
    salts = state.salts[indices]
    leaves = [salt.tobytes() + merkle.column_bytes(column) for salt, column in zip(salts, columns)]
    if not state.tree.holds_leaves(indices, leaves):
        raise ValueError("the state's rows are not the committed ones (were the committed values changed?)")
    return columns, salts.tobytes(), state.tree.open(indices)


# ----------------------------------------------------------------------------------------- verifier
def dot_length(commitment: Commitment, params: ZkLigeroParams) -> int:
    """D = 2C + t - 1: the coefficients of ldt and dot, fixed by the commitment's shape and the parameters."""
    return _shape(params.rate_log, commitment.queries, commitment.num_vars, commitment.row_bits)[1]


def verify(
    commitment: Commitment,
    points: list[np.ndarray],
    values: list[np.ndarray],
    proof: ZkOpeningProof,
    transcript: Transcript,
    label: str,
    params: ZkLigeroParams,
) -> None:
    """Check a hiding opening of ``commitment`` at ``points`` to ``values``; ZkLigeroError on any failure."""
    _check_commitment(commitment)
    points = _verifier_points(points, commitment.num_vars)
    values = _verifier_values(values, len(points))
    _check_rows_shape(commitment, params, proof)
    _absorb_statement(transcript, label, commitment, params, points)
    transcript.absorb_ext(f"{label}/values", np.stack(values, axis=1))
    alpha, u = _draw_combinations(transcript, label, commitment)
    indices = _absorb_rows(transcript, label, params, commitment, proof)
    check(commitment, params, claims_functional(points, values, alpha), proof, Challenges(alpha, u, indices))


def verify_constraints(
    commitment: Commitment,
    points: list[np.ndarray],
    constraints: list[LinearConstraint],
    pad_offset: int,
    proof: ZkOpeningProof,
    transcript: Transcript,
    label: str,
    params: ZkLigeroParams,
) -> None:
    """Check a hiding opening proving ``constraints`` (``open_constraints``); ZkLigeroError on any failure.
    The constraints and the pad offset come from the verifier's own replay, so their sizes are the
    model's."""
    _check_commitment(commitment)
    points = _verifier_points(points, commitment.num_vars) if points else []
    _check_rows_shape(commitment, params, proof)
    _absorb_constraints(transcript, label, commitment, params, points, constraints)
    alpha, u = _draw_combinations(transcript, label, commitment)
    indices = _absorb_rows(transcript, label, params, commitment, proof)
    width = 1 << commitment.col_bits
    functional = constraints_functional(points, constraints, pad_offset, width, alpha)
    check(commitment, params, functional, proof, Challenges(alpha, u, indices))


def _check_rows_shape(commitment: Commitment, params: ZkLigeroParams, proof: object) -> None:
    """The proof is an opening whose two rows have the length the commitment's shape gives."""
    length = dot_length(commitment, params)
    if not isinstance(proof, ZkOpeningProof):
        raise ZkLigeroError("malformed proof: not a ZkOpeningProof")
    _check_field_array(proof.ldt, (F.EXT_DEGREE, length), "ldt row")
    _check_field_array(proof.dot, (F.EXT_DEGREE, length), "dot row")


def _absorb_rows(
    transcript: Transcript, label: str, params: ZkLigeroParams, commitment: Commitment, proof: ZkOpeningProof
) -> np.ndarray:
    """Absorb ldt and dot; returns the column queries drawn after them."""
    transcript.absorb_ext(f"{label}/ldt", proof.ldt)
    transcript.absorb_ext(f"{label}/dot", proof.dot)
    return query_indices(transcript, label, params, commitment)


def check(
    commitment: Commitment,
    params: ZkLigeroParams,
    functional: Functional,
    proof: ZkOpeningProof,
    challenges: Challenges,
) -> None:
    """The opening's checks for given challenges: dot[C-1] = the functional's target, the salted
    multi-path, and ldt and dot on every queried column.  Sizes are checked against the commitment before
    anything is allocated."""
    num_rows, width = commitment.num_rows, 1 << commitment.col_bits
    indices = challenges.indices
    _check_rows_shape(commitment, params, proof)
    _check_field_array(proof.columns, (indices.size, num_rows + BLINDING_ROWS), "columns")
    if not isinstance(proof.salts, bytes) or len(proof.salts) != SALT_BYTES * indices.size:
        raise ZkLigeroError(f"malformed proof: expected {SALT_BYTES} bytes of salt per queried column")
    if not isinstance(proof.paths, bytes):
        raise ZkLigeroError("malformed proof: the multi-path is not bytes")
    if functional.dense_rows.size and int(functional.dense_rows.max()) >= num_rows:
        raise ZkLigeroError("a constraint names entries past the committed vector's length")
    if not F.ext_eq(proof.dot[:, width - 1], functional.target):
        raise ZkLigeroError("the dot row's coefficient C-1 is not the batched claim")

    domain_bits = _shape(params.rate_log, commitment.queries, commitment.num_vars, commitment.row_bits)[2]
    salts = [proof.salts[SALT_BYTES * i : SALT_BYTES * (i + 1)] for i in range(indices.size)]
    leaves = [salt + merkle.column_bytes(column) for salt, column in zip(salts, proof.columns)]
    if not merkle.verify(commitment.root, indices.tolist(), leaves, proof.paths, 1 << domain_bits):
        raise ZkLigeroError("the Merkle multi-path of the queried columns does not match the root")

    at_queries = evaluate_at(np.concatenate([proof.ldt, proof.dot]), domain_bits, indices).T  # (8, q)
    data = proof.columns[:, :num_rows].T  # (R', q)
    blind_ldt = proof.columns[:, num_rows : num_rows + F.EXT_DEGREE].T  # B_ldt at the queries, as K
    blind_dot = proof.columns[:, num_rows + F.EXT_DEGREE :].T
    expected_ldt = F.ext_add(blind_ldt, ligero.combine_rows(challenges.u[:, None, :num_rows], data)[:, 0])
    expected_ldt = F.ext_add(expected_ldt, _base_combination(challenges.u[:, num_rows:], blind_dot))
    if np.any(expected_ldt != at_queries[: F.EXT_DEGREE]):
        raise ZkLigeroError("the ldt row disagrees with the queried columns")
    xs = domain_points(domain_bits, indices)
    expected_dot = F.ext_add(blind_dot, functional_at(functional, commitment.row_bits, data, xs))
    if np.any(expected_dot != at_queries[F.EXT_DEGREE :]):
        raise ZkLigeroError("the dot row disagrees with the queried columns")


def functional_at(functional: Functional, row_bits: int, data: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """sum_r A_r^rev(x) column_x[r] at every queried point (4, q): what dot minus B_dot must be there, for
    the data rows' entries ``data`` (R', q).  An eq term is E_j(x) <eq(z_j,row), column>, E_j in O(log C)."""
    points, weights = functional.points, functional.weights
    total = F.ext_zeros(xs.size)
    if points:
        at_rows = ligero.combine_rows(ligero.row_combinations(points, row_bits), data)  # (4, k, q)
        for j, z in enumerate(points):
            weight = F.ext_mul(reversed_eq_at(z[:, row_bits:], xs), weights[:, j : j + 1])
            total = F.ext_add(total, F.ext_mul(weight, at_rows[:, j]))
    if functional.dense_rows.size:
        powers = _power_table(xs, functional.dense.shape[2])[::-1]  # x^(C-1-i) for column i
        at_dense = ligero.combine_rows(functional.dense, powers)  # (4, m, q)
        total = F.ext_add(total, F.ext_sum(F.ext_scale(at_dense, data[functional.dense_rows]), axis=0))
    return total


def _power_table(xs: np.ndarray, count: int) -> np.ndarray:
    """x^k for k < count (a power of two) at every point (count, q), by doubling."""
    table = np.ones((count, xs.size), dtype=np.uint64)
    step, square = 1, xs.astype(np.uint64) % _P
    while step < count:
        table[step : 2 * step] = F.mul(table[:step], square[None, :])
        step, square = 2 * step, F.mul(square, square)
    return table


def domain_points(domain_bits: int, indices: np.ndarray) -> np.ndarray:
    """w^c for the codeword positions c, w the NTT's root of order 2^domain_bits (uint64)."""
    root = root_of_unity(domain_bits)
    return np.array([pow(root, int(c), F.P) for c in indices], dtype=np.uint64)


def _powers(alpha: np.ndarray, count: int) -> np.ndarray:
    """alpha^1 .. alpha^count as (4, count): the first power is alpha, so one false claim alone cannot be
    cancelled by a constant committed before alpha."""
    powers = [alpha]
    for _ in range(count - 1):
        powers.append(F.ext_mul(powers[-1], alpha))
    return np.stack(powers, axis=1)


# -------------------------------------------------------------------------------------- validation
def _check_field_array(arr: object, shape: tuple[int, ...], what: str) -> None:
    try:
        ligero._check_field_array(arr, shape, what)
    except ligero.LigeroError as exc:
        raise ZkLigeroError(str(exc)) from None


def _check_commitment(commitment: object) -> None:
    """The commitment's shape must be one a tableau can have (``ZkLigeroScheme.commitment`` gives the one
    the parameters give the vector's length)."""
    if not isinstance(commitment, Commitment) or not isinstance(commitment.root, bytes):
        raise ZkLigeroError("malformed commitment")
    shape = (commitment.num_vars, commitment.row_bits, commitment.num_rows, commitment.queries)
    if not all(type(v) is int for v in shape):
        raise ZkLigeroError("malformed commitment: shape is not integral")
    if len(commitment.root) != merkle.DIGEST_SIZE:
        raise ZkLigeroError("malformed commitment: root is not 32 bytes")
    if not 0 <= commitment.num_vars <= ligero.MAX_NUM_VARS:
        raise ZkLigeroError("malformed commitment: impossible vector size")
    if not 0 <= commitment.col_bits <= min(commitment.num_vars, MAX_COL_BITS):
        raise ZkLigeroError("malformed commitment: impossible matrix width")
    if not 1 <= commitment.num_rows <= 1 << commitment.row_bits:
        raise ZkLigeroError("malformed commitment: impossible number of data rows")
    if not 1 <= commitment.queries <= MAX_QUERIES:
        raise ZkLigeroError("malformed commitment: impossible query count")


def _verifier_points(points: object, num_vars: int) -> list[np.ndarray]:
    try:
        return ligero._verifier_points(points, num_vars)
    except ligero.LigeroError as exc:
        raise ZkLigeroError(str(exc)) from None


def _verifier_values(values: object, count: int) -> list[np.ndarray]:
    try:
        return ligero._verifier_values(values, count)
    except ligero.LigeroError as exc:
        raise ZkLigeroError(str(exc)) from None


def opening_bytes_ceiling(commitment: Commitment, params: ZkLigeroParams, num_points: int) -> int:
    """Most bytes an honest opening can take: the two rows, every query distinct with its column of R' + 8
    entries, its salt and a full path, and the framing."""
    t = commitment.queries
    _, length, domain_bits = _shape(params.rate_log, t, commitment.num_vars, commitment.row_bits)
    queries = min(t, 1 << domain_bits)
    columns = queries * (commitment.num_rows + BLINDING_ROWS)
    elements = _SENT_ROWS * F.EXT_DEGREE * length + columns
    per_query = SALT_BYTES + merkle.DIGEST_SIZE * domain_bits
    return 256 + _ELEMENT_BYTES * elements + queries * per_query


# ------------------------------------------------------------------------------ the commitment seam
class ZkLigeroScheme:
    """Hiding Ligero behind the commitment seam; its header entry is "ligero_zk": {rate_log, security_bits},
    every tableau's query count following from its length."""

    header_key = "ligero_zk"
    opening_type = ZkOpeningProof

    def default_params(self) -> ZkLigeroParams:
        """Rate 1/8 (of max(C, t)), >= 100 bits for the low-degree and the linear test at every width,
        layers grouped up to 2^DEFAULT_GROUP_VARS entries."""
        return ZkLigeroParams(rate_log=3, security_bits_target=100)

    def params_header(self, params: ZkLigeroParams) -> dict:
        """The rate and the security target, from which every tableau's query count follows, and the group
        size (parameters with a fixed query count are for the commitment alone: a proof does not name
        them)."""
        if params.queries is not None:
            raise ValueError("a proof's hiding commitments take their query counts from a security target")
        return {
            "group_vars": params.group_vars,
            "rate_log": params.rate_log,
            "security_bits": params.security_bits_target,
        }

    def params_from_header(self, entry: object) -> ZkLigeroParams:
        """The parameters a header names, each within the allowed range."""
        if (
            not isinstance(entry, dict)
            or sorted(entry) != sorted(HEADER_KEYS)
            or not all(type(v) is int for v in entry.values())
        ):
            raise ValueError(
                "hiding commitment parameters are not {group_vars, rate_log, security_bits} integers"
            )
        if entry["rate_log"] not in RATE_LOGS:
            raise ValueError(f"hiding rate_log {entry['rate_log']} is not one of {RATE_LOGS}")
        if not 1 <= entry["security_bits"] <= 256:
            raise ValueError(f"a hiding security target of {entry['security_bits']} bits is outside [1, 256]")
        if not 0 <= entry["group_vars"] <= ligero.MAX_NUM_VARS:
            raise ValueError(f"a hiding group size of 2^{entry['group_vars']} is outside [2^0, 2^32]")
        return ZkLigeroParams(entry["rate_log"], entry["security_bits"], None, entry["group_vars"])

    def security_bits(self, params: ZkLigeroParams) -> float:
        """The least over every vector length (``ZkLigeroParams.security_bits``)."""
        return params.security_bits()

    def commit(self, vector: np.ndarray, params: ZkLigeroParams) -> tuple[Commitment, CommitState]:
        """See ``commit``."""
        return commit(vector, params)

    def spill(self, state: CommitState, directory: str | Path) -> CommitState:
        """The state with its data rows on disk (``spill.spill``); masks, blinding rows, salts and the tree
        stay in memory."""
        return dataclasses.replace(state, rows=spill(state.rows, directory))

    def open(
        self, state: CommitState, points: list[np.ndarray], transcript: Transcript, label: str
    ) -> tuple[list[np.ndarray], ZkOpeningProof]:
        """See ``open``."""
        return open(state, points, transcript, label)

    def commitment(self, root: bytes, length: int, params: ZkLigeroParams) -> Commitment:
        """The matrix shape and the data rows follow from the vector's length and the parameters."""
        return Commitment(root, *params.layout(length))

    def opening_bytes_ceiling(self, commitment: Commitment, params: ZkLigeroParams, num_points: int) -> int:
        """See ``opening_bytes_ceiling``."""
        return opening_bytes_ceiling(commitment, params, num_points)

    def verify(
        self,
        commitment: Commitment,
        points: list[np.ndarray],
        values: list[np.ndarray],
        proof: object,
        transcript: Transcript,
        label: str,
        params: ZkLigeroParams,
    ) -> None:
        """See ``verify``."""
        verify(commitment, points, values, proof, transcript, label, params)

    def state_bytes(self, vector_len: int, params: ZkLigeroParams, spilled: bool = False) -> int:
        """Every data row up to the vector's length (zero or not, all masked; none once ``spilled``), the
        masks, the blinding rows, the salts and the tree."""
        num_vars, row_bits, num_rows, t = params.layout(max(vector_len, 1))
        width, length, domain_bits = _shape(params.rate_log, t, num_vars, row_bits)
        held = ((0 if spilled else width) + t) * num_rows + BLINDING_ROWS * length
        tree = merkle.DIGEST_SIZE * ((2 << domain_bits) - 1)
        return _ELEMENT_BYTES * held + (SALT_BYTES << domain_bits) + tree

    def commit_bytes(self, vector_len: int, params: ZkLigeroParams, threads: int = 1) -> int:
        """Commit's transients: the block of encoded rows and its coefficients, the NTT's scratch and, when
        the rows take several blocks, a hash object per column."""
        num_vars, row_bits, num_rows, t = params.layout(max(vector_len, 1))
        _, length, domain_bits = _shape(params.rate_log, t, num_vars, row_bits)
        codeword = 1 << domain_bits
        total = num_rows + BLINDING_ROWS
        block_rows = max(1, min(total, ligero.HASH_BLOCK_BYTES // (_ELEMENT_BYTES * codeword)))
        scratch = ligero.ENCODE_SCRATCH_PER_ELEMENT * encode_scratch_elements(block_rows, codeword, threads)
        hashers = ligero.HASHER_BYTES * codeword if total > block_rows else 0
        coefficients = min(block_rows, _coefficient_block_rows(codeword)) * poly.next_pow2(length)
        return hashers + _ELEMENT_BYTES * (block_rows * codeword + coefficients) + scratch


OPENING_BASE_BYTES = 3 << 20
OPENING_BYTES_PER_COLUMN = 5 << 10
"""A hiding opening's transients (``opening_bytes``): its limb GEMM blocks (the queried columns' direct
evaluation, the combined rows), the two rows and the pad products' spectra, a block of rows at a time.
Fitted to tracemalloc peaks of the openings of wc50 and tiny_cnn (3.3-6.1 MiB at C = 512, 6.8-9.3 at 1024,
11.1-12.5 at 2048)."""


def opening_bytes(length: int, params: ZkLigeroParams) -> int:
    """What opening a hiding commitment of ``length`` entries allocates beside its state."""
    num_vars, row_bits, _, _ = params.layout(max(length, 1))
    return OPENING_BASE_BYTES + OPENING_BYTES_PER_COLUMN * (1 << (num_vars - row_bits))


ZK_LIGERO = ZkLigeroScheme()
"""The hiding commitment a private input uses."""
