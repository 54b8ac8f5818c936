"""Hiding Ligero: parameters, completeness on random sizes, a rejection for every check of the linear test,
a simulator the verifier accepts, and on tiny tableaux the exact and statistical evidence that an opening
reveals nothing but the claimed values."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from zkstats import affine_dimension, rank_mod_p, simulate_opening, two_sample_chi2_p, uniform_chi2_p

from edgeprove import field as F
from edgeprove import poly, zk
from edgeprove.commit import ligero
from edgeprove.commit import zk_ligero as Z
from edgeprove.transcript import Transcript

PARAMS = Z.ZkLigeroParams()


def opened(num_vars: int, num_points: int, seed: int = 0, params: Z.ZkLigeroParams = PARAMS, length=None):
    """Commit to random data (``length`` elements, zero-padded), open it at random points."""
    rng = np.random.default_rng(seed)
    values = F.random_base(rng, length or 1 << num_vars)
    commitment, state = Z.commit(values, params)
    points = [F.random_ext(rng, num_vars) for _ in range(num_points)]
    claimed, proof = Z.open(state, points, Transcript(), "open")
    return values, commitment, state, points, claimed, proof


def check(commitment, points, claimed, proof, params=PARAMS, transcript=None, label="open"):
    Z.verify(commitment, points, claimed, proof, transcript or Transcript(), label, params)


def challenges(commitment, params, rng, distinct=None) -> Z.Challenges:
    """Verifier coins drawn independently of the transcript (honest-verifier view)."""
    length = 1 << Z._shape(params.rate_log, commitment.queries, commitment.num_vars, commitment.row_bits)[2]
    count = distinct or min(commitment.queries, length)
    indices = np.sort(rng.choice(length, size=count, replace=False)).astype(np.int64)
    u = F.random_ext(rng, commitment.num_rows + F.EXT_DEGREE)
    return Z.Challenges(F.random_ext(rng), u, indices)


def respond(state, points, coins: Z.Challenges) -> Z.ZkOpeningProof:
    """The prover's opening for given coins."""
    functional = Z.claims_functional(points, Z.mle_values(state, points), coins.alpha)
    ldt, dot = Z.prove_rows(state, functional, coins.u)
    columns, salts, paths = Z.open_columns(state, coins.indices)
    return Z.ZkOpeningProof(ldt, dot, columns, salts, paths)


# ------------------------------------------------------------------------------------ parameters
SIZES = sorted({n + (n > 1) * k for n in (1 << k for k in range(33)) for k in (0, -(n // 4), -(n // 2) + 1)})
"""Vector lengths from 1 to 2^32: every power of two, three quarters of it, and just over half."""


def test_every_tableau_takes_the_fewest_queries_that_reach_100_bits_for_both_tests():
    assert PARAMS.security_bits() == 100.0
    for size in SIZES:
        n, row_bits, num_rows, t = PARAMS.layout(size)
        col_bits = n - row_bits
        width, length, domain_bits = Z._shape(3, t, n, row_bits)
        assert 1 << n >= size > (1 << n) // 2 and 0 <= col_bits <= Z.MAX_COL_BITS and domain_bits <= 22
        assert (num_rows - 1) * width < size <= num_rows * width <= 1 << n  # the rows up to the length
        assert width + t <= length <= 3 * (1 << domain_bits) // 8  # D fits, at rate <= 3/8
        assert PARAMS.security_bits(size) >= 100 and t <= 171
        assert all(Z.ZkLigeroParams(queries=fewer).security_bits(size) < 100 for fewer in range(100, t))
    assert PARAMS.num_queries(1 << 18) == 150  # a large tableau needs fewer than the worst width's 171


def test_the_highest_target_a_header_may_name_needs_at_most_512_queries_at_every_length():
    """At t = 512 every width passes a query with probability at most 0.6875 (C = 512, D/L = 3/8): 276 bits,
    so the scan always ends within the bound, whatever length the model gives."""
    strongest = Z.ZK_LIGERO.params_from_header({"group_vars": 18, "rate_log": 3, "security_bits": 256})
    assert Z.ZkLigeroParams(queries=512).security_bits() < 256  # the field term caps the figure ...
    assert Z._query_bits(3, 512, np.arange(Z.MAX_COL_BITS + 1)) >= 256  # ... not the query term
    assert max(strongest.num_queries(size) for size in SIZES) <= Z.MAX_QUERIES


def test_a_fixed_query_count_is_judged_at_the_worst_width():
    assert Z.ZkLigeroParams(queries=171).security_bits() >= 100
    assert Z.ZkLigeroParams(queries=170).security_bits() < 100
    assert Z.ZkLigeroParams(queries=171).num_queries(1 << 18) == 171


def test_lower_rate_needs_fewer_queries():
    assert Z.ZkLigeroParams(rate_log=4).num_queries(1 << 18) < PARAMS.num_queries(1 << 18)
    assert Z.ZkLigeroParams(rate_log=4).security_bits() >= 100


def test_fewer_queries_lower_security():
    assert Z.ZkLigeroParams(queries=85).security_bits() < 60


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_log": 2},
        {"rate_log": 1},
        {"queries": 0},
        {"queries": 513},
        {"group_vars": -1},
        {"group_vars": 33},
    ],
)
def test_bad_params_refused(kwargs):
    with pytest.raises(ValueError):
        Z.ZkLigeroParams(**kwargs)


@pytest.mark.parametrize(
    "entry",
    [
        {"group_vars": 18, "rate_log": 3},
        {"rate_log": 3, "security_bits": 100},
        {"group_vars": 18, "rate_log": 3, "queries": 171},
        {"group_vars": 18, "rate_log": 2, "security_bits": 100},
        {"group_vars": 18, "rate_log": 3, "security_bits": 0},
        {"group_vars": 18, "rate_log": 3, "security_bits": 1 << 20},
        {"group_vars": 18, "rate_log": 3, "security_bits": True},
        {"group_vars": 18, "rate_log": "3", "security_bits": 100},
        {"group_vars": 40, "rate_log": 3, "security_bits": 100},
        {"group_vars": True, "rate_log": 3, "security_bits": 100},
        [18, 3, 100],
    ],
)
def test_header_parameters_are_bounded(entry):
    with pytest.raises(ValueError):
        Z.ZK_LIGERO.params_from_header(entry)


# ------------------------------------------------------------------------------------ algebra
def test_reversed_eq_closed_forms_match_the_definition():
    rng = np.random.default_rng(1)
    bits = 4
    z = F.random_ext(rng, bits)
    table = poly.eq_table(z)  # eq(z, i), i MSB first
    reversed_coefficients = table[:, ::-1]  # coefficient C-1-i is eq(z, i)
    values = F.random_ext(rng, 5)
    product = Z.times_reversed_eq(values, z)
    expected = np.zeros((4, 5 + 15), dtype=np.uint64)
    for i in range(5):
        for j in range(16):
            expected[:, i + j] = F.ext_add(
                expected[:, i + j], F.ext_mul(values[:, i], reversed_coefficients[:, j])
            )
    assert np.array_equal(product, expected)
    xs = F.random_base(rng, 7)
    direct = [
        F.ext_sum(
            F.ext_scale(reversed_coefficients, np.array([pow(int(x), k, F.P) for k in range(16)], np.uint64))
        )
        for x in xs
    ]
    assert np.array_equal(Z.reversed_eq_at(z, xs), np.stack(direct, axis=1))


def test_masks_make_t_opened_entries_of_a_row_a_bijection():
    """The premise of column hiding: for t distinct query points x_j, the t x t matrix [x_j^(C+i)] is
    invertible, so the masks map one-to-one onto the opened entries."""
    rng = np.random.default_rng(2)
    t, width, domain_bits = 6, 8, 7
    xs = Z.domain_points(domain_bits, np.sort(rng.choice(1 << domain_bits, size=t, replace=False)))
    matrix = np.array([[pow(int(x), width + i, F.P) for i in range(t)] for x in xs], dtype=np.int64)
    assert rank_mod_p(matrix) == t


# ------------------------------------------------------------------------------------ completeness
@pytest.mark.parametrize(
    "num_vars, num_points, length",
    [(0, 1, None), (1, 2, None), (5, 3, 29), (9, 1, None), (12, 4, 3000), (14, 2, None), (14, 2, 9000)],
)
def test_random_sizes_open_to_the_mle_and_verify(num_vars, num_points, length):
    values, commitment, _, points, claimed, proof = opened(num_vars, num_points, seed=num_vars, length=length)
    padded = np.zeros(1 << num_vars, dtype=np.uint64)
    padded[: values.size] = values
    assert all(F.ext_eq(v, poly.evaluate(padded, z)) for v, z in zip(claimed, points))
    check(commitment, points, claimed, proof)
    assert proof.columns.shape[1] == commitment.num_rows + Z.BLINDING_ROWS
    if length is not None:  # the zero rows after the length are left out of the tableau
        assert commitment.num_rows == -(-length >> commitment.col_bits)
    assert len(proof.salts) == Z.SALT_BYTES * proof.columns.shape[0]
    assert proof.nbytes() <= Z.opening_bytes_ceiling(commitment, PARAMS, num_points)


def test_points_sharing_their_columns_open_and_verify():
    """Points that share their column coordinates (a layer's segments claimed at one point) are combined
    before the product with E(X): with repeats among more than a block of points, the opening verifies
    and a false claim at a shared column point is rejected."""
    rng = np.random.default_rng(7)
    num_vars = 12
    values = F.random_base(rng, 1 << num_vars)
    commitment, state = Z.commit(values, PARAMS)
    columns = [F.random_ext(rng, commitment.col_bits) for _ in range(3)]
    points = [
        np.concatenate([F.random_ext(rng, commitment.row_bits), columns[j % 3]], axis=1) for j in range(11)
    ]
    assert len(points) > ligero.POINT_BLOCK
    claimed, proof = Z.open(state, points, Transcript(), "open")
    assert all(F.ext_eq(v, poly.evaluate(values, z)) for v, z in zip(claimed, points))
    check(commitment, points, claimed, proof)
    claimed[4] = F.ext_add(claimed[4], F.ext_ones())
    with pytest.raises(Z.ZkLigeroError):
        check(commitment, points, claimed, proof)


def test_rate_one_sixteenth_completes():
    params = Z.ZkLigeroParams(rate_log=4)
    _, commitment, _, points, claimed, proof = opened(10, 2, params=params)
    check(commitment, points, claimed, proof, params=params)


def test_a_vector_assembled_in_its_blank_rows_commits_without_a_copy_and_opens():
    rng = np.random.default_rng(5)
    length = 3 * 1024 + 17  # a partial last row
    values = F.random_base(rng, length)
    rows = Z.blank_rows(length, PARAMS)
    rows.reshape(-1)[:length] = values
    commitment, state = Z.commit_rows(rows, length, PARAMS)
    assert state.rows is rows and (commitment.num_vars, commitment.num_rows) == PARAMS.layout(length)[::2]
    points = [F.random_ext(rng, commitment.num_vars) for _ in range(2)]
    claimed, proof = Z.open(state, points, Transcript(), "open")
    padded = np.zeros(1 << commitment.num_vars, dtype=np.uint64)
    padded[:length] = values
    assert all(F.ext_eq(c, poly.evaluate(padded, z)) for c, z in zip(claimed, points))
    check(commitment, points, claimed, proof)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda rows: rows.astype(np.uint64), "uint32 rows of shape"),
        (lambda rows: rows[:-1], "uint32 rows of shape"),
        (lambda rows: np.pad(rows, ((0, 0), (0, 1))), "uint32 rows of shape"),
        (lambda rows: rows.__setitem__((0, 0), F.P) or rows, "not canonical or lie past"),
        (lambda rows: rows.__setitem__((-1, -1), 1) or rows, "not canonical or lie past"),
    ],
)
def test_rows_not_laid_out_as_the_vector_s_are_refused(change, match):
    length = 2 * 1024 + 5
    rows = Z.blank_rows(length, PARAMS)
    with pytest.raises(ValueError, match=match):
        Z.commit_rows(change(rows), length, PARAMS)


def test_two_commitments_to_the_same_vector_differ():
    """Randomness from the operating system: roots, salts and both rows differ between two openings of the
    same vector at the same points."""
    rng = np.random.default_rng(3)
    values = F.random_base(rng, 1 << 8)
    points = [F.random_ext(rng, 8)]
    runs = []
    for _ in range(2):
        commitment, state = Z.commit(values, PARAMS)
        claimed, proof = Z.open(state, points, Transcript(), "o")
        runs.append((commitment.root, claimed, proof))
    (root_a, claimed_a, a), (root_b, claimed_b, b) = runs
    assert root_a != root_b and F.ext_eq(claimed_a[0], claimed_b[0])
    assert not np.array_equal(a.ldt, b.ldt) and not np.array_equal(a.dot, b.dot) and a.salts != b.salts


def test_changed_state_is_caught_by_the_prover():
    _, _, state, points, _, _ = opened(6, 1)
    state.rows[0, 0] ^= 1
    with pytest.raises(ValueError, match="not the committed ones"):
        Z.open(state, points, Transcript(), "again")


# ------------------------------------------------------------------------------------ soundness: every check
@pytest.fixture(scope="module")
def fixed():
    """An honest opening for fixed coins, checked with ``zk_ligero.check`` so each tamper hits one check."""
    rng = np.random.default_rng(4)
    values = F.random_base(rng, 1 << 10)
    commitment, state = Z.commit(values, PARAMS)
    points = [F.random_ext(rng, 10) for _ in range(2)]
    claimed = Z.mle_values(state, points)
    coins = challenges(commitment, PARAMS, rng)
    proof = respond(state, points, coins)
    Z.check(commitment, PARAMS, Z.claims_functional(points, claimed, coins.alpha), proof, coins)
    return commitment, points, claimed, proof, coins


def tampered(proof, **changes):
    return dataclasses.replace(proof, **changes)


def bumped(arr, *index):
    out = arr.copy()
    out[index] = (out[index] + 1) % F.P
    return out


def rejected_by_check(match, fixed, proof=None, claimed=None, params=PARAMS, commitment=None):
    c, points, honest_claims, honest_proof, coins = fixed
    with pytest.raises(Z.ZkLigeroError, match=match):
        functional = Z.claims_functional(points, claimed or honest_claims, coins.alpha)
        Z.check(commitment or c, params, functional, proof or honest_proof, coins)


def test_altered_ldt_row_rejected(fixed):
    rejected_by_check("ldt row disagrees", fixed, proof=tampered(fixed[3], ldt=bumped(fixed[3].ldt, 2, 5)))


def test_altered_dot_row_rejected(fixed):
    rejected_by_check("dot row disagrees", fixed, proof=tampered(fixed[3], dot=bumped(fixed[3].dot, 1, 0)))


def test_dot_coefficient_not_the_batched_claim_rejected(fixed):
    commitment, _, claimed, proof, _ = fixed
    width = 1 << commitment.col_bits
    rejected_by_check("coefficient C-1", fixed, proof=tampered(proof, dot=bumped(proof.dot, 0, width - 1)))
    wrong = [F.ext_add(claimed[0], F.ext_ones()), claimed[1]]
    rejected_by_check("coefficient C-1", fixed, claimed=wrong)


def test_false_claim_with_a_matching_dot_coefficient_rejected_by_the_columns(fixed):
    """A prover that claims a wrong value and patches coefficient C-1 to the batched claim is caught on the
    columns: dot is then not the committed rows' combination."""
    commitment, points, claimed, proof, coins = fixed
    wrong = [F.ext_add(claimed[0], F.ext_const(5)), claimed[1]]
    width = 1 << commitment.col_bits
    dot = proof.dot.copy()
    dot[:, width - 1] = F.ext_add(dot[:, width - 1], F.ext_mul(coins.alpha, F.ext_const(5)))
    rejected_by_check("dot row disagrees", fixed, proof=tampered(proof, dot=dot), claimed=wrong)


def test_altered_salt_rejected(fixed):
    salts = bytearray(fixed[3].salts)
    salts[17] ^= 1
    rejected_by_check("Merkle", fixed, proof=tampered(fixed[3], salts=bytes(salts)))


@pytest.mark.parametrize("row", [0, -8, -1], ids=["data row", "B_ldt row", "B_dot row"])
def test_altered_column_entry_rejected(fixed, row):
    rejected_by_check("Merkle", fixed, proof=tampered(fixed[3], columns=bumped(fixed[3].columns, 3, row)))


def test_altered_merkle_path_rejected(fixed):
    paths = bytearray(fixed[3].paths)
    paths[40] ^= 1
    rejected_by_check("Merkle", fixed, proof=tampered(fixed[3], paths=bytes(paths)))
    rejected_by_check("Merkle", fixed, proof=tampered(fixed[3], paths=fixed[3].paths[:-32]))


def test_wrong_root_rejected(fixed):
    commitment = dataclasses.replace(fixed[0], root=bytes(32))
    rejected_by_check("Merkle", fixed, commitment=commitment)


# ------------------------------------------------------------------------------ openings of constraints
def constraint_case(num_vars: int, pad_offset: int, pads: int, seed: int):
    """A vector with K pads (four entries each) from ``pad_offset``, two points, and three constraints that
    hold: a claim, a pad, and a mix of both with random coefficients."""
    rng = np.random.default_rng(seed)
    vector = F.random_base(rng, 1 << num_vars)
    commitment, state = Z.commit(vector, PARAMS)
    points = [F.random_ext(rng, num_vars) for _ in range(2)]
    values = Z.mle_values(state, points)
    pad_values = vector[pad_offset : pad_offset + 4 * pads].reshape(pads, 4).T.astype(np.uint64)
    a, b, c = (F.random_ext(rng) for _ in range(3))
    mix = F.ext_add(
        F.ext_add(F.ext_mul(a, values[1]), F.ext_mul(b, pad_values[:, 0])), F.ext_mul(c, pad_values[:, -1])
    )
    ints = zk.scalar
    constraints = [
        zk.LinearConstraint({}, {0: zk.ONE}, ints(values[0]), "claim"),
        zk.LinearConstraint({pads - 1: ints(c)}, {}, ints(F.ext_mul(c, pad_values[:, -1])), "pad"),
        zk.LinearConstraint({0: ints(b), pads - 1: ints(c)}, {1: ints(a)}, ints(mix), "mix"),
    ]
    return commitment, state, points, constraints


@pytest.mark.parametrize("num_vars, pad_offset, pads", [(6, 32, 8), (10, 0, 200), (12, 2048, 300)])
def test_constraints_on_claims_and_pads_open_and_verify(num_vars, pad_offset, pads):
    commitment, state, points, constraints = constraint_case(num_vars, pad_offset, pads, num_vars)
    proof = Z.open_constraints(state, points, constraints, pad_offset, Transcript(), "open")
    Z.verify_constraints(commitment, points, constraints, pad_offset, proof, Transcript(), "open", PARAMS)


@pytest.fixture(scope="module")
def fixed_constraints():
    """An honest constraint opening for fixed coins, checked with ``zk_ligero.check``."""
    commitment, state, points, constraints = constraint_case(10, 256, 64, 3)
    coins = challenges(commitment, PARAMS, np.random.default_rng(3))
    functional = Z.constraints_functional(points, constraints, 256, 1 << commitment.col_bits, coins.alpha)
    ldt, dot = Z.prove_rows(state, functional, coins.u)
    proof = Z.ZkOpeningProof(ldt, dot, *Z.open_columns(state, coins.indices))
    Z.check(commitment, PARAMS, functional, proof, coins)
    return commitment, points, constraints, proof, coins


def test_a_false_pad_constraint_is_rejected(fixed_constraints):
    commitment, points, constraints, proof, coins = fixed_constraints
    wrong = constraints[:1] + [dataclasses.replace(constraints[1], value=(1, 2, 3, 4))] + constraints[2:]
    functional = Z.constraints_functional(points, wrong, 256, 1 << commitment.col_bits, coins.alpha)
    with pytest.raises(Z.ZkLigeroError, match="coefficient C-1"):
        Z.check(commitment, PARAMS, functional, proof, coins)


def test_pads_past_the_committed_length_are_rejected_before_use(fixed_constraints):
    """A functional whose pad entries lie after the vector's length names rows the tableau leaves out."""
    commitment, points, constraints, proof, coins = fixed_constraints
    past = commitment.num_rows << commitment.col_bits
    functional = Z.constraints_functional(points, constraints, past, 1 << commitment.col_bits, coins.alpha)
    with pytest.raises(Z.ZkLigeroError, match="past the committed vector's length"):
        Z.check(commitment, PARAMS, functional, proof, coins)


def test_a_pad_far_past_the_vector_costs_nothing_to_reject(fixed_constraints):
    """Pads are batched by the ones named, never by the largest index: a pad 2^40 entries on (what a
    shared commitment's offsets could name) allocates no more than one near the start."""
    commitment, points, constraints, proof, coins = fixed_constraints
    far = [c.moved(1 << 40, 0) for c in constraints]
    functional = Z.constraints_functional(points, far, 0, 1 << commitment.col_bits, coins.alpha)
    assert functional.dense.shape[1] <= len(constraints) * F.EXT_DEGREE
    with pytest.raises(Z.ZkLigeroError, match="past the committed vector's length"):
        Z.check(commitment, PARAMS, functional, proof, coins)


def test_a_false_pad_constraint_with_a_patched_dot_is_rejected_by_the_columns(fixed_constraints):
    """The prover patches coefficient C-1 to the false target: dot is then not the combination of the
    committed rows, which the pad rows' entries on the queried columns show."""
    commitment, points, constraints, proof, coins = fixed_constraints
    wrong = constraints[:1] + [dataclasses.replace(constraints[1], value=(1, 2, 3, 4))] + constraints[2:]
    functional = Z.constraints_functional(points, wrong, 256, 1 << commitment.col_bits, coins.alpha)
    dot = proof.dot.copy()
    dot[:, (1 << commitment.col_bits) - 1] = functional.target
    with pytest.raises(Z.ZkLigeroError, match="dot row disagrees"):
        Z.check(commitment, PARAMS, functional, tampered(proof, dot=dot), coins)


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("ldt", np.zeros((4, 3), np.uint64), "ldt row has shape"),
        ("dot", np.zeros((4, 3), np.uint64), "dot row has shape"),
        ("columns", np.zeros((2, 2), np.uint64), "columns has shape"),
        ("salts", b"\x00" * 15, "salt"),
        ("paths", "not bytes", "multi-path"),
        ("ldt", np.full((4, 1), F.P, np.uint64), "shape|>= p"),
    ],
)
def test_malformed_opening_rejected_before_use(fixed, field, value, match):
    rejected_by_check(match, fixed, proof=tampered(fixed[3], **{field: value}))


def test_element_not_below_p_rejected(fixed):
    ldt = fixed[3].ldt.copy()
    ldt[0, 0] = F.P
    rejected_by_check(">= p", fixed, proof=tampered(fixed[3], ldt=ldt))


@pytest.fixture(scope="module")
def honest():
    _, commitment, _, points, claimed, proof = opened(9, 2, seed=5)
    check(commitment, points, claimed, proof)
    return commitment, points, claimed, proof


def test_transcript_level_tampering_rejected(honest):
    commitment, points, claimed, proof = honest
    for changed in (
        tampered(proof, ldt=bumped(proof.ldt, 0, 0)),
        tampered(proof, dot=bumped(proof.dot, 3, 7)),
        tampered(proof, columns=bumped(proof.columns, 0, 0)),
    ):
        with pytest.raises(Z.ZkLigeroError):
            check(commitment, points, claimed, changed)
    with pytest.raises(Z.ZkLigeroError):
        check(commitment, points, claimed, proof, label="other")
    with pytest.raises(Z.ZkLigeroError):
        check(commitment, points[::-1], claimed[::-1][:1] + claimed[:1], proof)


@pytest.mark.parametrize(
    "params",
    [Z.ZkLigeroParams(security_bits_target=110), Z.ZkLigeroParams(rate_log=4)],
    ids=["target", "rate"],
)
def test_other_header_parameters_rejected(honest, params):
    """An opening checked under parameters other than it was made with (the header's, which give the
    verifier's tableau for the vector's length) is refused."""
    commitment, points, claimed, proof = honest
    public = Z.ZK_LIGERO.commitment(commitment.root, 1 << commitment.num_vars, params)
    assert public != commitment
    with pytest.raises(Z.ZkLigeroError):
        check(public, points, claimed, proof, params=params)


def test_malformed_commitment_rejected(honest):
    commitment, points, claimed, proof = honest
    for bad in (
        dataclasses.replace(commitment, row_bits=commitment.num_vars + 1),
        dataclasses.replace(commitment, num_rows=0),
        dataclasses.replace(commitment, num_rows=(1 << commitment.row_bits) + 1),
        dataclasses.replace(commitment, queries=0),
        dataclasses.replace(commitment, queries=Z.MAX_QUERIES + 1),
        "root",
        dataclasses.replace(commitment, root=b"x"),
    ):
        with pytest.raises(Z.ZkLigeroError, match="malformed commitment"):
            check(bad, points, claimed, proof)


def test_not_an_opening_rejected(honest):
    commitment, points, claimed, _ = honest
    with pytest.raises(Z.ZkLigeroError, match="not a ZkOpeningProof"):
        check(commitment, points, claimed, object())


def test_ceiling_bounds_an_opening_with_every_query_distinct():
    _, commitment, _, points, _, proof = opened(3, 1)
    ceiling = Z.opening_bytes_ceiling(commitment, PARAMS, 1)
    assert proof.nbytes() < ceiling


# ------------------------------------------------------------------------------------ zero knowledge
@pytest.mark.parametrize("num_vars, num_points", [(3, 1), (10, 3), (13, 2)])
def test_simulated_opening_is_accepted(num_vars, num_points):
    rng = np.random.default_rng(num_vars)
    points = [F.random_ext(rng, num_vars) for _ in range(num_points)]
    claimed = [F.random_ext(rng) for _ in range(num_points)]  # any values: the simulator knows no data
    coins = challenges(Z.ZK_LIGERO.commitment(bytes(32), 1 << num_vars, PARAMS), PARAMS, rng)
    functional = Z.claims_functional(points, claimed, coins.alpha)
    commitment, proof = simulate_opening(1 << num_vars, PARAMS, functional, coins)
    Z.check(commitment, PARAMS, functional, proof, coins)
    real = opened(num_vars, num_points)[5]
    assert all(getattr(proof, f).shape == getattr(real, f).shape for f in ("ldt", "dot"))
    assert proof.columns.shape[1] == real.columns.shape[1] and len(proof.salts) == 16 * coins.indices.size


def view(proof: Z.ZkOpeningProof) -> np.ndarray:
    """Everything an opening shows as one vector of field elements (the salts are fresh bytes, hashed)."""
    return np.concatenate([proof.ldt.ravel(), proof.dot.ravel(), proof.columns.ravel()])


TINY = Z.ZkLigeroParams(queries=4)
"""On 2^5 elements: R = 8, C = 4, t = 4, D = 11, L = 32; a view of 152 field elements."""
TINY_VARS = 5


@pytest.fixture(scope="module")
def tiny_views():
    """Real openings of two vectors with the same claimed value at one point, and simulated ones, all for
    the same coins: 160 of each."""
    rng = np.random.default_rng(6)
    num_vars = TINY_VARS
    assert TINY.layout(1 << num_vars) == (5, 3, 8, 4)
    z = F.ext_from_base(F.random_base(rng, num_vars))  # a base point, so equal values are easy to arrange
    weights = poly.eq_table(z)[0]
    first = F.random_base(rng, 1 << num_vars)
    second = F.random_base(rng, 1 << num_vars)
    # make <eq(z), second> equal <eq(z), first> by adjusting its last entry
    gap = (F.inner(weights, first) - F.inner(weights, second)) % F.P
    second[-1] = (int(second[-1]) + gap * pow(int(weights[-1]), F.P - 2, F.P)) % F.P
    assert F.inner(weights, first) == F.inner(weights, second)
    coins = challenges(Z.ZK_LIGERO.commitment(bytes(32), 1 << num_vars, TINY), TINY, rng, distinct=4)
    out = {}
    for name, vector in (("first", first), ("second", second)):
        samples = []
        for _ in range(160):
            _, state = Z.commit(vector, TINY)
            claimed = Z.mle_values(state, [z])
            samples.append(view(respond(state, [z], coins)))
        out[name] = np.stack(samples)
    claimed = Z.mle_values(Z.commit(first, TINY)[1], [z])
    functional = Z.claims_functional([z], claimed, coins.alpha)
    out["simulated"] = np.stack(
        [view(simulate_opening(1 << num_vars, TINY, functional, coins)[1]) for _ in range(160)]
    )
    out["first_vector"], out["second_vector"], out["point"], out["coins"] = first, second, z, coins
    return out


def test_real_and_simulated_openings_span_the_same_affine_space(tiny_views):
    """A view is an affine function of uniform randomness, so it is uniform on its affine hull; the hulls
    of real openings of two vectors with the same claim and of simulated ones are one and the same space:
    4 x 8 data entries (masked) + 44 of ldt + 40 of dot (4 fixed to the claim) = 116 free coordinates of
    152 (the 4 x 2 x 4 blinding entries follow from the rest)."""
    first, second, simulated = tiny_views["first"], tiny_views["second"], tiny_views["simulated"]
    assert first.shape == (160, 152)
    for samples in (first, second, simulated):
        assert affine_dimension(samples) == 116
    assert affine_dimension(np.concatenate([first, second, simulated])) == 116


def test_the_affine_test_sees_a_leak_when_more_columns_open_than_there_are_masks():
    """Positive control: with t + 1 distinct columns on a tableau masked for t, the opened data entries of
    two different vectors lie in different affine spaces (the union's hull is one dimension larger)."""
    rng = np.random.default_rng(7)
    params = Z.ZkLigeroParams(queries=2)  # on 2^3 elements: R = 8, C = 1, L = 16
    indices = np.sort(rng.choice(16, size=3, replace=False))
    hulls = []
    for vector in (F.random_base(rng, 8), F.random_base(rng, 8)):
        samples = np.stack([Z.tableau_columns(Z.commit(vector, params)[1], indices)[:, 0] for _ in range(12)])
        hulls.append(samples)
    assert affine_dimension(hulls[0]) == affine_dimension(hulls[1]) == 2
    assert affine_dimension(np.concatenate(hulls)) == 3


def test_opened_values_are_uniform(tiny_views):
    """Chi-square of every free coordinate's top three bits, summed over coordinates, for real openings of
    both vectors and for simulated ones; and two-sample tests real against real and real against simulated
    (a p-value below 1e-6 fails; a correct implementation fails one run in millions)."""
    first, second, simulated = tiny_views["first"], tiny_views["second"], tiny_views["simulated"]
    fixed = np.all(first == first[0], axis=0)
    assert np.flatnonzero(fixed).tolist() == [44 + 3, 44 + 11 + 3, 44 + 22 + 3, 44 + 33 + 3]  # dot[:, C-1]
    for samples in (first, second, simulated):
        assert uniform_chi2_p(samples[:, ~fixed]) > 1e-6
    assert two_sample_chi2_p(first[:, ~fixed], second[:, ~fixed]) > 1e-6
    assert two_sample_chi2_p(first[:, ~fixed], simulated[:, ~fixed]) > 1e-6
