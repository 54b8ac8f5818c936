"""Ligero commitment: completeness against poly.evaluate, and a rejection for every verifier check."""

import dataclasses

import numpy as np
import pytest
from conftest import reference_encoding, reference_tree
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeprove import field as F
from edgeprove import poly, sumcheck
from edgeprove.commit import ligero as L
from edgeprove.transcript import Transcript

PARAMS = L.LigeroParams()


def opened(num_vars: int, num_points: int, seed: int = 0, params: L.LigeroParams = PARAMS):
    """Commit to random data, open it at random points; return everything the verifier needs."""
    rng = np.random.default_rng(seed)
    values = F.random_base(rng, 1 << num_vars)
    commitment, state = L.commit(values, params)
    points = [F.random_ext(rng, num_vars) for _ in range(num_points)]
    claimed, proof = L.open(state, points, Transcript(), "open")
    return values, commitment, state, points, claimed, proof


def check(commitment, points, claimed, proof, label="open", transcript=None, params=PARAMS):
    L.verify(commitment, points, claimed, proof, transcript or Transcript(), label, params)


def rejected(match: str, commitment, points, claimed, proof, **kwargs):
    with pytest.raises(L.LigeroError, match=match):
        check(commitment, points, claimed, proof, **kwargs)


# ------------------------------------------------------------------------------------ parameters
def test_default_security_reaches_target():
    assert PARAMS.num_queries() == 148
    assert PARAMS.security_bits() >= 100
    assert PARAMS.security_bits(20) >= 100


def test_fewer_queries_lower_security():
    weaker = L.LigeroParams(queries=PARAMS.num_queries() // 2)
    assert weaker.num_queries() == 74
    assert weaker.security_bits() < PARAMS.security_bits() - 40


def test_lower_rate_needs_fewer_queries_for_the_same_target():
    sparse = L.LigeroParams(rate_log=3)
    assert sparse.num_queries() < PARAMS.num_queries()
    assert sparse.security_bits() >= 100


def test_field_term_caps_security():
    greedy = L.LigeroParams(queries=10_000)
    assert greedy.security_bits(20) == pytest.approx(L.EXT_FIELD_BITS - sum(greedy.layout(20)[1:]) - 2)
    assert greedy.security_bits(20) < 124


@pytest.mark.parametrize("num_vars", [0, 1, 7, 20, 32])
def test_layout_splits_every_variable_and_fits_the_ntt(num_vars):
    row_bits, col_bits = PARAMS.layout(num_vars)
    assert row_bits + col_bits == num_vars and row_bits >= 0 and col_bits >= 0
    assert col_bits + PARAMS.rate_log <= 27


@pytest.mark.parametrize(
    "kwargs",
    [{"rate_log": 0}, {"rate_log": 9}, {"queries": 0}, {"security_bits_target": 0}],
)
def test_bad_params_refused(kwargs):
    with pytest.raises(ValueError):
        L.LigeroParams(**kwargs)


# ---------------------------------------------------------------------------------- completeness
@pytest.mark.parametrize("num_vars", [0, 1, 5, 12])
@pytest.mark.parametrize("num_points", [1, 2, 4])
def test_opened_values_are_the_mle(num_vars, num_points):
    seed = num_vars + 7 * num_points
    values, commitment, _, points, claimed, proof = opened(num_vars, num_points, seed=seed)
    assert commitment.num_vars == num_vars
    for z, value in zip(points, claimed):
        assert F.ext_eq(value, poly.evaluate(values, z))
    check(commitment, points, claimed, proof)
    rounds = sum(r.size for r in proof.row_sumcheck.rounds)
    assert len(proof.row_sumcheck.rounds) == commitment.row_bits
    elements = rounds + proof.row.size + proof.proximity_row.size + proof.columns.size
    assert proof.nbytes() == 4 * elements + len(proof.paths)
    length = 1 << (commitment.col_bits + PARAMS.rate_log)
    assert proof.columns.shape[0] == min(length, proof.columns.shape[0])
    assert proof.nbytes() <= L.opening_bytes_ceiling(commitment, PARAMS, num_points)


@settings(max_examples=15, deadline=None)
@given(length=st.integers(1, 5000), num_points=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_random_sizes_complete(length, num_points, seed):
    rng = np.random.default_rng(seed)
    data = F.random_base(rng, length)
    commitment, state = L.commit(data, PARAMS)
    padded = np.zeros(1 << commitment.num_vars, dtype=np.uint64)
    padded[:length] = data
    points = [F.random_ext(rng, commitment.num_vars) for _ in range(num_points)]
    claimed, proof = L.open(state, points, Transcript(), "random")
    assert all(F.ext_eq(v, poly.evaluate(padded, z)) for v, z in zip(claimed, points))
    check(commitment, points, claimed, proof, label="random")


@pytest.mark.parametrize("length", [3, 37, 1000])
def test_non_power_of_two_data_is_zero_padded(length):
    rng = np.random.default_rng(length)
    data = rng.integers(0, F.P, length, dtype=np.uint64)
    commitment, state = L.commit(data.astype(np.int64), PARAMS)
    n = commitment.num_vars
    assert 1 << n == poly.next_pow2(length)
    padded = np.zeros(1 << n, dtype=np.uint64)
    padded[:length] = data
    points = [F.random_ext(rng, n), F.random_ext(rng, n)]
    claimed, proof = L.open(state, points, Transcript(), "pad")
    assert all(F.ext_eq(v, poly.evaluate(padded, z)) for v, z in zip(claimed, points))
    check(commitment, points, claimed, proof, label="pad")


def test_aligned_segments_open_as_sub_vectors():
    """A vector of two 2^4 segments: opening at (segment bit, z) is the segment's own MLE at z."""
    rng = np.random.default_rng(5)
    first, second = F.random_base(rng, 16), F.random_base(rng, 16)
    commitment, state = L.commit(np.concatenate([first, second]), PARAMS)
    z = F.random_ext(rng, 4)
    points = [poly.concat_points(F.ext_zeros(1), z), poly.concat_points(F.ext_ones(1), z)]
    claimed, proof = L.open(state, points, Transcript(), "seg")
    assert F.ext_eq(claimed[0], poly.evaluate(first, z))
    assert F.ext_eq(claimed[1], poly.evaluate(second, z))
    check(commitment, points, claimed, proof, label="seg")


@pytest.mark.parametrize(
    "params",
    [L.LigeroParams(rate_log=1), L.LigeroParams(rate_log=3, queries=9), L.LigeroParams(queries=1)],
)
def test_other_parameters_complete(params):
    _, commitment, _, points, claimed, proof = opened(9, 3, seed=2, params=params)
    check(commitment, points, claimed, proof, params=params)


def test_openings_of_different_commitments_share_one_transcript():
    rng = np.random.default_rng(11)
    data = [F.random_base(rng, 1 << 6), F.random_base(rng, 1 << 9)]
    committed = [L.commit(d, PARAMS) for d in data]
    points = [[F.random_ext(rng, 6)], [F.random_ext(rng, 9), F.random_ext(rng, 9)]]
    prover = Transcript()
    states = [state for _, state in committed]
    proofs = [L.open(state, pts, prover, f"layer{i}") for i, (state, pts) in enumerate(zip(states, points))]
    verifier = Transcript()
    for i, ((commitment, _), pts, (claimed, proof)) in enumerate(zip(committed, points, proofs)):
        L.verify(commitment, pts, claimed, proof, verifier, f"layer{i}", PARAMS)
    assert verifier.digest() == prover.digest()
    swapped = Transcript()
    (c0, _), (c1, _) = committed
    with pytest.raises(L.LigeroError):
        L.verify(c0, points[0], proofs[0][0], proofs[0][1], swapped, "layer1", PARAMS)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(0, dtype=np.uint64), "non-empty"),
        (np.zeros((2, 2), dtype=np.uint64), "1-D"),
        (np.zeros(4, dtype=np.float64), "integer"),
        (np.array([1, -2, 3]), r"\[0, p\)"),
        (np.array([F.P], dtype=np.uint64), r"\[0, p\)"),
    ],
)
def test_bad_commit_input_is_a_clear_error(bad, message):
    with pytest.raises(ValueError, match=message):
        L.commit(bad, PARAMS)


def test_bad_opening_point_is_a_clear_error():
    _, state = L.commit(np.arange(8, dtype=np.uint64), PARAMS)
    for bad in ([F.ext_zeros(2)], [np.full((4, 3), F.P, dtype=np.uint64)], []):
        with pytest.raises(ValueError, match="point"):
            L.open(state, bad, Transcript(), "x")


# ------------------------------------------------------------------------------------- soundness
@pytest.fixture(scope="module")
def honest():
    return opened(14, 3, seed=99)[1:]


def with_proof(proof, **changes):
    return dataclasses.replace(proof, **changes)


def test_honest_proof_accepted(honest):
    commitment, _, points, claimed, proof = honest
    check(commitment, points, claimed, proof)


def test_altered_merkle_path_rejected(honest):
    commitment, _, points, claimed, proof = honest
    for position in (0, 40, len(proof.paths) - 1):
        paths = bytearray(proof.paths)
        paths[position] ^= 1
        rejected("Merkle multi-path", commitment, points, claimed, with_proof(proof, paths=bytes(paths)))


def test_altered_column_entry_rejected(honest):
    commitment, _, points, claimed, proof = honest
    columns = proof.columns.copy()
    columns[0, 3] = (columns[0, 3] + 1) % F.P
    rejected("Merkle multi-path", commitment, points, claimed, with_proof(proof, columns=columns))


def test_wrong_value_rejected(honest):
    commitment, _, points, claimed, proof = honest
    wrong = list(claimed)
    wrong[2] = F.ext_add(wrong[2], F.ext_ones())
    rejected("rows: round 0 sum", commitment, points, wrong, proof)


def test_altered_row_sumcheck_rejected(honest):
    commitment, _, points, claimed, proof = honest
    for index in (0, commitment.row_bits - 1):
        rounds = [r.copy() for r in proof.row_sumcheck.rounds]
        rounds[index][2, 1] = (rounds[index][2, 1] + 1) % F.P
        bad = with_proof(proof, row_sumcheck=dataclasses.replace(proof.row_sumcheck, rounds=rounds))
        with pytest.raises(
            L.LigeroError, match="does not match the claim|row disagrees with the row sumcheck"
        ):
            check(commitment, points, claimed, bad)


def test_altered_row_rejected(honest):
    commitment, _, points, claimed, proof = honest
    row = proof.row.copy()
    row[1, 0] = (row[1, 0] + 5) % F.P
    rejected("row disagrees with the row sumcheck", commitment, points, claimed, with_proof(proof, row=row))


def test_altered_proximity_row_rejected(honest):
    commitment, _, points, claimed, proof = honest
    row = proof.proximity_row.copy()
    row[0, -1] = (row[0, -1] + 1) % F.P
    with pytest.raises(L.LigeroError):
        check(commitment, points, claimed, with_proof(proof, proximity_row=row))


def test_wrong_root_rejected(honest):
    commitment, state, points, claimed, proof = honest
    other, _ = L.commit(np.roll(matrix_of(state).reshape(-1), 1), PARAMS)
    assert other.row_bits == commitment.row_bits
    with pytest.raises(L.LigeroError):
        check(other, points, claimed, proof)
    # a transcript consistent with the other root: only the Merkle check stands between
    claimed, proof = L.open(dataclasses.replace(state, commitment=other), points, Transcript(), "open")
    rejected("Merkle multi-path", other, points, claimed, proof)


@pytest.mark.parametrize("label, prior", [("other", None), ("open", b"earlier message")])
def test_transcript_divergence_rejected(honest, label, prior):
    commitment, _, points, claimed, proof = honest
    transcript = Transcript()
    if prior is not None:
        transcript.absorb_bytes("earlier", prior)
    with pytest.raises(L.LigeroError):
        check(commitment, points, claimed, proof, label=label, transcript=transcript)


def test_different_points_rejected(honest):
    commitment, _, points, claimed, proof = honest
    moved = [points[1], points[0], points[2]]
    with pytest.raises(L.LigeroError):
        check(commitment, moved, [claimed[1], claimed[0], claimed[2]], proof)


@pytest.mark.parametrize(
    "field, transform, message",
    [
        ("columns", lambda a: a[:-1], "columns has shape"),
        ("columns", lambda a: np.concatenate([a, a[:1]]), "columns has shape"),
        ("columns", lambda a: a[:, :-1], "columns has shape"),
        ("columns", lambda a: a.astype(np.int64), "not a uint64 array"),
        ("columns", lambda a: a.tolist(), "not a uint64 array"),
        ("paths", lambda p: p[:-1], "Merkle multi-path"),
        ("paths", lambda p: p + p[:32], "Merkle multi-path"),
        ("paths", lambda p: list(p), "Merkle multi-path"),
        ("paths", lambda p: p[:-32], "Merkle multi-path"),
        ("row", lambda a: a[:, :-1], "row has shape"),
        ("row", lambda a: a[:3], "row has shape"),
        ("row_sumcheck", lambda s: None, "not an OpeningProof"),
        ("row_sumcheck", lambda s: dataclasses.replace(s, rounds=s.rounds[:-1]), "expected 5 rounds"),
        ("row_sumcheck", lambda s: dataclasses.replace(s, rounds=tuple(s.rounds)), "not a list"),
        (
            "row_sumcheck",
            lambda s: dataclasses.replace(s, rounds=[r[:, :2] for r in s.rounds]),
            "round 0 has shape",
        ),
        ("proximity_row", lambda a: a[:3], "proximity row has shape"),
        ("proximity_row", lambda a: None, "not a uint64 array"),
    ],
)
def test_malformed_proof_rejected(honest, field, transform, message):
    commitment, _, points, claimed, proof = honest
    bad = with_proof(proof, **{field: transform(getattr(proof, field))})
    rejected(message, commitment, points, claimed, bad)


def test_not_a_proof_rejected(honest):
    commitment, _, points, claimed, _ = honest
    rejected("not an OpeningProof", commitment, points, claimed, {"columns": []})


@pytest.mark.parametrize("field", ["columns", "row", "proximity_row"])
def test_element_not_below_p_rejected(honest, field):
    commitment, _, points, claimed, proof = honest
    arr = getattr(proof, field).copy()
    arr.reshape(-1)[0] += F.P  # same residue, non-canonical
    rejected(">= p", commitment, points, claimed, with_proof(proof, **{field: arr}))


def test_non_canonical_value_or_point_rejected(honest):
    commitment, _, points, claimed, proof = honest
    value = claimed[0].copy()
    value[1] += F.P
    rejected(">= p", commitment, points, [value, *claimed[1:]], proof)
    point = points[0].copy()
    point[0, 0] += F.P
    rejected(">= p", commitment, [point, *points[1:]], claimed, proof)


@pytest.mark.parametrize(
    "points_of, values_of, message",
    [
        (lambda p: p[:2], lambda v: v[:2], "rows: round 0 sum"),
        (lambda p: p, lambda v: v[:2], "claimed values"),
        (lambda p: [], lambda v: [], "non-empty"),
        (lambda p: [p[0][:, :-1], *p[1:]], lambda v: v, "shape"),
        (lambda p: p, lambda v: [v[0].astype(np.int64), *v[1:]], "K scalar"),
    ],
)
def test_malformed_statement_rejected(honest, points_of, values_of, message):
    commitment, _, points, claimed, proof = honest
    rejected(message, commitment, points_of(points), values_of(claimed), proof)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"row_bits": 15}, "impossible matrix shape"),
        ({"num_vars": 40}, "impossible matrix shape"),
        ({"root": b"short"}, "32 bytes"),
        ({"row_bits": 6}, "shape"),
        ({"num_vars": 14.0}, "not integral"),
        ({"root": "text"}, "malformed commitment"),
    ],
)
def test_malformed_commitment_rejected(honest, changes, message):
    commitment, _, points, claimed, proof = honest
    rejected(message, dataclasses.replace(commitment, **changes), points, claimed, proof)


def test_rate_mismatch_rejected(honest):
    commitment, _, points, claimed, proof = honest
    with pytest.raises(L.LigeroError):
        check(commitment, points, claimed, proof, params=L.LigeroParams(rate_log=3))


# ------------------------------------------------------------------ cheating provers (consistent transcript)
def matrix_of(state) -> np.ndarray:
    """The committed (R, C) matrix as uint64: the state's rows and the zero rows it leaves implicit."""
    matrix = np.zeros((1 << state.commitment.row_bits, state.rows.shape[1]), dtype=np.uint64)
    matrix[: state.rows.shape[0]] = state.rows
    return matrix


def cheating_open(
    state, points, transcript, label, row_shift=None, proximity_shift=None, value_shift=None, encoded=None
):
    """The prover's steps on the whole matrix and its encoded columns (``encoded``, else the honest ones),
    but shifting a claimed value, u or u_0 while keeping the transcript consistent (the row sumcheck is run
    honestly on the shifted claim's combination)."""
    commitment, params = state.commitment, state.params
    matrix = matrix_of(state)
    encoded = reference_encoding(matrix, params.rate_log) if encoded is None else encoded
    L.absorb_statement(transcript, label, commitment, params, points)
    row_eqs = L.row_combinations(points, commitment.row_bits)
    col_eqs = np.stack([poly.eq_table(z[:, commitment.row_bits :]) for z in points], axis=1)
    partial = L.combine_columns(matrix, col_eqs, matrix.shape[0])
    values = [F.ext_inner(row_eqs[:, j], partial[:, j]) for j in range(len(points))]
    if value_shift is not None:
        values[-1] = F.ext_add(values[-1], value_shift)
    transcript.absorb_ext(f"{label}/values", np.stack(values, axis=1))
    powers = L._powers(transcript.challenge_ext(f"{label}/rho"), len(points))
    k = len(points)
    terms = [(powers[:, j], (j, k + j)) for j in range(k)]
    tables = [row_eqs[:, j] for j in range(k)] + [partial[:, j] for j in range(k)]
    row_sumcheck, row_point, _, _ = sumcheck.prove(tables, terms, 2, transcript, f"{label}/rows")
    row = L.combine_rows(poly.eq_table(row_point)[:, None, :], matrix)[:, 0, :]
    if row_shift is not None:
        row = F.ext_add(row, row_shift)
    transcript.absorb_ext(f"{label}/row", row)
    gamma = transcript.challenge_ext_vec(f"{label}/gamma", 1 << commitment.row_bits)
    proximity = L.combine_rows(gamma[:, None, :], matrix)[:, 0, :]
    if proximity_shift is not None:
        proximity = F.ext_add(proximity, proximity_shift)
    transcript.absorb_ext(f"{label}/proximity-row", proximity)
    indices = L.query_indices(transcript, label, params, commitment)
    columns = encoded[indices].astype(np.uint64)
    tree = reference_tree(encoded)
    return values, L.OpeningProof(row_sumcheck, row, proximity, columns, tree.open(indices))


@pytest.fixture(scope="module")
def committed():
    rng = np.random.default_rng(21)
    commitment, state = L.commit(F.random_base(rng, 1 << 14), PARAMS)
    assert commitment.col_bits > 0
    points = [F.random_ext(rng, 14) for _ in range(2)]
    return commitment, state, points, rng


def test_cheating_prover_replica_is_accepted_without_cheating(committed):
    commitment, state, points, _ = committed
    claimed, proof = cheating_open(state, points, Transcript(), "cheat")
    check(commitment, points, claimed, proof, label="cheat")


def test_false_value_with_an_honest_row_sumcheck_rejected(committed):
    """A false value makes the sumcheck's claim false: run on the true tables, its first round no longer
    sums to it."""
    commitment, state, points, rng = committed
    claimed, proof = cheating_open(state, points, Transcript(), "cheat", value_shift=F.random_ext(rng))
    assert not F.ext_eq(claimed[1], poly.evaluate(matrix_of(state).reshape(-1), points[1]))
    rejected("rows: round 0 sum", commitment, points, claimed, proof, label="cheat")


def test_row_off_the_matrix_with_consistent_transcript_rejected(committed):
    """u shifted by a multiple of a vector orthogonal to every eq(z_j,col) keeps the final sumcheck check,
    so only the column check stands between: it catches u."""
    commitment, state, points, rng = committed
    width = 1 << commitment.col_bits
    col_eqs = np.stack([poly.eq_table(z[:, commitment.row_bits :]) for z in points], axis=1)
    shift = F.random_ext(rng, width)
    # make the shift orthogonal to both eq(z_j,col) by fixing two of its entries
    for j in range(2):
        shift[:, j] = 0
    system = col_eqs[:, :, :2]  # (4, 2, 2): <shift, eq_j> = rest_j + shift_0 eq_j[0] + shift_1 eq_j[1]
    rest = [F.ext_inner(shift, col_eqs[:, j]) for j in range(2)]
    det = F.ext_sub(F.ext_mul(system[:, 0, 0], system[:, 1, 1]), F.ext_mul(system[:, 0, 1], system[:, 1, 0]))
    inv = F.ext_inv(det)
    s0 = F.ext_mul(inv, F.ext_sub(F.ext_mul(system[:, 0, 1], rest[1]), F.ext_mul(system[:, 1, 1], rest[0])))
    s1 = F.ext_mul(inv, F.ext_sub(F.ext_mul(system[:, 1, 0], rest[0]), F.ext_mul(system[:, 0, 0], rest[1])))
    shift[:, 0], shift[:, 1] = s0, s1
    for j in range(2):
        assert F.ext_eq(F.ext_inner(shift, col_eqs[:, j]), F.ext_zeros())
    claimed, proof = cheating_open(state, points, Transcript(), "cheat", row_shift=shift)
    rejected("row u disagrees with the queried columns", commitment, points, claimed, proof, label="cheat")


def test_wrong_proximity_row_with_consistent_transcript_rejected(committed):
    commitment, state, points, rng = committed
    shift = F.random_ext(rng, 1 << commitment.col_bits)
    claimed, proof = cheating_open(state, points, Transcript(), "cheat", proximity_shift=shift)
    rejected("proximity row", commitment, points, claimed, proof, label="cheat")


def test_committed_non_codeword_rejected(committed):
    """Columns whose entries are not the encoding of any row pass the Merkle check but fail consistency."""
    commitment, state, points, _ = committed
    corrupted = reference_encoding(matrix_of(state), PARAMS.rate_log)
    corrupted[:, 0] = (corrupted[:, 0].astype(np.uint64) + 1) % F.P  # every column's row-0 entry
    bad_commitment = dataclasses.replace(commitment, root=reference_tree(corrupted).root)
    bad_state = dataclasses.replace(state, commitment=bad_commitment)
    claimed, proof = cheating_open(bad_state, points, Transcript(), "cheat", encoded=corrupted)
    with pytest.raises(L.LigeroError, match="disagrees with the queried columns"):
        check(bad_commitment, points, claimed, proof, label="cheat")


def test_many_points_are_combined_a_block_at_a_time_with_the_same_opening(monkeypatch):
    """Column eq tables are built POINT_BLOCK points at a time; the opening does not depend on the block."""
    rng = np.random.default_rng(11)
    data = F.random_base(rng, 1 << 10)
    commitment, state = L.commit(data, PARAMS)
    points = [F.random_ext(rng, commitment.num_vars) for _ in range(L.POINT_BLOCK * 2 + 3)]
    claimed, proof = L.open(state, points, Transcript(), "many")
    assert all(F.ext_eq(v, poly.evaluate(data, z)) for v, z in zip(claimed, points))
    monkeypatch.setattr(L, "POINT_BLOCK", 1)
    again, same = L.open(state, points, Transcript(), "many")
    assert all(F.ext_eq(a, b) for a, b in zip(again, claimed))
    assert np.array_equal(same.row, proof.row) and same.paths == proof.paths
    check(commitment, points, claimed, proof, label="many")
