"""Ligero-style multilinear polynomial commitment over BabyBear (opening points and challenges in K).

A vector f of 2^n base elements is laid out row-major as an R x C matrix M (R = 2^row_bits), so the row
variables are the most significant bits of the index and a point splits as z = (z_row, z_col):
    f~(z) = eq(z_row)^T M eq(z_col).
Commit: Reed-Solomon encode every row (rate 2^-rate_log), Merkle-hash the encoded columns; the root is
the commitment.  The prover streams: rows are encoded a block at a time into per-column incremental leaf
hashes, so the encoded matrix never exists whole, and an opening evaluates the rows' codewords again at
the queried positions only.  Trailing all-zero rows (the power-of-two padding) are neither encoded nor kept.
Open at points z_1..z_k with one row and one set of column queries:
    1. bind the values v_j = f~(z_j), draw rho, and reduce sum_j rho^j v_j by a sumcheck over the row
       variables of sum_x sum_j rho^j eq(z_j,row; x) h_j(x), h_j = M eq(z_j,col), to one row point s;
    2. send u = eq(s)^T M in K^C; the sumcheck's last claim is sum_j rho^j eq(z_j,row; s) <u, eq(z_j,col)>;
    3. draw gamma in K^R and send the proximity row u_0 = gamma^T M;
    4. draw t column indices; send the queried encoded columns and one Merkle multi-path for them.
The verifier checks the sumcheck, the multi-path against the root and, on every queried column c and for
both row combinations r in {eq(s), gamma}, that enc(u)[c] == <r, column_c>.  Everything is absorbed under
the caller's label, so openings of different commitments share a transcript.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from dataclasses import dataclass
from itertools import repeat
from operator import methodcaller
from pathlib import Path

import numpy as np

from edgeprove import field as F
from edgeprove import poly, sumcheck
from edgeprove.commit import merkle
from edgeprove.commit.ntt import (
    MAX_LOG_SIZE,
    encode_rows_into,
    encode_scratch_elements,
    rs_encode,
    rs_encode_at,
)
from edgeprove.commit.scheme import CommitmentError
from edgeprove.commit.spill import spill
from edgeprove.field import _limb_dot
from edgeprove.sumcheck import SumcheckError, SumcheckProof
from edgeprove.transcript import Transcript

_P = np.uint64(F.P)
EXT_FIELD_BITS = F.EXT_DEGREE * math.log2(F.P)
"""log2 |K| (about 123.6)."""
MAX_NUM_VARS = 32
"""Largest committed vector (2^32 base elements); ``security_bits`` reports the worst case up to it."""
_ELEMENT_BYTES = 4
_HASH_ELEMENTS = merkle.DIGEST_SIZE // _ELEMENT_BYTES
_SENT_ROWS = 2
"""K rows an opening sends: u at the sumcheck's row point and the proximity row u_0."""
_ROW_SUMCHECK_DEGREE = 2
HASH_BLOCK_BYTES = 8 << 20
"""Commit encodes this many bytes of uint32 codeword entries (a block of rows) before hashing them into the
column leaves.  Each column's update costs about 0.1 us beyond hashing its bytes: for 384 non-zero rows of
65,536 columns (2^23 elements, a quarter zero) 8 MiB blocks of 32 rows take 786,432 updates and 0.12 s of
CPU, 2 MiB blocks 0.33 s, the whole matrix at once 0.06 s, beside about 1.7 s of encoding (measured)."""
HASHER_BYTES = 248
"""Bytes of one SHA-256 object (OpenSSL's, as hashlib gives it), measured: commit holds one per column."""
_COMBINE_BLOCK_ELEMENTS = 1 << 18
"""Matrix entries per limb GEMM in ``combine_rows`` / ``combine_columns``: their float64 limbs take 4 MiB."""
POINT_BLOCK = 8
"""Opening points whose column eq tables are built at a time (``column_partials``)."""
_SCAN_ELEMENTS = 1 << 16
"""Elements checked at a time when finding where a committed vector's zero tail starts."""


class LigeroError(CommitmentError):
    """Raised by the verifier when an opening proof is malformed or does not check out."""


@dataclass(frozen=True)
class LigeroParams:
    """Code rate, security target and (optionally) a fixed query count.

    Soundness (cited bound).  Ligero (Ames, Hazay, Ishai, Venkitasubramaniam, CCS 2017) tests proximity of
    the committed rows to the Reed-Solomon code with a random linear combination and t column queries;
    Brakedown (Golovnev, Lee, Setty, Thaler, Wahby, CRYPTO 2023) tightens the analysis into a polynomial
    commitment with the same structure.  With rate rho = 2^-rate_log the RS code has relative distance
    delta = 1 - rho; working in the unique-decoding regime (proximity gaps of Ben-Sasson, Carmon, Ishai,
    Kopparty, Saraf, FOCS 2020), a cheating prover survives t independent column queries with probability
    about (1 - delta/2)^t, and the random combination fails with probability about L / |K| for codeword
    length L.  So security bits = min(t * -log2(1 - delta/2), log2|K| - log2 L).
    """

    rate_log: int = 2
    security_bits_target: int = 100
    queries: int | None = None

    def __post_init__(self) -> None:
        """Refuse parameters outside the range the analysis and the NTT support."""
        if not 1 <= self.rate_log <= 8:
            raise ValueError(f"rate_log must be in [1, 8], got {self.rate_log}")
        if not 1 <= self.security_bits_target <= 256:
            raise ValueError(f"security_bits_target must be in [1, 256], got {self.security_bits_target}")
        if self.queries is not None and self.queries < 1:
            raise ValueError(f"queries must be >= 1, got {self.queries}")

    def bits_per_query(self) -> float:
        """-log2(1 - delta/2) with delta = 1 - 2^-rate_log: the soundness one column query buys."""
        delta = 1.0 - 2.0**-self.rate_log
        return -math.log2(1.0 - delta / 2.0)

    def num_queries(self) -> int:
        """t: the override if given, else the fewest queries reaching the target in the query term."""
        if self.queries is not None:
            return self.queries
        return math.ceil(self.security_bits_target / self.bits_per_query())

    def layout(self, num_vars: int) -> tuple[int, int]:
        """(row_bits, col_bits) for a 2^num_vars vector, minimising the opening's size.

        Size in elements: t columns of R entries with their share of a multi-path (the top log2 t levels
        are shared), plus the two K rows u and u_0 of C entries; the codeword length C * 2^rate_log must
        stay within the NTT's 2^27.
        """
        if not 0 <= num_vars <= MAX_NUM_VARS:
            raise ValueError(f"num_vars must be in [0, {MAX_NUM_VARS}], got {num_vars}")
        t = self.num_queries()

        def proof_elements(row_bits: int) -> int:
            col_bits = num_vars - row_bits
            opened = min(t, 1 << (col_bits + self.rate_log))
            path = _HASH_ELEMENTS * max(0, col_bits + self.rate_log - opened.bit_length() + 1)
            return opened * ((1 << row_bits) + path) + _SENT_ROWS * F.EXT_DEGREE * (1 << col_bits)

        lowest = max(0, num_vars - (MAX_LOG_SIZE - self.rate_log))
        row_bits = min(range(lowest, num_vars + 1), key=proof_elements)
        return row_bits, num_vars - row_bits

    def security_bits(self, num_vars: int | None = None) -> float:
        """min(query term, field term) for a 2^num_vars vector, or the worst case over all sizes if None."""
        sizes = range(MAX_NUM_VARS + 1) if num_vars is None else [num_vars]
        longest = max(self.layout(n)[1] for n in sizes) + self.rate_log
        field_term = EXT_FIELD_BITS - longest
        return min(self.num_queries() * self.bits_per_query(), field_term)


@dataclass(frozen=True)
class Commitment:
    """The public commitment: Merkle root of the encoded columns and the matrix shape (2^row_bits rows)."""

    root: bytes
    num_vars: int
    row_bits: int

    @property
    def col_bits(self) -> int:
        """log2 of the number of matrix columns (message length of each RS codeword)."""
        return self.num_vars - self.row_bits


@dataclass
class CommitState:
    """What opening needs: the matrix's non-zero prefix of rows as uint32 ``rows`` (k, C), k <= R (the other
    R - k rows are zero and implicit), and the Merkle tree over the encoded columns (32 bytes a column on
    each of its two halves: leaf digests and inner nodes).  No encoded column is kept: an opening evaluates
    the columns it sends again from the rows, and checks them against their leaf digests."""

    commitment: Commitment
    params: LigeroParams
    rows: np.ndarray
    tree: merkle.MerkleTree

    def nbytes(self) -> int:
        """Bytes the state holds: the non-zero rows and the tree."""
        return self.rows.nbytes + self.tree.nbytes()


@dataclass
class OpeningProof:
    """The row sumcheck, the row u (4, C) at its point, the proximity row u_0 (4, C), the queried encoded
    columns (q, R) and their Merkle multi-path."""

    row_sumcheck: SumcheckProof
    row: np.ndarray
    proximity_row: np.ndarray
    columns: np.ndarray
    paths: bytes

    def nbytes(self) -> int:
        """Size on the wire: 4 bytes per field element, 32 per hash."""
        elements = sum(r.size for r in self.row_sumcheck.rounds)
        elements += self.row.size + self.proximity_row.size + self.columns.size
        return _ELEMENT_BYTES * elements + len(self.paths)


def opening_bytes_ceiling(commitment: Commitment, params: LigeroParams, num_points: int) -> int:
    """Most bytes an encoded opening can honestly take: the row sumcheck, the two rows, every query distinct
    with its column and a full path, and the framing (a longer section is refused unread).  The number of
    points only enters the layer sections' claims, not the opening."""
    width, rows = 1 << commitment.col_bits, 1 << commitment.row_bits
    length = width << params.rate_log
    queries = min(params.num_queries(), length)  # distinct columns
    depth = merkle.tree_depth(length)
    rounds = commitment.row_bits * F.EXT_DEGREE * (_ROW_SUMCHECK_DEGREE + 1)
    elements = rounds + F.EXT_DEGREE * _SENT_ROWS * width + queries * rows
    framing = 256 + 16 * commitment.row_bits
    return framing + _ELEMENT_BYTES * elements + queries * merkle.DIGEST_SIZE * depth


# ------------------------------------------------------------------------------------------- prover
def commit(values: np.ndarray, params: LigeroParams) -> tuple[Commitment, CommitState]:
    """Commit to a vector of base elements (zero-padded to a power of two); return commitment and state.

    Rows are encoded a block at a time (``HASH_BLOCK_BYTES``) and hashed column by column, so the encoded
    matrix never exists whole (``_leaf_digests``).  The state keeps the non-zero rows as uint32: a view of
    ``values`` when they are C-contiguous uint32 and those rows are whole in it (do not modify them then:
    openings would fail), else a compact copy.
    """
    num_vars, rows = _committed_rows(values, params)
    row_bits, col_bits = params.layout(num_vars)
    length = 1 << (col_bits + params.rate_log)
    digests = _leaf_digests(rows, 1 << row_bits, params.rate_log, length)
    leaf_digests = np.frombuffer(digests, dtype=np.uint8).reshape(length, merkle.DIGEST_SIZE)
    tree = merkle.MerkleTree(leaf_digests, length)
    commitment = Commitment(root=tree.root, num_vars=num_vars, row_bits=row_bits)
    return commitment, CommitState(commitment, params, rows, tree)


def _leaf_digests(rows: np.ndarray, num_rows: int, rate_log: int, length: int) -> bytes:
    """The leaf digest of every encoded column of the matrix whose first rows are ``rows`` and whose other
    ``num_rows - len(rows)`` rows are zero: those are not encoded, their zero bytes end every leaf.

    When the non-zero rows fit in one block, each leaf is hashed whole, one at a time; otherwise every
    column gets an incremental hash, updated with the column's share of each block as the block is made.
    """
    tail = bytes(_ELEMENT_BYTES * (num_rows - rows.shape[0]))
    block_rows = max(1, min(rows.shape[0], HASH_BLOCK_BYTES // (_ELEMENT_BYTES * length)))
    buffer = np.empty(length * block_rows, dtype=np.uint32)
    if rows.shape[0] <= block_rows:
        block = buffer[: length * rows.shape[0]].reshape(length, rows.shape[0])
        encode_rows_into(rows, rate_log, block)
        return b"".join(_leaf_digest(column, tail) for column in block)
    hashers = [merkle.leaf_hasher() for _ in range(length)]
    update = type(hashers[0]).update
    for start in range(0, rows.shape[0], block_rows):
        stop = min(rows.shape[0], start + block_rows)
        block = buffer[: length * (stop - start)].reshape(length, stop - start)
        encode_rows_into(rows[start:stop], rate_log, block)
        deque(map(update, hashers, block), maxlen=0)  # leaf c takes encoded column c's entries of the block
    del buffer
    if tail:
        deque(map(update, hashers, repeat(tail)), maxlen=0)
    return b"".join(map(methodcaller("digest"), hashers))


def _leaf_digest(column: np.ndarray, tail: bytes) -> bytes:
    """The leaf digest of an encoded column followed by zero bytes."""
    hasher = merkle.leaf_hasher()
    hasher.update(column)
    hasher.update(tail)
    return hasher.digest()


def encoded_columns(state: CommitState, indices: np.ndarray) -> np.ndarray:
    """The encoded columns at codeword positions ``indices`` as uint64 (len(indices), R), evaluated from the
    state's non-zero rows (``ntt.rs_encode_at``); the zero rows contribute zeros."""
    columns = np.zeros((indices.size, 1 << state.commitment.row_bits), dtype=np.uint64)
    columns[:, : state.rows.shape[0]] = rs_encode_at(state.rows, state.params.rate_log, indices)
    return columns


def open(
    state: CommitState, points: list[np.ndarray], transcript: Transcript, label: str
) -> tuple[list[np.ndarray], OpeningProof]:
    """Open the committed vector's MLE at every point (K arrays (4, n)) with one row and one set of column
    queries; the queried columns are evaluated again from the state's rows."""
    commitment, params = state.commitment, state.params
    points = [_prover_point(z, commitment.num_vars) for z in points]
    if not points:
        raise ValueError("open needs at least one point")
    absorb_statement(transcript, label, commitment, params, points)
    row_eqs = row_combinations(points, commitment.row_bits)
    partial = column_partials(state.rows, points, commitment.row_bits, 1 << commitment.row_bits)
    values = [F.ext_inner(row_eqs[:, j], partial[:, j]) for j in range(len(points))]
    transcript.absorb_ext(f"{label}/values", np.stack(values, axis=1))
    powers = _powers(transcript.challenge_ext(f"{label}/rho"), len(points))
    row_sumcheck, row_point = _prove_rows(row_eqs, partial, powers, transcript, f"{label}/rows")
    row = combine_rows(poly.eq_table(row_point)[:, None, :], state.rows)[:, 0, :]
    transcript.absorb_ext(f"{label}/row", row)
    gamma = transcript.challenge_ext_vec(f"{label}/gamma", 1 << commitment.row_bits)
    proximity_row = combine_rows(gamma[:, None, :], state.rows)[:, 0, :]
    transcript.absorb_ext(f"{label}/proximity-row", proximity_row)
    indices = query_indices(transcript, label, params, commitment)
    columns = encoded_columns(state, indices)
    if not state.tree.holds_leaves(indices, [merkle.column_bytes(column) for column in columns]):
        raise ValueError("the state's rows are not the committed ones (were the committed values changed?)")
    paths = state.tree.open(indices)
    return values, OpeningProof(row_sumcheck, row, proximity_row, columns, paths)


def absorb_statement(
    transcript: Transcript, label: str, commitment: Commitment, params: LigeroParams, points: list[np.ndarray]
) -> None:
    """Bind the commitment, the parameters and the opening points before any prover message."""
    shape = (("num-vars", commitment.num_vars), ("row-bits", commitment.row_bits))
    settings = (("rate-log", params.rate_log), ("queries", params.num_queries()))
    absorb_root_and_points(transcript, label, commitment.root, shape + settings, points)


def absorb_root_and_points(
    transcript: Transcript,
    label: str,
    root: bytes,
    fields: tuple[tuple[str, int], ...],
    points: list[np.ndarray],
) -> None:
    """Absorb a commitment's root, its named integer fields (shape and parameters) in order, and the
    opening points (the statement of any Ligero-style opening)."""
    transcript.absorb_bytes(f"{label}/root", root)
    for name, value in fields:
        transcript.absorb_int(f"{label}/{name}", value)
    transcript.absorb_int(f"{label}/num-points", len(points))
    for z in points:
        transcript.absorb_ext(f"{label}/point", z)


def _prove_rows(
    row_eqs: np.ndarray, partial: np.ndarray, powers: np.ndarray, transcript: Transcript, label: str
) -> tuple[SumcheckProof, np.ndarray]:
    """The row sumcheck of sum_x sum_j rho^j eq(z_j,row; x) h_j(x) on the stacked (4, k, R) tables, a few
    whole-array operations per round; its messages are ``sumcheck.prove``'s on the same sum."""
    weights = powers[:, :, None]
    rounds, challenges = [], []
    eqs, parts = row_eqs, partial
    for _ in range(poly.num_vars(eqs.shape[-1])):
        half = eqs.shape[-1] // 2
        halves = [(t[..., :half], t[..., half:]) for t in (eqs, parts)]
        evals = []
        for x in range(_ROW_SUMCHECK_DEGREE + 1):
            at = [lo if x == 0 else hi if x == 1 else F.ext_add(hi, F.ext_sub(hi, lo)) for lo, hi in halves]
            evals.append(F.ext_sum(F.ext_sum(F.ext_mul(F.ext_mul(at[0], at[1]), weights)), axis=-1))
        message = np.stack(evals, axis=1)
        transcript.absorb_ext(f"{label}/round", message)
        r = transcript.challenge_ext(f"{label}/r")
        challenges.append(r)
        eqs, parts = (F.ext_add(lo, F.ext_mul_scalar(F.ext_sub(hi, lo), r)) for lo, hi in halves)
        rounds.append(message)
    return SumcheckProof(rounds), poly.point(challenges)


def _powers(rho: np.ndarray, count: int) -> np.ndarray:
    """1, rho, ..., rho^(count-1) as (4, count)."""
    powers = [F.ext_ones()]
    for _ in range(count - 1):
        powers.append(F.ext_mul(powers[-1], rho))
    return np.stack(powers, axis=1)


def _combine(powers: np.ndarray, values: list[np.ndarray]) -> np.ndarray:
    """sum_j rho^j values[j]."""
    return F.ext_sum(F.ext_mul(powers, np.stack(values, axis=1)))


def row_combinations(points: list[np.ndarray], row_bits: int) -> np.ndarray:
    """eq(z_j,row) for every point: the row combinations as a K array (4, k, R)."""
    return np.stack([poly.eq_table(z[:, :row_bits]) for z in points], axis=1)


def combine_rows(combinations: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """r^T M for K row combinations (4, m, R) and a base matrix given by its first k <= R rows (k, C), the
    rest zero -> (4, m, C), exactly via limb BLAS a block of rows at a time."""
    _, m, _ = combinations.shape
    limb_rows = combinations.reshape(F.EXT_DEGREE * m, -1)
    total = np.zeros((F.EXT_DEGREE * m, rows.shape[1]), dtype=np.uint64)
    step = max(1, _COMBINE_BLOCK_ELEMENTS // max(1, rows.shape[1]))
    for start in range(0, rows.shape[0], step):
        stop = min(rows.shape[0], start + step)
        total += _limb_dot(limb_rows[:, start:stop], rows[start:stop].T)
        total %= _P
    return total.reshape(F.EXT_DEGREE, m, rows.shape[1])


def column_partials(rows: np.ndarray, points: list[np.ndarray], row_bits: int, num_rows: int) -> np.ndarray:
    """h_j = M eq(z_j, col) for every point (4, k, num_rows), the column eq tables of POINT_BLOCK points at
    a time: a tensor opened at a hundred points (its lookups' claims) would otherwise hold a hundred tables
    of C extension elements at once, more than its rows."""
    parts = []
    for start in range(0, len(points), POINT_BLOCK):
        block = points[start : start + POINT_BLOCK]
        col_eqs = np.stack([poly.eq_table(z[:, row_bits:]) for z in block], axis=1)
        parts.append(combine_columns(rows, col_eqs, num_rows))
        del col_eqs
    return np.concatenate(parts, axis=1)


def combine_columns(rows: np.ndarray, combinations: np.ndarray, num_rows: int) -> np.ndarray:
    """M c for a base matrix of ``num_rows`` rows given by its first k (k, C), the rest zero, and K column
    combinations (4, m, C) -> (4, m, num_rows), a block of rows at a time."""
    _, m, width = combinations.shape
    limb_columns = combinations.reshape(F.EXT_DEGREE * m, width)
    out = np.zeros((F.EXT_DEGREE * m, num_rows), dtype=np.uint64)
    step = max(1, _COMBINE_BLOCK_ELEMENTS // max(1, width))
    # columns a slice at a time too: with many points the combinations' limbs would take tens of MiB
    span = max(1, min(width, _COMBINE_BLOCK_ELEMENTS // (F.EXT_DEGREE * m)))
    for start in range(0, rows.shape[0], step):
        stop = min(rows.shape[0], start + step)
        for first in range(0, width, span):
            last = min(width, first + span)
            out[:, start:stop] += _limb_dot(limb_columns[:, first:last], rows[start:stop, first:last])
            out[:, start:stop] %= _P
    return out.reshape(F.EXT_DEGREE, m, num_rows)


def query_indices(
    transcript: Transcript, label: str, params: LigeroParams, commitment: Commitment
) -> np.ndarray:
    """The distinct queried codeword columns, sorted: t draws with replacement from the transcript."""
    length = 1 << (commitment.col_bits + params.rate_log)
    draws = transcript.challenge_indices(f"{label}/columns", params.num_queries(), length)
    return np.unique(np.asarray(draws, dtype=np.int64))


# ----------------------------------------------------------------------------------------- verifier
def verify(
    commitment: Commitment,
    points: list[np.ndarray],
    values: list[np.ndarray],
    proof: OpeningProof,
    transcript: Transcript,
    label: str,
    params: LigeroParams,
) -> None:
    """Check an opening of ``commitment`` at ``points`` to ``values``; raise LigeroError on any failure."""
    _check_commitment(commitment, params)
    row_bits, col_bits = commitment.row_bits, commitment.col_bits
    num_rows, width = 1 << row_bits, 1 << col_bits
    points = _verifier_points(points, commitment.num_vars)
    values = _verifier_values(values, len(points))
    if not isinstance(proof, OpeningProof) or not isinstance(proof.row_sumcheck, SumcheckProof):
        raise LigeroError("malformed proof: not an OpeningProof")
    if not isinstance(proof.row_sumcheck.rounds, list):
        raise LigeroError("malformed proof: the row sumcheck's rounds are not a list")
    for i, message in enumerate(proof.row_sumcheck.rounds):
        _check_field_array(message, (F.EXT_DEGREE, _ROW_SUMCHECK_DEGREE + 1), f"row sumcheck round {i}")
    _check_field_array(proof.row, (F.EXT_DEGREE, width), "row")
    _check_field_array(proof.proximity_row, (F.EXT_DEGREE, width), "proximity row")

    absorb_statement(transcript, label, commitment, params, points)
    transcript.absorb_ext(f"{label}/values", np.stack(values, axis=1))
    powers = _powers(transcript.challenge_ext(f"{label}/rho"), len(points))
    try:
        row_point, final = sumcheck.verify(
            _combine(powers, values),
            row_bits,
            _ROW_SUMCHECK_DEGREE,
            proof.row_sumcheck,
            transcript,
            f"{label}/rows",
        )
    except SumcheckError as err:
        raise LigeroError(str(err)) from None
    stacked = np.stack(points, axis=1)  # (4, k, n)
    row_weights = poly.eq_tables(row_point.reshape(F.EXT_DEGREE, 1, -1))[:, 0]  # eq(s, x) over the rows
    at_rows = F.ext_inner_rows(poly.eq_tables(stacked[:, :, :row_bits]), row_weights)  # eq(z_j,row; s)
    at_columns = F.ext_inner_rows(poly.eq_tables(stacked[:, :, row_bits:]), proof.row)  # <u, eq(z_j,col)>
    if not F.ext_eq(F.ext_sum(F.ext_mul(powers, F.ext_mul(at_rows, at_columns))), final):
        raise LigeroError("the row disagrees with the row sumcheck's last claim")
    transcript.absorb_ext(f"{label}/row", proof.row)
    gamma = transcript.challenge_ext_vec(f"{label}/gamma", num_rows)
    transcript.absorb_ext(f"{label}/proximity-row", proof.proximity_row)
    indices = query_indices(transcript, label, params, commitment)

    _check_field_array(proof.columns, (indices.size, num_rows), "columns")
    leaves = [merkle.column_bytes(column) for column in proof.columns]
    if not merkle.verify(commitment.root, indices.tolist(), leaves, proof.paths, width << params.rate_log):
        raise LigeroError("the Merkle multi-path of the queried columns does not match the root")

    rows = np.stack([row_weights, gamma], axis=1)
    expected = combine_rows(rows, proof.columns.T)  # (4, 2, q): <r, column_c> for both combinations
    messages = np.stack([proof.row, proof.proximity_row], axis=1)
    encoded = rs_encode(messages.reshape(-1, width), params.rate_log)[:, indices]
    mismatch = np.any(encoded.reshape(expected.shape) != expected, axis=(0, 2))
    if mismatch[1]:
        raise LigeroError("proximity row disagrees with the queried columns")
    if mismatch[0]:
        raise LigeroError("row u disagrees with the queried columns")


# -------------------------------------------------------------------------------------- validation
def _committed_rows(values: np.ndarray, params: LigeroParams) -> tuple[int, np.ndarray]:
    """Validate the committed data; return log2 of its padded length and the matrix's non-zero prefix of
    rows as uint32 (a view when ``values`` are C-contiguous uint32 holding those rows whole)."""
    arr = checked_vector(values)
    num_vars = poly.num_vars(poly.next_pow2(arr.size))
    width = 1 << params.layout(num_vars)[1]
    used = _nonzero_length(arr)
    num_rows = -(-used // width)
    if arr.dtype == np.uint32 and arr.flags.c_contiguous and num_rows * width <= arr.size:
        return num_vars, arr[: num_rows * width].reshape(num_rows, width)
    rows = np.zeros((num_rows, width), dtype=np.uint32)
    rows.reshape(-1)[:used] = arr[:used]
    return num_vars, rows


def checked_vector(values: np.ndarray) -> np.ndarray:
    """A vector to commit as an array: 1-D, non-empty, of canonical integer field elements, at most
    2^MAX_NUM_VARS of them; else ValueError."""
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"commit needs a non-empty 1-D vector, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"commit needs integer field elements, got dtype {arr.dtype}")
    if int(arr.min()) < 0 or int(arr.max()) >= F.P:
        raise ValueError("commit needs canonical field elements in [0, p)")
    if arr.size > 1 << MAX_NUM_VARS:
        raise ValueError(f"vector of {arr.size} elements exceeds 2^{MAX_NUM_VARS}")
    return arr


def _nonzero_length(arr: np.ndarray) -> int:
    """One past the last non-zero entry of a 1-D array (0 when all are zero), scanning from the end."""
    stop = arr.size
    while stop > 0:
        start = max(0, stop - _SCAN_ELEMENTS)
        chunk = arr[start:stop]
        if chunk.any():
            return stop - int(np.argmax(chunk[::-1] != 0))
        stop = start
    return 0


def _prover_point(z: np.ndarray, num_vars: int) -> np.ndarray:
    """A prover-side opening point: a canonical K array of shape (4, num_vars), else ValueError."""
    arr = np.asarray(z)
    if arr.shape != (F.EXT_DEGREE, num_vars) or arr.dtype != np.uint64 or np.any(arr >= _P):
        raise ValueError(f"an opening point must be a canonical uint64 K array of shape (4, {num_vars})")
    return arr


def _check_field_array(arr: object, shape: tuple[int, ...], what: str) -> None:
    """A proof array must be uint64 of exactly ``shape`` with every entry < p."""
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint64:
        raise LigeroError(f"malformed proof: {what} is not a uint64 array")
    if arr.shape != shape:
        raise LigeroError(f"malformed proof: {what} has shape {arr.shape}, expected {shape}")
    if arr.size and int(arr.max()) >= F.P:
        raise LigeroError(f"malformed proof: {what} holds an element >= p")


def _check_commitment(commitment: object, params: LigeroParams) -> None:
    """The commitment's shape must be one this code can have produced under ``params``."""
    if not isinstance(commitment, Commitment) or not isinstance(commitment.root, bytes):
        raise LigeroError("malformed commitment")
    if not all(isinstance(v, int) for v in (commitment.num_vars, commitment.row_bits)):
        raise LigeroError("malformed commitment: shape is not integral")
    if len(commitment.root) != merkle.DIGEST_SIZE:
        raise LigeroError("malformed commitment: root is not 32 bytes")
    if not 0 <= commitment.num_vars <= MAX_NUM_VARS or not 0 <= commitment.row_bits <= commitment.num_vars:
        raise LigeroError("malformed commitment: impossible matrix shape")
    if commitment.col_bits + params.rate_log > MAX_LOG_SIZE:
        raise LigeroError("malformed commitment: codeword longer than the NTT supports")


def _verifier_points(points: object, num_vars: int) -> list[np.ndarray]:
    """The public opening points, each a canonical (4, num_vars) K array; at least one."""
    if not isinstance(points, list) or not points:
        raise LigeroError("opening points must be a non-empty list")
    for z in points:
        if not isinstance(z, np.ndarray) or z.dtype != np.uint64 or z.shape != (F.EXT_DEGREE, num_vars):
            raise LigeroError(f"an opening point must be a uint64 K array of shape (4, {num_vars})")
        if np.any(z >= _P):
            raise LigeroError("an opening point holds an element >= p")
    return points


def _verifier_values(values: object, count: int) -> list[np.ndarray]:
    """The claimed values: one canonical K scalar (4,) per point."""
    if not isinstance(values, list) or len(values) != count:
        raise LigeroError(f"expected {count} claimed values, one per point")
    for v in values:
        if not isinstance(v, np.ndarray) or v.dtype != np.uint64 or v.shape != (F.EXT_DEGREE,):
            raise LigeroError("a claimed value must be a uint64 K scalar of shape (4,)")
        if np.any(v >= _P):
            raise LigeroError("a claimed value holds an element >= p")
    return values


# ------------------------------------------------------------------------------ the commitment seam
RATE_LOGS = (1, 2, 3)
"""Code rates a proof may use: 1/2, 1/4 (the default) or 1/8."""
MAX_QUERIES = 512
"""Most column queries a proof may ask the verifier to check (the default needs 148 for 100 bits)."""
HEADER_KEYS = ("queries", "rate_log")
ENCODE_SCRATCH_PER_ELEMENT = 28
"""Bytes of NTT scratch per codeword entry being transformed (its uint64 codeword, the butterflies' two
half-size temporaries, the gather into column order as uint64 and uint32)."""


def _is_int(value: object) -> bool:
    return type(value) is int


class LigeroScheme:
    """Ligero behind the commitment seam; its header entry is "ligero": {rate_log, queries}."""

    header_key = "ligero"
    opening_type = OpeningProof

    def default_params(self) -> LigeroParams:
        """Rate 1/4, >= 100 bits."""
        return LigeroParams(rate_log=2, security_bits_target=100)

    def params_header(self, params: LigeroParams) -> dict:
        """The rate and the query count."""
        return {"rate_log": params.rate_log, "queries": params.num_queries()}

    def params_from_header(self, entry: object) -> LigeroParams:
        """The parameters a header names, each within the allowed range: the verifier's work grows with
        them, so the proof may not pick them freely."""
        if (
            not isinstance(entry, dict)
            or sorted(entry) != sorted(HEADER_KEYS)
            or not all(map(_is_int, entry.values()))
        ):
            raise ValueError("commitment parameters are not {rate_log, queries} integers")
        if entry["rate_log"] not in RATE_LOGS:
            raise ValueError(f"rate_log {entry['rate_log']} is not one of {RATE_LOGS}")
        if not 1 <= entry["queries"] <= MAX_QUERIES:
            raise ValueError(f"{entry['queries']} column queries is outside [1, {MAX_QUERIES}]")
        return LigeroParams(rate_log=entry["rate_log"], queries=entry["queries"])

    def security_bits(self, params: LigeroParams) -> float:
        """The worst case over every vector size (``LigeroParams.security_bits``)."""
        return params.security_bits()

    def commit(self, vector: np.ndarray, params: LigeroParams) -> tuple[Commitment, CommitState]:
        """See ``commit``."""
        return commit(vector, params)

    def spill(self, state: CommitState, directory: str | Path) -> CommitState:
        """The state with its rows on disk (``spill.spill``); the Merkle tree stays in memory."""
        return dataclasses.replace(state, rows=spill(state.rows, directory))

    def open(
        self, state: CommitState, points: list[np.ndarray], transcript: Transcript, label: str
    ) -> tuple[list[np.ndarray], OpeningProof]:
        """See ``open``."""
        return open(state, points, transcript, label)

    def commitment(self, root: bytes, length: int, params: LigeroParams) -> Commitment:
        """The matrix shape follows from the vector's size and the parameters."""
        num_vars = poly.num_vars(poly.next_pow2(length))
        return Commitment(root=root, num_vars=num_vars, row_bits=params.layout(num_vars)[0])

    def opening_bytes_ceiling(self, commitment: Commitment, params: LigeroParams, num_points: int) -> int:
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
        params: LigeroParams,
    ) -> None:
        """See ``verify``."""
        verify(commitment, points, values, proof, transcript, label, params)

    def state_bytes(self, vector_len: int, params: LigeroParams, spilled: bool = False) -> int:
        """The rows holding the first ``vector_len`` elements (uint32; the zero rows after them are not
        kept; none once ``spilled``) and the Merkle tree over the encoded columns (leaf digests and inner
        nodes)."""
        num_vars = max(vector_len - 1, 0).bit_length()
        _, col_bits = params.layout(num_vars)
        width = 1 << col_bits
        rows = 0 if spilled else -(-vector_len // width)
        tree = merkle.DIGEST_SIZE * ((2 << (col_bits + params.rate_log)) - 1)
        return _ELEMENT_BYTES * width * rows + tree

    def commit_bytes(self, vector_len: int, params: LigeroParams, threads: int = 1) -> int:
        """Commit's transients: a leaf digest per encoded column, the block of encoded rows being hashed,
        the NTT's scratch while encoding it (a sub-block on each of ``threads`` threads) and, when the rows
        take several blocks, a hash object per column."""
        num_vars = max(vector_len - 1, 0).bit_length()
        _, col_bits = params.layout(num_vars)
        length = 1 << (col_bits + params.rate_log)
        rows = -(-vector_len // (1 << col_bits))  # the non-zero rows
        block_rows = max(1, min(rows, HASH_BLOCK_BYTES // (_ELEMENT_BYTES * length)))
        scratch = ENCODE_SCRATCH_PER_ELEMENT * encode_scratch_elements(block_rows, length, threads)
        hashers = HASHER_BYTES * length if rows > block_rows else 0
        return (hashers + merkle.DIGEST_SIZE * length) + _ELEMENT_BYTES * block_rows * length + scratch


LIGERO = LigeroScheme()
"""The commitment scheme proofs use."""
