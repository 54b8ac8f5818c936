"""The streaming Ligero prover: its root and openings are byte for byte those of the straightforward prover
(the whole padded matrix encoded, every column hashed), and its state holds no encoded matrix."""

import dataclasses
import tracemalloc

import numpy as np
import pytest
from conftest import reference_encoding, reference_tree
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeprove import field as F
from edgeprove import poly, sumcheck
from edgeprove.commit import ligero as L
from edgeprove.commit import merkle, ntt
from edgeprove.transcript import Transcript

PARAMS = L.LigeroParams()


@dataclasses.dataclass
class Reference:
    """The straightforward commitment: the padded matrix, all its encoded columns and the full tree."""

    matrix: np.ndarray
    encoded: np.ndarray
    tree: merkle.MerkleTree
    row_bits: int


def reference_commit(values: np.ndarray, params: L.LigeroParams) -> Reference:
    padded = np.zeros(poly.next_pow2(values.size), dtype=np.uint64)
    padded[: values.size] = values
    row_bits, col_bits = params.layout(poly.num_vars(padded.size))
    matrix = padded.reshape(1 << row_bits, 1 << col_bits)
    encoded = reference_encoding(matrix, params.rate_log)
    return Reference(matrix, encoded, reference_tree(encoded), row_bits)


def reference_open(ref: Reference, commitment, params, points, transcript, label):
    """Open from the whole matrix and its encoded columns, with the generic sumcheck and K inner products."""
    L.absorb_statement(transcript, label, commitment, params, points)
    rb = ref.row_bits
    lifted = F.ext_from_base(ref.matrix)  # (4, R, C)
    row_eqs = [poly.eq_table(z[:, :rb]) for z in points]
    partial = [F.ext_inner_rows(lifted, poly.eq_table(z[:, rb:])) for z in points]  # M eq(z_col): (4, R)
    values = [F.ext_inner(e, h) for e, h in zip(row_eqs, partial)]
    transcript.absorb_ext(f"{label}/values", np.stack(values, axis=1))
    powers = L._powers(transcript.challenge_ext(f"{label}/rho"), len(points))
    k = len(points)
    terms = [(powers[:, j], (j, k + j)) for j in range(k)]
    rows_proof, row_point, _, _ = sumcheck.prove(row_eqs + partial, terms, 2, transcript, f"{label}/rows")
    by_column = F.ext_from_base(ref.matrix.T.copy())  # (4, C, R)
    row = F.ext_inner_rows(by_column, poly.eq_table(row_point))
    transcript.absorb_ext(f"{label}/row", row)
    gamma = transcript.challenge_ext_vec(f"{label}/gamma", 1 << rb)
    proximity = F.ext_inner_rows(by_column, gamma)
    transcript.absorb_ext(f"{label}/proximity-row", proximity)
    indices = L.query_indices(transcript, label, params, commitment)
    columns = ref.encoded[indices].astype(np.uint64)
    return values, L.OpeningProof(rows_proof, row, proximity, columns, ref.tree.open(indices))


def vector(length: int, zero_tail: int = 0, seed: int = 0) -> np.ndarray:
    """Random canonical elements with the last ``zero_tail`` of them zero."""
    values = F.random_base(np.random.default_rng(seed), length)
    values[length - zero_tail :] = 0
    return values


def assert_streams_like_the_reference(values: np.ndarray, params=PARAMS, num_points: int = 3, seed: int = 1):
    """Commit and open both ways: same root, same opening, same transcript; the opening verifies."""
    commitment, state = L.commit(values, params)
    ref = reference_commit(np.asarray(values, dtype=np.uint64), params)
    assert commitment.root == ref.tree.root
    assert commitment.row_bits == ref.row_bits
    rng = np.random.default_rng(seed)
    points = [F.random_ext(rng, commitment.num_vars) for _ in range(num_points)]
    streamed, theirs = Transcript(), Transcript()
    values_s, proof_s = L.open(state, points, streamed, "open")
    values_r, proof_r = reference_open(ref, commitment, params, points, theirs, "open")
    assert streamed.digest() == theirs.digest()
    assert all(np.array_equal(a, b) for a, b in zip(values_s, values_r))
    assert len(proof_s.row_sumcheck.rounds) == len(proof_r.row_sumcheck.rounds)
    for a, b in zip(proof_s.row_sumcheck.rounds, proof_r.row_sumcheck.rounds):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    for name in ("row", "proximity_row", "columns"):
        a, b = getattr(proof_s, name), getattr(proof_r, name)
        assert a.dtype == b.dtype == np.uint64 and a.shape == b.shape and np.array_equal(a, b), name
    assert proof_s.paths == proof_r.paths
    L.verify(commitment, points, values_s, proof_s, Transcript(), "open", params)
    return commitment, state


# ---------------------------------------------------------------------- byte-identical to the reference
@pytest.mark.parametrize(
    "length, zero_tail",
    [
        (1, 0),  # one row, one column
        (1, 1),  # a single zero
        (2, 0),
        (3, 1),
        (300, 0),  # 2^9 rows of one column each
        (512, 200),
        (1000, 0),  # 16 x 64, padded
        (3000, 1100),  # a zero tail of whole rows and part of one
        (1 << 12, 512),  # the tail is exactly the last two rows
        (1 << 12, 1 << 12),  # all zero
        (1 << 12, (1 << 12) - 256),  # only the first row holds data
        ((3 << 14) + 5, 0),  # 3 x 2^14 + small: the last quarter of the rows is padding
    ],
)
def test_root_and_opening_are_the_reference_ones(length, zero_tail):
    assert_streams_like_the_reference(vector(length, zero_tail, seed=length + zero_tail))


@pytest.mark.parametrize("block_bytes", [1, 3 * 4 * 4096, 1 << 30])
def test_any_block_of_rows_gives_the_same_commitment(monkeypatch, block_bytes):
    """One row per block, blocks that do not divide the rows, and everything in one block."""
    monkeypatch.setattr(L, "HASH_BLOCK_BYTES", block_bytes)
    assert_streams_like_the_reference(vector(12_000, 2_000, seed=3))


@pytest.mark.parametrize(
    "params",
    [L.LigeroParams(rate_log=1), L.LigeroParams(rate_log=3, queries=9), L.LigeroParams(queries=1)],
)
def test_other_parameters_give_the_reference_commitment(params):
    assert_streams_like_the_reference(vector(5000, 700, seed=9), params=params, num_points=2)


@pytest.mark.parametrize("dtype", [np.uint64, np.int64, np.uint32, np.int32])
def test_every_integer_dtype_commits_alike(dtype):
    values = vector(2500, 300, seed=5)
    assert_streams_like_the_reference(values.astype(dtype))


def test_interior_zero_rows_are_committed_as_data():
    values = vector(1 << 14, seed=6)
    values[1 << 12 : 3 << 12] = 0  # zero rows in the middle, data after them
    _, state = assert_streams_like_the_reference(values)
    assert state.rows.shape[0] << PARAMS.layout(14)[1] == 1 << 14


@settings(max_examples=12, deadline=None)
@given(
    length=st.integers(1, 6000),
    tail=st.floats(0, 1),
    rate_log=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_vectors_give_the_reference_commitment(length, tail, rate_log, seed):
    values = vector(length, int(tail * length), seed=seed)
    assert_streams_like_the_reference(
        values, params=L.LigeroParams(rate_log=rate_log), num_points=2, seed=seed
    )


# ------------------------------------------------------------------------------------ what is kept
def test_state_holds_the_non_zero_rows_and_the_tree_only():
    length, tail = (3 << 14) + 5, 0
    values = vector(length, tail, seed=7)
    commitment, state = L.commit(values, PARAMS)
    width = 1 << commitment.col_bits
    codeword = width << PARAMS.rate_log
    assert state.rows.dtype == np.uint32 and state.rows.flags.c_contiguous
    assert state.rows.shape == (-(-length // width), width)  # the trailing zero rows are not stored
    assert np.array_equal(state.rows.reshape(-1)[:length], values)
    assert state.nbytes() == state.rows.nbytes + merkle.DIGEST_SIZE * (2 * codeword - 1)
    arrays = [getattr(state, f.name) for f in dataclasses.fields(state)] + state.tree.levels
    assert sum(a.nbytes for a in arrays if isinstance(a, np.ndarray)) == state.nbytes()
    assert state.nbytes() <= 4 * (length + width) + 2 * merkle.DIGEST_SIZE * codeword  # compact vector + tree
    encoded_bytes = 4 * codeword << commitment.row_bits
    assert state.nbytes() < encoded_bytes / 2  # it held the encoded matrix (and a uint64 view of the vector)
    assert L.LIGERO.state_bytes(length, PARAMS) == state.nbytes()  # the planner's figure is exact


def test_zero_rows_are_not_encoded(monkeypatch):
    encoded_rows = []

    def counting(rows, rate_log, out):
        encoded_rows.append(rows.shape[0])
        return ntt.encode_rows_into(rows, rate_log, out)

    monkeypatch.setattr(L, "encode_rows_into", counting)
    commitment, state = L.commit(vector(1 << 16, 1 << 14, seed=8), PARAMS)
    assert sum(encoded_rows) == state.rows.shape[0] == 3 << (commitment.row_bits - 2)


def test_uint32_data_is_kept_as_a_view_and_a_changed_view_cannot_be_opened():
    values = vector(1 << 12, 1000, seed=9).astype(np.uint32)
    _, state = L.commit(values, PARAMS)
    assert np.shares_memory(state.rows, values)
    values[5] = (values[5] + 1) % F.P  # the caller changed what it committed
    point = F.random_ext(np.random.default_rng(0), 12)
    with pytest.raises(ValueError, match="not the committed ones"):
        L.open(state, [point], Transcript(), "open")


def test_other_data_is_copied_compactly():
    for values in (vector(1 << 12, seed=10), vector(1 << 13, seed=10).astype(np.uint32)[::2]):
        _, state = L.commit(values, PARAMS)
        assert not np.shares_memory(state.rows, values)
        assert state.rows.dtype == np.uint32


def test_commit_transients_are_a_block_not_the_encoded_matrix(monkeypatch):
    """With small blocks, what commit allocates beyond its state is a small fraction of the encoded matrix
    the straightforward prover builds, and within the planner's figures."""
    monkeypatch.setattr(L, "HASH_BLOCK_BYTES", 1 << 18)
    values = vector(1 << 20, seed=11)
    L.commit(values[: 1 << 12], PARAMS)  # warm the twiddle and permutation caches
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    commitment, state = L.commit(values, PARAMS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    encoded_bytes = 4 << (commitment.num_vars + PARAMS.rate_log)
    assert peak - base - state.nbytes() <= encoded_bytes / 4
    assert peak - base <= L.LIGERO.state_bytes(values.size, PARAMS) + L.LIGERO.commit_bytes(
        values.size, PARAMS
    )
