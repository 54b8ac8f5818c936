"""LogUp-GKR: fraction-sum GKR and the lookup argument, completeness and one rejection per verifier check."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zkstats import FixedCoins, two_sample_chi2_p, uniform_chi2_p

from edgeprove import field as F
from edgeprove import poly, zk
from edgeprove.lookup import (
    TILING,
    FractionSumProof,
    LogUpError,
    Lookup,
    LookupProof,
    LookupStatement,
    Tiling,
    activation_mles,
    activation_table,
    hidden_plan,
    level_root,
    mapped_mles,
    mapped_table,
    multiplicities,
    pad_table,
    prove_fraction_sums,
    prove_lookup,
    prove_lookups,
    range_mle,
    range_table,
    verify_fraction_sums,
    verify_lookup,
    verify_lookups,
    verify_lookups_hidden,
)
from edgeprove.transcript import Transcript

LABEL = "lookup"


# ------------------------------------------------------------------------------------------ helpers
def _fraction_sum_reference(numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    """sum_x n(x)/d(x) in K, computed directly with inverses."""
    nums = F.ext_from_base(numerators) if numerators.ndim == 1 else numerators
    return F.ext_sum(F.ext_mul(nums, F.ext_inv(denominators)))


def _random_lookup(rng: np.random.Generator, witness_len: int, table_len: int, num_cols: int):
    """A random table (distinct rows) and a witness drawn from its rows where the mask is 1 and
    arbitrary field elements where it is 0."""
    rows = rng.choice(1 << 20, size=table_len, replace=False)
    table = [F.asbase(rng.permutation(rows) if k else rows) for k in range(num_cols)]
    picks = rng.integers(0, table_len, size=witness_len)
    mask = (rng.random(witness_len) < 0.7).astype(np.uint64)
    witness = [np.where(mask == 1, col[picks], F.random_base(rng, witness_len)) for col in table]
    return witness, mask, table


def _padded_mask_mle(mask: np.ndarray):
    padded = np.concatenate([mask, np.zeros(poly.next_pow2(mask.shape[0]) - mask.shape[0], np.uint64)])
    return lambda z: poly.evaluate(padded, z)


def _table_mles(table: list[np.ndarray]):
    padded = pad_table(table)
    return lambda z: [poly.evaluate(col, z) for col in padded]


def _num_vars(length: int) -> int:
    return poly.num_vars(poly.next_pow2(length))


def _prove(witness, mask, table, mult=None, label=LABEL, tiling=TILING):
    if mult is None:
        mult = multiplicities(witness, mask, table)
    return prove_lookup(witness, mask, table, mult, Transcript(), label, tiling)


def _verify(proof, witness, mask, table, label=LABEL, mask_mle=None, table_mles=None, tiling=TILING):
    return verify_lookup(
        _num_vars(mask.shape[0]),
        _num_vars(table[0].shape[0]),
        proof,
        Transcript(),
        label,
        mask_mle or _padded_mask_mle(mask),
        table_mles or _table_mles(table),
        tiling,
    )


def _check_claims(claims, verified, padded_witness, mult) -> None:
    """The prover's claims are the whole columns' MLEs at every tile's point; the verifier's are the same."""
    for z, values in zip(claims.witness_points, claims.witness_values):
        for k, col in enumerate(padded_witness):
            assert F.ext_eq(values[:, k], poly.evaluate(col, z))
    padded_mult = np.concatenate([mult, np.zeros(poly.next_pow2(mult.shape[0]) - mult.shape[0], np.uint64)])
    for z, value in claims.multiplicity_openings():
        assert F.ext_eq(value, poly.evaluate(padded_mult, z))
    for field in ("witness_points", "witness_values", "table_points", "multiplicity_values"):
        mine, theirs = getattr(claims, field), getattr(verified, field)
        assert len(mine) == len(theirs) and all(F.ext_eq(a, b) for a, b in zip(mine, theirs))


@pytest.fixture(scope="module")
def pair_lookup():
    """A 2-column lookup of 37 witness rows into a 16-row table, with its honest proof."""
    rng = np.random.default_rng(7)
    witness, mask, table = _random_lookup(rng, 37, 16, 2)
    proof, claims = _prove(witness, mask, table)
    return witness, mask, table, proof, claims


# ----------------------------------------------------------------------------- fraction-sum GKR
def _makers(numerators: list[np.ndarray], denominators: list[np.ndarray]):
    return [lambda n=n, d=d: (n, d) for n, d in zip(numerators, denominators)]


def _random_trees(rng: np.random.Generator, num_vars: list[int], zero_share: float = 0.0):
    numerators = [
        np.where(rng.random(1 << v) < zero_share, 0, F.random_base(rng, 1 << v)).astype(np.uint64)
        for v in num_vars
    ]
    return numerators, [F.random_ext(rng, 1 << v) for v in num_vars]


def _check_completeness(num_vars: list[int], numerators, denominators) -> None:
    proof, points, leaf_n, leaf_d, _ = prove_fraction_sums(
        num_vars, _makers(numerators, denominators), Transcript(), "fs"
    )
    tops, v_points, v_leaf_n, v_leaf_d = verify_fraction_sums(num_vars, proof, Transcript(), "fs")
    for t, v in enumerate(num_vars):
        root_n, root_d = level_root(tops[t])
        assert F.ext_eq(
            F.ext_mul(root_n, F.ext_inv(root_d)), _fraction_sum_reference(numerators[t], denominators[t])
        )
        assert points[t].shape == (4, v)
        assert F.ext_eq(points[t], v_points[t])
        assert F.ext_eq(leaf_n[:, t], poly.evaluate(numerators[t], points[t]))
        assert F.ext_eq(leaf_d[:, t], poly.evaluate(denominators[t], points[t]))
    assert F.ext_eq(leaf_n, v_leaf_n) and F.ext_eq(leaf_d, v_leaf_d)


@pytest.mark.parametrize("num_vars", [[0], [2], [5], [9], [9, 3], [3, 9, 9], [6, 0, 5, 6], [4, 5]])
def test_fraction_sums_completeness(num_vars: list[int]) -> None:
    rng = np.random.default_rng(100 + sum(num_vars))
    _check_completeness(num_vars, *_random_trees(rng, num_vars))


@settings(max_examples=20, deadline=None)
@given(
    num_vars=st.lists(st.integers(0, 7), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
    zero_share=st.floats(0, 1),
)
def test_fraction_sums_random_sizes(num_vars: list[int], seed: int, zero_share: float) -> None:
    rng = np.random.default_rng(seed)
    _check_completeness(num_vars, *_random_trees(rng, num_vars, zero_share))


FRACTION_VARS = [7, 5, 7, 2]


@pytest.fixture(scope="module")
def fraction_proof():
    rng = np.random.default_rng(11)
    proof, *_ = prove_fraction_sums(
        FRACTION_VARS, _makers(*_random_trees(rng, FRACTION_VARS)), Transcript(), "fs"
    )
    return proof


def _rejects_fraction(proof: FractionSumProof, match: str, num_vars=None, label: str = "fs") -> None:
    with pytest.raises(LogUpError, match=match):
        verify_fraction_sums(num_vars or FRACTION_VARS, proof, Transcript(), label)


def test_fraction_sums_layout(fraction_proof) -> None:
    assert [top.shape for top in fraction_proof.tops] == [(4, 2, 16), (4, 2, 16), (4, 2, 16), (4, 2, 4)]
    # depths 4, 5, 6 below the tops: three trees open at depth 4 (both 7s and the 5), two below
    assert [c.shape for c in fraction_proof.children] == [(4, 3, 4), (4, 2, 4), (4, 2, 4)]
    assert [len(layer.rounds) for layer in fraction_proof.layers] == [4, 5, 6]


@pytest.mark.parametrize("index, round_index", [(0, 0), (1, 3), (2, 5)])
def test_fraction_sums_reject_altered_round_polynomial(fraction_proof, index: int, round_index: int) -> None:
    bad = copy.deepcopy(fraction_proof)
    bad.layers[index].rounds[round_index][1, 3] = (bad.layers[index].rounds[round_index][1, 3] + 1) % F.P
    _rejects_fraction(bad, "does not match|children values")


@pytest.mark.parametrize("index, tree", [(0, 0), (0, 2), (1, 1), (2, 0)])
@pytest.mark.parametrize("which", [0, 1, 2, 3])  # n_e, n_o, d_e, d_o
def test_fraction_sums_reject_altered_children_value(
    fraction_proof, index: int, tree: int, which: int
) -> None:
    bad = copy.deepcopy(fraction_proof)
    bad.children[index][0, tree, which] = (bad.children[index][0, tree, which] + 1) % F.P
    _rejects_fraction(bad, f"L{4 + index}: children values do not match")


@pytest.mark.parametrize("tree", [0, 1, 2])
@pytest.mark.parametrize("entry", [0, 1])  # a numerator, a denominator of the sent level
def test_fraction_sums_reject_altered_top(fraction_proof, tree: int, entry: int) -> None:
    bad = copy.deepcopy(fraction_proof)
    bad.tops[tree][2, entry, 5] = (bad.tops[tree][2, entry, 5] + 5) % F.P
    _rejects_fraction(bad, r"L4: round 0 sum s\(0\)\+s\(1\) does not match")


def test_fraction_sums_altered_sent_leaves_change_the_leaf_claims() -> None:
    """Trees sent whole (at most TOP_VARS variables) have no GKR level: their tops are their leaves, so a
    changed top shows up in the leaf values the caller checks against trusted MLEs."""
    num_vars = [2, 3]
    proof, *_ = prove_fraction_sums(
        num_vars, _makers(*_random_trees(np.random.default_rng(4), num_vars)), Transcript(), "fs"
    )
    assert proof.layers == [] and proof.children == []
    _, _, honest_n, honest_d = verify_fraction_sums(num_vars, proof, Transcript(), "fs")
    for entry, honest in ((0, honest_n), (1, honest_d)):
        bad = copy.deepcopy(proof)
        bad.tops[1][0, entry, 1] = (bad.tops[1][0, entry, 1] + 1) % F.P
        _, _, leaf_n, leaf_d = verify_fraction_sums(num_vars, bad, Transcript(), "fs")
        assert not F.ext_eq((leaf_n, leaf_d)[entry][:, 1], honest[:, 1])


def test_fraction_sums_reject_other_label_and_other_sizes(fraction_proof) -> None:
    _rejects_fraction(fraction_proof, "does not match", label="other")
    _rejects_fraction(fraction_proof, "expected 4 GKR layers", num_vars=[8, 5, 7, 2])
    _rejects_fraction(fraction_proof, "expected 3 tree tops", num_vars=[7, 5, 7])
    _rejects_fraction(
        fraction_proof, r"tree 3 top: expected a uint64 array of shape \(4, 2, 8\)", num_vars=[7, 5, 7, 3]
    )
    _rejects_fraction(fraction_proof, r"children: expected .* shape \(4, 2, 4\)", num_vars=[7, 4, 7, 2])


def test_fraction_sums_reject_malformed_fields(fraction_proof) -> None:
    bad = copy.deepcopy(fraction_proof)
    bad.children[1][3, 0, 0] = F.P
    _rejects_fraction(bad, "not below p")
    bad = copy.deepcopy(fraction_proof)
    bad.tops[1][0, 0, 0] = F.P + 1
    _rejects_fraction(bad, "not below p")
    bad = copy.deepcopy(fraction_proof)
    bad.layers[2].rounds[0] = bad.layers[2].rounds[0][:, :3].copy()
    _rejects_fraction(bad, "shape")
    bad = copy.deepcopy(fraction_proof)
    bad.tops[0] = bad.tops[0].astype(np.int64)
    _rejects_fraction(bad, "uint64")
    bad = copy.deepcopy(fraction_proof)
    bad.layers = tuple(bad.layers)
    _rejects_fraction(bad, "not a fraction-sum proof")
    bad = copy.deepcopy(fraction_proof)
    bad.layers[1] = bad.children[1]
    _rejects_fraction(bad, "not a sumcheck proof")


def test_fraction_sums_refuse_bad_leaves() -> None:
    rng = np.random.default_rng(3)
    with pytest.raises(LogUpError, match=r"need base \(8,\)"):
        prove_fraction_sums([3], _makers([F.random_base(rng, 6)], [F.random_ext(rng, 8)]), Transcript(), "fs")
    with pytest.raises(LogUpError, match=r"need base \(4,\)"):
        prove_fraction_sums([2], _makers([F.random_base(rng, 4)], [F.random_ext(rng, 8)]), Transcript(), "fs")
    with pytest.raises(LogUpError, match="one depth and one leaf maker"):
        prove_fraction_sums(
            [2, 3], _makers([F.random_base(rng, 4)], [F.random_ext(rng, 4)]), Transcript(), "fs"
        )


# ------------------------------------------------------------------------------------ lookups
@pytest.mark.parametrize("witness_len", [1, 3, 1024])
@pytest.mark.parametrize("table_len", [1, 2, 256, 4096])
@pytest.mark.parametrize("num_cols", [1, 2])
def test_lookup_completeness(witness_len: int, table_len: int, num_cols: int) -> None:
    rng = np.random.default_rng(witness_len * 31 + table_len + num_cols)
    witness, mask, table = _random_lookup(rng, witness_len, table_len, num_cols)
    proof, claims = _prove(witness, mask, table)
    verified = _verify(proof, witness, mask, table)
    # the claims equal the real columns' MLEs, so the caller's openings will match
    padded = [
        np.concatenate([c, np.zeros(poly.next_pow2(witness_len) - witness_len, np.uint64)]) for c in witness
    ]
    _check_claims(claims, verified, padded, multiplicities(witness, mask, table))


def test_lookup_non_power_of_two_table_with_repeated_rows() -> None:
    rng = np.random.default_rng(5)
    table = [F.asbase(np.array([4, 9, 4, 1, 7])), F.asbase(np.array([40, 90, 40, 10, 70]))]
    picks = rng.integers(0, 5, size=50)
    witness = [col[picks] for col in table]
    mask = np.ones(50, dtype=np.uint64)
    mult = multiplicities(witness, mask, table)
    assert mult.shape == (8,)
    assert int(mult[2]) == 0 and not mult[5:].any()  # a repeated row's uses go to its first copy
    proof, _ = _prove(witness, mask, table, mult)
    _verify(proof, witness, mask, table)


def _grid_table() -> list[np.ndarray]:
    """All pairs of {-2..1} x {0..3} plus a repeated row: no column alone pins a row."""
    index = np.arange(17) % 16
    return [F.encode_signed(index // 4 - 2), F.asbase(index % 4)]


@pytest.mark.parametrize("table_kind", ["sparse", "range", "activation", "grid"])
def test_multiplicities_match_brute_force(table_kind: str) -> None:
    rng = np.random.default_rng(9)
    if table_kind == "sparse":
        _, _, table = _random_lookup(rng, 1, 64, 3)
    else:
        table = {
            "range": lambda: [range_table(5)],
            "activation": lambda: list(activation_table(6, -3, 10)),
            "grid": _grid_table,
        }[table_kind]()
    rows = table[0].shape[0]
    picks = rng.integers(0, rows, size=300)
    mask = (rng.random(300) < 0.8).astype(np.uint64)
    witness = [np.where(mask == 1, col[picks], F.P - 1000).astype(np.uint64) for col in table]
    same = np.all([w[:, None] == t[None, :] for w, t in zip(witness, table)], axis=0)  # (300, rows)
    expected = np.bincount(np.argmax(same, axis=1)[mask == 1], minlength=poly.next_pow2(rows))
    assert np.array_equal(multiplicities(witness, mask, table), expected)
    with pytest.raises(LogUpError, match="not in the table"):
        multiplicities(witness, np.ones(300, dtype=np.uint64), table)


def test_multiplicities_refuses_missing_tuple_but_ignores_masked_rows() -> None:
    table = [range_table(4)]
    witness = [F.asbase(np.array([3, 16, 5]))]
    with pytest.raises(LogUpError, match=r"witness row 1 \(16\) is not in the table"):
        multiplicities(witness, np.array([1, 1, 1]), table)
    assert int(multiplicities(witness, np.array([1, 0, 1]), table).sum()) == 2
    pair_table = [F.asbase(np.array([1, 2])), F.asbase(np.array([10, 20]))]
    with pytest.raises(LogUpError, match="not in the table"):  # each coordinate is in, the pair is not
        multiplicities([F.asbase(np.array([1])), F.asbase(np.array([20]))], np.array([1]), pair_table)
    grid_without_last = [col[:15] for col in _grid_table()]  # lacks (1, 3); has (1, 2) and (0, 3)
    with pytest.raises(LogUpError, match=r"witness row 0 \(1, 3\) is not in the table"):
        multiplicities([F.asbase(np.array([1])), F.asbase(np.array([3]))], np.array([1]), grid_without_last)


def test_forced_proof_of_missing_tuple_is_rejected() -> None:
    table = [range_table(4)]
    witness = [F.asbase(np.array([3, 16, 5, 0, 15]))]
    mask = np.ones(5, dtype=np.uint64)
    in_table_only = multiplicities(witness, np.array([1, 0, 1, 1, 1]), table)
    proof, _ = _prove(witness, mask, table, in_table_only)
    with pytest.raises(LogUpError, match="do not cancel"):
        _verify(proof, witness, mask, table)


def test_hacked_witness_value_fails_the_opening_check() -> None:
    table = [range_table(4)]
    real = F.asbase(np.array([3, 16, 5, 0, 15]))
    hacked = real.copy()
    hacked[1] = 6
    mask = np.ones(5, dtype=np.uint64)
    proof, claims = _prove([hacked], mask, table)
    verified = _verify(proof, [hacked], mask, table)  # the lookup itself is about the hacked column ...
    padded_real = np.concatenate([real, np.zeros(3, np.uint64)])
    # ... so the opening of the committed (real) column at the witness point disagrees with the claim
    assert not F.ext_eq(
        verified.witness_values[0][:, 0], poly.evaluate(padded_real, claims.witness_points[0])
    )


def test_wrong_multiplicities_rejected(pair_lookup) -> None:
    witness, mask, table, _, _ = pair_lookup
    mult = multiplicities(witness, mask, table)
    used = int(np.flatnonzero(mult)[0])
    mult[used] -= 1
    mult[(used + 1) % mult.shape[0]] += 1
    proof, _ = _prove(witness, mask, table, mult)
    with pytest.raises(LogUpError, match="do not cancel"):
        _verify(proof, witness, mask, table)


def _rejects_lookup(pair_lookup, bad: LookupProof, match: str, **kwargs) -> None:
    witness, mask, table, _, _ = pair_lookup
    with pytest.raises(LogUpError, match=match):
        _verify(bad, witness, mask, table, **kwargs)


def test_honest_pair_lookup_verifies(pair_lookup) -> None:
    witness, mask, table, proof, claims = pair_lookup
    assert F.ext_eq(_verify(proof, witness, mask, table).witness_values[0], claims.witness_values[0])


def test_lookup_rejects_altered_gkr_round(pair_lookup) -> None:
    for index in (0, -1):
        bad = copy.deepcopy(pair_lookup[3])
        rounds = bad.trees[0].layers[index].rounds
        rounds[-1][0, 2] = (rounds[-1][0, 2] + 1) % F.P
        _rejects_lookup(pair_lookup, bad, "does not match|children values")


@pytest.mark.parametrize("which", [0, 1, 2, 3])
def test_lookup_rejects_altered_leaf_children(pair_lookup, which: int) -> None:
    bad = copy.deepcopy(pair_lookup[3])
    children = bad.trees[0].children[-1]
    children[1, 0, which] = (children[1, 0, which] + 1) % F.P
    _rejects_lookup(pair_lookup, bad, "children values do not match")


@pytest.mark.parametrize("tree", [0, 1])  # the witness tree (6 variables), the table tree (4: sent whole)
def test_lookup_rejects_wrong_root(pair_lookup, tree: int) -> None:
    bad = copy.deepcopy(pair_lookup[3])
    bad.trees[0].tops[tree][0, 0, 3] = (bad.trees[0].tops[tree][0, 0, 3] + 1) % F.P
    _rejects_lookup(pair_lookup, bad, "do not cancel")
    # scaling one fraction's n and d keeps the sum (the root check passes) but the GKR catches it
    bad = copy.deepcopy(pair_lookup[3])
    bad.trees[0].tops[tree][:, :, 3] = F.ext_scale(bad.trees[0].tops[tree][:, :, 3], np.uint64(2))
    _rejects_lookup(pair_lookup, bad, "round 0 sum")


def test_lookup_rejects_zero_root_denominators(pair_lookup) -> None:
    bad = copy.deepcopy(pair_lookup[3])
    bad.trees[0].tops[0][:, 1, 0] = 0
    bad.trees[0].tops[1][:, 1, 0] = 0  # N_w * 0 + N_t * 0 == 0 would pass the cross-multiplied check
    _rejects_lookup(pair_lookup, bad, "denominator is zero")


@pytest.mark.parametrize("column", [0, 1])
def test_lookup_rejects_wrong_claimed_column_value(pair_lookup, column: int) -> None:
    bad = copy.deepcopy(pair_lookup[3])
    bad.witness_values[0][3, column] = (bad.witness_values[0][3, column] + 1) % F.P
    _rejects_lookup(pair_lookup, bad, "witness leaf denominator")


def test_lookup_rejects_wrong_claimed_multiplicity(pair_lookup) -> None:
    bad = copy.deepcopy(pair_lookup[3])
    bad.multiplicity_values[0, 0] = (bad.multiplicity_values[0, 0] + 1) % F.P
    _rejects_lookup(pair_lookup, bad, "table leaf numerator")


def test_lookup_rejects_other_mask(pair_lookup) -> None:
    witness, mask, table, proof, _ = pair_lookup
    other = mask.copy()
    other[0] ^= 1
    _rejects_lookup(pair_lookup, proof, "witness leaf numerator", mask_mle=_padded_mask_mle(other))


def test_lookup_rejects_other_table(pair_lookup) -> None:
    witness, mask, table, proof, _ = pair_lookup
    other = [col.copy() for col in table]
    other[1][4] = (other[1][4] + 1) % F.P
    _rejects_lookup(pair_lookup, proof, "table leaf denominator", table_mles=_table_mles(other))
    _rejects_lookup(pair_lookup, proof, "the table has 1", table_mles=_table_mles(other[:1]))


def test_lookup_rejects_other_label_and_transcript(pair_lookup) -> None:
    witness, mask, table, proof, _ = pair_lookup
    _rejects_lookup(pair_lookup, proof, "does not match", label="other")
    moved = Transcript()
    moved.absorb_int("earlier message", 1)
    with pytest.raises(LogUpError, match="does not match"):
        verify_lookup(
            _num_vars(37), _num_vars(16), proof, moved, LABEL, _padded_mask_mle(mask), _table_mles(table)
        )


def test_lookup_rejects_malformed_proof(pair_lookup) -> None:
    bad = copy.deepcopy(pair_lookup[3])
    bad.witness_values[0] = bad.witness_values[0][:, :0].copy()
    _rejects_lookup(pair_lookup, bad, "witness values must be a")
    bad = copy.deepcopy(pair_lookup[3])
    bad.witness_values.append(bad.witness_values[0])
    _rejects_lookup(pair_lookup, bad, "not a lookup proof of 1 lookups")
    bad = copy.deepcopy(pair_lookup[3])
    bad.trees.append(bad.trees[0])
    _rejects_lookup(pair_lookup, bad, "expected 1 passes")
    bad = copy.deepcopy(pair_lookup[3])
    bad.multiplicity_values[1, 0] = F.P + 3
    _rejects_lookup(pair_lookup, bad, "not below p")
    bad = copy.deepcopy(pair_lookup[3])
    bad.multiplicity_values = bad.multiplicity_values[:, 0].copy()
    _rejects_lookup(pair_lookup, bad, "multiplicity values: expected")
    bad = copy.deepcopy(pair_lookup[3])
    bad.trees[0].layers.pop()
    _rejects_lookup(pair_lookup, bad, "GKR layers")
    bad = copy.deepcopy(pair_lookup[3])
    bad.trees[0] = bad.trees[0].tops
    _rejects_lookup(pair_lookup, bad, "not a fraction-sum proof")


def _batch(rng: np.random.Generator):
    """Two lookups of different shapes proven as one batch."""
    first, second = _random_lookup(rng, 300, 64, 2), _random_lookup(rng, 20, 8, 1)
    lookups = [Lookup(w, m, t, multiplicities(w, m, t)) for w, m, t in (first, second)]
    statements = [
        LookupStatement(_num_vars(m.shape[0]), _num_vars(t[0].shape[0]), _padded_mask_mle(m), _table_mles(t))
        for w, m, t in (first, second)
    ]
    return lookups, statements


def test_batched_lookups_complete_and_reject_each_lookups_claims() -> None:
    lookups, statements = _batch(np.random.default_rng(31))
    proof, claims = prove_lookups(lookups, Transcript(), LABEL)
    verified = verify_lookups(statements, proof, Transcript(), LABEL)
    for lookup, mine, theirs in zip(lookups, claims, verified):
        assert F.ext_eq(mine.witness_values[0], theirs.witness_values[0])
        padded = np.concatenate(
            [lookup.mask, np.zeros(poly.next_pow2(lookup.mask.shape[0]) - lookup.mask.shape[0], np.uint64)]
        )
        (table_point, value), *_ = theirs.multiplicity_openings()
        assert F.ext_eq(value, poly.evaluate(lookup.multiplicities, table_point))
        assert padded.shape[0] == 1 << theirs.witness_points[0].shape[1]
    bad = copy.deepcopy(proof)
    bad.witness_values[1][0, 0] = (bad.witness_values[1][0, 0] + 1) % F.P
    with pytest.raises(LogUpError, match="lookup 1: witness leaf denominator"):
        verify_lookups(statements, bad, Transcript(), LABEL)
    bad = copy.deepcopy(proof)
    bad.multiplicity_values[2, 0] = (bad.multiplicity_values[2, 0] + 1) % F.P
    with pytest.raises(LogUpError, match="lookup 0: table leaf numerator"):
        verify_lookups(statements, bad, Transcript(), LABEL)
    with pytest.raises(LogUpError, match="not a lookup proof of 1 lookups"):
        verify_lookups(statements[:1], proof, Transcript(), LABEL)
    with pytest.raises(LogUpError):
        verify_lookups(statements[::-1], proof, Transcript(), LABEL)


def test_batched_lookups_reject_a_missing_tuple_in_either() -> None:
    lookups, statements = _batch(np.random.default_rng(32))
    lookups[1].multiplicities[int(np.flatnonzero(lookups[1].multiplicities)[0])] -= 1
    proof, _ = prove_lookups(lookups, Transcript(), LABEL)
    with pytest.raises(LogUpError, match="lookup 1: witness and table fraction sums do not cancel"):
        verify_lookups(statements, proof, Transcript(), LABEL)


# ------------------------------------------------------------------------------------ tiling
SMALL_TILES = Tiling(tile_vars=5, pass_leaves=64)
"""Tiles of 32 leaves, at most two per pass: a 1000-row witness makes 32 tiles in 16 passes."""


def test_tiling_cuts_vectors_and_groups_passes() -> None:
    assert SMALL_TILES.tiles(10) == (32, 5) and SMALL_TILES.tiles(3) == (1, 3)
    assert SMALL_TILES.passes([5, 5, 5, 3, 6, 2]) == [[0, 1], [2, 3], [4], [5]]
    assert TILING.passes([18, 18, 16, 8]) == [[0, 1], [2, 3]]


@pytest.mark.parametrize(
    "witness_len, table_len, tiling",
    [(1000, 64, SMALL_TILES), (37, 300, Tiling(4, 16)), (512, 64, Tiling(6, 128)), (20, 8, Tiling(5, 1))],
)
def test_tiled_lookup_completeness(witness_len: int, table_len: int, tiling: Tiling) -> None:
    rng = np.random.default_rng(witness_len + table_len)
    witness, mask, table = _random_lookup(rng, witness_len, table_len, 2)
    proof, claims = _prove(witness, mask, table, tiling=tiling)
    verified = _verify(proof, witness, mask, table, tiling=tiling)
    tiles = tiling.tiles(_num_vars(witness_len))[0], tiling.tiles(_num_vars(table_len))[0]
    assert (len(claims.witness_points), len(claims.table_points)) == tiles
    assert len(proof.trees) == len(
        tiling.passes(
            [tiling.tiles(_num_vars(witness_len))[1]] * tiles[0]
            + [tiling.tiles(_num_vars(table_len))[1]] * tiles[1]
        )
    )
    padded = [
        np.concatenate([c, np.zeros(poly.next_pow2(witness_len) - witness_len, np.uint64)]) for c in witness
    ]
    _check_claims(claims, verified, padded, multiplicities(witness, mask, table))


@pytest.fixture(scope="module")
def tiled_lookup():
    """A 2-column lookup of 1000 rows into 64, cut into 32 witness tiles and 2 table tiles."""
    rng = np.random.default_rng(17)
    witness, mask, table = _random_lookup(rng, 1000, 64, 2)
    proof, claims = _prove(witness, mask, table, tiling=SMALL_TILES)
    return witness, mask, table, proof, claims


def _rejects_tiled(tiled_lookup, bad: LookupProof, match: str, tiling: Tiling = SMALL_TILES) -> None:
    witness, mask, table, _, _ = tiled_lookup
    with pytest.raises(LogUpError, match=match):
        _verify(bad, witness, mask, table, tiling=tiling)


@pytest.mark.parametrize("pass_index, tree", [(0, 0), (7, 1), (16, 0)])  # pass 16 holds the table tiles
def test_tiled_lookup_rejects_altered_tile_root(tiled_lookup, pass_index: int, tree: int) -> None:
    bad = copy.deepcopy(tiled_lookup[3])
    top = bad.trees[pass_index].tops[tree]
    top[0, 0, 3] = (top[0, 0, 3] + 1) % F.P
    _rejects_tiled(tiled_lookup, bad, "do not cancel")


def test_tiled_lookup_rejects_moved_fractions_between_tiles(tiled_lookup) -> None:
    """Moving one fraction from a tile's sent level to another's keeps the total, but each tile's GKR
    ties its own top to its own leaves."""
    bad = copy.deepcopy(tiled_lookup[3])
    first, second = bad.trees[0].tops[0], bad.trees[0].tops[1]
    n1, d1, n2, d2 = first[:, 0, 2], first[:, 1, 2], second[:, 0, 2], second[:, 1, 2]
    first[:, 0, 2], first[:, 1, 2] = F.ext_add(n1, F.ext_mul(n2, F.ext_mul(d1, F.ext_inv(d2)))), d1
    second[:, 0, 2] = F.ext_zeros()
    _rejects_tiled(tiled_lookup, bad, "round 0 sum")


@pytest.mark.parametrize("tile", [1, 31])
def test_tiled_lookup_rejects_a_tiles_claimed_column_value(tiled_lookup, tile: int) -> None:
    bad = copy.deepcopy(tiled_lookup[3])
    bad.witness_values[tile][2, 1] = (bad.witness_values[tile][2, 1] + 1) % F.P
    _rejects_tiled(tiled_lookup, bad, "witness leaf denominator")


def test_tiled_lookup_rejects_swapped_tile_values(tiled_lookup) -> None:
    bad = copy.deepcopy(tiled_lookup[3])
    bad.witness_values[3], bad.witness_values[4] = bad.witness_values[4], bad.witness_values[3]
    _rejects_tiled(tiled_lookup, bad, "witness leaf denominator")


def test_tiled_lookup_rejects_a_table_tiles_multiplicity(tiled_lookup) -> None:
    bad = copy.deepcopy(tiled_lookup[3])
    bad.multiplicity_values[1, 1] = (bad.multiplicity_values[1, 1] + 1) % F.P
    _rejects_tiled(tiled_lookup, bad, "table leaf numerator")


def test_tiled_lookup_rejects_malformed_tiles(tiled_lookup) -> None:
    bad = copy.deepcopy(tiled_lookup[3])
    bad.witness_values[5] = bad.witness_values[5][:, :1].copy()
    _rejects_tiled(tiled_lookup, bad, "different column counts")
    bad = copy.deepcopy(tiled_lookup[3])
    bad.trees.pop()
    _rejects_tiled(tiled_lookup, bad, "expected 17 passes")
    bad = copy.deepcopy(tiled_lookup[3])
    bad.witness_values.pop()
    _rejects_tiled(tiled_lookup, bad, "not a lookup proof of 1 lookups")
    bad = copy.deepcopy(tiled_lookup[3])
    bad.multiplicity_values = bad.multiplicity_values[:, :1].copy()
    _rejects_tiled(tiled_lookup, bad, "multiplicity values: expected")
    _rejects_tiled(tiled_lookup, tiled_lookup[3], "not a lookup proof", tiling=Tiling(6, 64))
    _rejects_tiled(tiled_lookup, tiled_lookup[3], "passes", tiling=Tiling(5, 128))


def test_tiled_lookup_rejects_a_missing_tuple() -> None:
    rng = np.random.default_rng(19)
    witness, mask, table = _random_lookup(rng, 1000, 64, 1)
    mult = multiplicities(witness, mask, table)
    mult[int(np.flatnonzero(mult)[-1])] -= 1
    proof, _ = _prove(witness, mask, table, mult, tiling=SMALL_TILES)
    with pytest.raises(LogUpError, match="do not cancel"):
        _verify(proof, witness, mask, table, tiling=SMALL_TILES)


def test_multiplicities_are_counted_chunk_by_chunk(monkeypatch) -> None:
    """Counting in chunks gives the whole witness's counts, and a refusal names the first missing row and
    every missing row in all chunks."""
    import edgeprove.lookup as lookup_module

    monkeypatch.setattr(lookup_module, "_COUNT_CHUNK", 8)
    rng = np.random.default_rng(23)
    values = rng.integers(0, 16, size=100)
    mask = (rng.random(100) < 0.8).astype(np.uint64)
    mult = multiplicities([F.asbase(values)], mask, [range_table(4)])
    assert np.array_equal(mult, np.bincount(values[mask == 1], minlength=16))
    values[[13, 50, 77]] = 40
    mask[[13, 50, 77]] = 1
    with pytest.raises(LogUpError, match=r"witness row 13 \(40\) is not in the table \(3 such rows\)"):
        multiplicities([F.asbase(values)], mask, [range_table(4)])


def test_lookup_refuses_bad_input() -> None:
    table = [range_table(3)]
    witness = [F.asbase(np.array([1, 2, 3]))]
    with pytest.raises(LogUpError, match="0 or 1"):
        multiplicities(witness, np.array([1, 2, 0]), table)
    with pytest.raises(LogUpError, match="length 3"):
        multiplicities(witness, np.array([1, 1]), table)
    with pytest.raises(LogUpError, match="columns"):
        multiplicities(witness + witness, np.array([1, 1, 1]), table)
    with pytest.raises(LogUpError, match="outside"):
        multiplicities([np.array([-1, 2, 3])], np.array([1, 1, 1]), table)
    with pytest.raises(LogUpError, match="at least one column"):
        multiplicities([], np.array([1, 1, 1]), table)
    with pytest.raises(LogUpError, match="padded table"):
        prove_lookup(witness, np.array([1, 1, 1]), table, np.zeros(5, np.uint64), Transcript(), LABEL)


# ------------------------------------------------------------------------------- standard tables
@pytest.mark.parametrize("bits", [1, 3, 8])
def test_range_table_mle(bits: int) -> None:
    rng = np.random.default_rng(bits)
    z = F.random_ext(rng, bits)
    assert np.array_equal(range_table(bits), np.arange(1 << bits))
    assert F.ext_eq(range_mle(z), poly.evaluate(range_table(bits), z))


@pytest.mark.parametrize("bits, lo, hi", [(1, 0, 0), (4, -3, 2), (10, 0, 127), (12, -128, 127)])
def test_activation_table_and_mles(bits: int, lo: int, hi: int) -> None:
    values, clamped = activation_table(bits, lo, hi)
    signed = F.decode_signed(values)
    assert np.array_equal(signed, np.arange(-(1 << (bits - 1)), 1 << (bits - 1)))
    assert np.array_equal(F.decode_signed(clamped), np.clip(signed, lo, hi))
    z = F.random_ext(np.random.default_rng(bits), bits)
    mles = activation_mles(bits, lo, hi)(z)
    assert F.ext_eq(mles[0], poly.evaluate(values, z))
    assert F.ext_eq(mles[1], poly.evaluate(clamped, z))
    with pytest.raises(LogUpError, match="lo <= hi"):
        activation_table(bits, 5, 4)


@pytest.mark.parametrize("bits", [1, 5, 11])
def test_mapped_tables_and_mles_for_any_map(bits: int) -> None:
    """Any map of integers (a sigmoid's, here a map with no closed form) gives the columns (v, map(v)), and
    the verifier's evaluator is the MLE of both; the clamp table is the mapped table of a clip."""

    def odd(values):
        return (values * values) % 7 - 3

    values, mapped = mapped_table(bits, odd)
    signed = F.decode_signed(values)
    assert np.array_equal(F.decode_signed(mapped), odd(signed))
    z = F.random_ext(np.random.default_rng(bits), bits)
    mles = mapped_mles(bits, odd)(z)
    assert F.ext_eq(mles[0], poly.evaluate(values, z)) and F.ext_eq(mles[1], poly.evaluate(mapped, z))
    clip = mapped_table(bits, lambda v: np.clip(v, -2, 9))
    assert all(np.array_equal(a, b) for a, b in zip(clip, activation_table(bits, -2, 9)))
    with pytest.raises(LogUpError, match="bits >= 1"):
        mapped_table(0, odd)


def test_requantization_lookups_end_to_end() -> None:
    """(q, y = clamp(q)) into the activation table and a remainder range check, as a layer would use them."""
    rng = np.random.default_rng(21)
    q = rng.integers(-200, 200, size=100)
    remainder = rng.integers(0, 1 << 6, size=100)
    mask = np.ones(100, dtype=np.uint64)
    activation = [F.encode_signed(q), F.encode_signed(np.clip(q, 0, 127))]
    table = activation_table(10, 0, 127)
    transcript_p, transcript_v = Transcript(), Transcript()
    proof_act, _ = prove_lookup(
        activation, mask, table, multiplicities(activation, mask, table), transcript_p, "act"
    )
    rem = [F.asbase(remainder)]
    proof_rng, _ = prove_lookup(
        rem, mask, [range_table(6)], multiplicities(rem, mask, [range_table(6)]), transcript_p, "range"
    )
    verify_lookup(7, 10, proof_act, transcript_v, "act", _padded_mask_mle(mask), activation_mles(10, 0, 127))
    verify_lookup(7, 6, proof_rng, transcript_v, "range", _padded_mask_mle(mask), lambda z: [range_mle(z)])
    assert transcript_p.digest() == transcript_v.digest()
    wrong = [F.encode_signed(q), F.encode_signed(np.clip(q, -128, 127))]  # no ReLU: not in the table
    with pytest.raises(LogUpError, match="not in the table"):
        multiplicities(wrong, mask, table)


def test_bench_lookup_refuses_bad_parameters() -> None:
    from edgeprove.lookup import bench_lookup

    with pytest.raises(ValueError, match="repeats >= 1"):
        bench_lookup(4, 4, 0)


# ---------------------------------------------------------------------------------------- hidden lookups
def hidden_case(tiling=TILING, seed: int = 0):
    """Two lookups (2 bits of range, then 3) on witnesses of 2^5 and 2^4 entries, proven hidden; returns
    what the verifier's replay needs and the true values of the committed columns."""
    rng = np.random.default_rng(seed)
    witnesses = [rng.integers(0, 4, size=29), rng.integers(0, 8, size=16)]
    lookups, statements, truths = [], [], []
    for w, bits in zip(witnesses, (2, 3)):
        mask = np.ones(w.size, dtype=np.uint8)
        mult = multiplicities([F.asbase(w)], mask, [range_table(bits)])
        lookups.append(Lookup([F.asbase(w)], mask, [range_table(bits)], mult))
        n = poly.num_vars(poly.next_pow2(w.size))
        padded = np.zeros(1 << n, dtype=np.uint64)
        padded[: w.size] = 1
        statements.append(LookupStatement(n, bits, _mle_of(padded), lambda z: [range_mle(z)]))
        column = np.zeros(1 << n, dtype=np.uint64)
        column[: w.size] = w
        truths.append((column, F.asbase(mult)))
    shapes = [(s.num_vars_witness, s.num_vars_table, 1) for s in statements]
    return lookups, statements, truths, hidden_plan(shapes, tiling)


def _mle_of(table: np.ndarray):
    return lambda z: poly.evaluate(table, z)


def _holds(constraint: zk.LinearConstraint, pads: np.ndarray) -> bool:
    total = F.ext_zeros()
    for i, c in constraint.pads.items():
        total = F.ext_add(total, F.ext_mul(pads[:, i], np.array(c, dtype=np.uint64)))
    return F.ext_eq(total, np.array(constraint.value, dtype=np.uint64))


def _owed(value: zk.Hidden, truth: np.ndarray, pads: np.ndarray) -> bool:
    """Whether a claim's hidden value is the truth for these pads."""
    total = np.array(value.const, dtype=np.uint64)
    for i, c in value.terms.items():
        total = F.ext_add(total, F.ext_mul(pads[:, i], np.array(c, dtype=np.uint64)))
    return F.ext_eq(total, truth)


@pytest.mark.parametrize("tiling", [TILING, Tiling(3, 16)], ids=["whole", "tiles and passes"])
def test_a_hidden_lookup_batch_leaves_constraints_that_hold_and_true_claims(tiling):
    """Every value sent hidden; the verifier's replay owes constraints the prover's pads satisfy (its
    rounds, children, roots, running sums and leaves, and every product through its line check), and
    claims whose hidden values are the committed columns' and multiplicities' true MLE values."""
    lookups, statements, truths, plan = hidden_case(tiling)
    pads = zk.PadSource(plan)
    proof, _ = prove_lookups(lookups, Transcript(), "lk", tiling, pads=pads)
    pads.finish()
    ledger = zk.PadLedger(plan)
    claims = verify_lookups_hidden(statements, [1, 1], proof, Transcript(), "lk", ledger, tiling)
    tau = F.random_ext(np.random.default_rng(1))
    ledger.check_lines(tau, pads.lines(tau))
    ledger.finish()
    assert ledger.constraints and all(_holds(c, pads.pads) for c in ledger.constraints)
    for claim, (column, mult) in zip(claims, truths):
        for z, value in claim.column_openings(0):
            assert _owed(value, poly.evaluate(column, z), pads.pads)
        for z, value in claim.multiplicity_openings():
            assert _owed(value, poly.evaluate(mult, z), pads.pads)


def test_a_hidden_lookup_of_a_value_outside_its_table_breaks_a_constraint():
    """The prover forces a witness value of 5 into the 2-bit table (multiplicities that leave it out):
    the fractions cannot cancel, so some constraint fails for every choice of pads."""
    lookups, statements, truths, plan = hidden_case()
    witness = lookups[0].witness_cols[0].copy()
    witness[0] = 5
    lookups[0] = Lookup([witness], lookups[0].mask, lookups[0].table_cols, lookups[0].multiplicities)
    pads = zk.PadSource(plan)
    proof, _ = prove_lookups(lookups, Transcript(), "lk", pads=pads)
    ledger = zk.PadLedger(plan)
    verify_lookups_hidden(statements, [1, 1], proof, Transcript(), "lk", ledger)
    tau = F.random_ext(np.random.default_rng(2))
    ledger.check_lines(tau, pads.lines(tau))
    failed = [c.what for c in ledger.constraints if not _holds(c, pads.pads)]
    assert any("do not cancel" in what for what in failed), failed


def test_a_hidden_lookup_refuses_values_that_do_not_follow_its_plan():
    lookups, statements, _, plan = hidden_case()
    pads = zk.PadSource(plan)
    proof, _ = prove_lookups(lookups, Transcript(), "lk", pads=pads)
    short = zk.PadLedger(zk.PadPlan(plan.values - 1, plan.products))
    with pytest.raises(zk.ZkError):
        verify_lookups_hidden(statements, [1, 1], proof, Transcript(), "lk", short)
    malformed = copy.deepcopy(proof)
    malformed.sums = F.ext_zeros((1, 2))
    with pytest.raises(LogUpError, match="running sums"):
        verify_lookups_hidden(statements, [1, 1], malformed, Transcript(), "lk", zk.PadLedger(plan))
    with pytest.raises(LogUpError, match="running sums"):  # a proof in the clear sends none
        verify_lookups(statements, malformed, Transcript(), "lk")


def _sent(proof) -> np.ndarray:
    """Every value a hidden lookup proof sends, flattened in a fixed order."""
    parts = []
    for tree in proof.trees:
        parts += [top.ravel() for top in tree.tops]
        for layer, children in zip(tree.layers, tree.children):
            parts += [r.ravel() for r in layer.rounds] + [children.ravel()]
    parts += (
        [proof.sums.ravel()] + [v.ravel() for v in proof.witness_values] + [proof.multiplicity_values.ravel()]
    )
    return np.concatenate(parts)


def _simulated(statements, plan, coins, rng) -> np.ndarray:
    """The simulator: uniform values in the proof's shapes (fixed by the statement; taken here from any
    proof of it) and uniform lines; the verifier's replay takes them (its constraints are then what the
    opening proves, whose simulation ``zkstats.simulate_opening`` covers)."""
    lookups, _, _, _ = hidden_case(seed=5)
    shaped, _ = prove_lookups(lookups, FixedCoins(coins), "lk", pads=zk.PadSource(plan))
    proof = copy.deepcopy(shaped)
    for tree in proof.trees:
        tree.tops = [F.random_ext(rng, top.shape[1:]) for top in tree.tops]
        for layer in tree.layers:
            layer.rounds = [F.random_ext(rng, r.shape[1:]) for r in layer.rounds]
        tree.children = [F.random_ext(rng, c.shape[1:]) for c in tree.children]
    proof.sums = F.random_ext(rng, proof.sums.shape[1:])
    proof.witness_values = [F.random_ext(rng, v.shape[1:]) for v in proof.witness_values]
    proof.multiplicity_values = F.random_ext(rng, proof.multiplicity_values.shape[1:])
    ledger = zk.PadLedger(plan)
    verify_lookups_hidden(statements, [1, 1], proof, FixedCoins(coins), "lk", ledger)
    lines = F.random_ext(rng, len(plan.factors))
    ledger.check_lines(coins["tau"], lines)
    ledger.finish()
    return np.concatenate([_sent(proof), lines.ravel()])


def test_real_and_simulated_hidden_lookups_show_the_same_distribution():
    """With the honest verifier's coins fixed, every sent value and every line of a real view is the true
    value plus its own pad (or a pad plus tau times its own slope): uniform, whatever the witness.  Two
    different witnesses' views and the simulator's pass the same chi-square tests, per coordinate and
    against each other; with the pads off the two witnesses' views are fixed points that differ."""
    _, statements, _, plan = hidden_case()
    rng = np.random.default_rng(9)
    coins = _FixedDraws(rng)
    views = {}
    for seed in (0, 1):
        lookups = hidden_case(seed=seed)[0]
        samples = []
        for _ in range(160):
            pads = zk.PadSource(plan)
            proof, _ = prove_lookups(lookups, FixedCoins(coins), "lk", pads=pads)
            samples.append(np.concatenate([_sent(proof), pads.lines(coins["tau"]).ravel()]))
        views[seed] = np.stack(samples)
    assert views[0].shape[1] == 4 * (plan.values + len(plan.factors))
    simulated = np.stack([_simulated(statements, plan, coins, rng) for _ in range(160)])
    for samples in (views[0], views[1], simulated):
        assert uniform_chi2_p(samples) > 1e-6
    assert two_sample_chi2_p(views[0], views[1]) > 1e-6
    assert two_sample_chi2_p(views[0], simulated) > 1e-6
    unpadded = []
    for seed in (0, 1):
        pads = zk.PadSource(plan)
        pads.pads[:] = 0
        proof, _ = prove_lookups(hidden_case(seed=seed)[0], FixedCoins(coins), "lk", pads=pads)
        unpadded.append(_sent(proof))
    assert not np.array_equal(unpadded[0], unpadded[1])


class _FixedDraws(dict):
    """Coins drawn once per label, the same ever after (the honest verifier's fixed randomness)."""

    def __init__(self, rng) -> None:
        super().__init__()
        self.rng = rng
        self["tau"] = F.random_ext(rng)

    def __missing__(self, label: str):
        self[label] = F.random_ext(self.rng)
        return self[label]
