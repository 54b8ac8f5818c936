"""Pads, hidden values and their constraints: the plan's layout, the prover's pads, the verifier's affine
replay, the product check by lines (complete, and a wrong product caught), and a hidden sumcheck proven
end to end by a hiding opening of constraints, with a tamper test for each kind of constraint."""

from __future__ import annotations

import numpy as np
import pytest
from zkstats import FixedCoins, affine_dimension, simulate_opening, two_sample_chi2_p, uniform_chi2_p

from edgeprove import field as F
from edgeprove import poly, zk
from edgeprove import sumcheck as S
from edgeprove.commit import zk_ligero as Z
from edgeprove.randomness import OsRandomness
from edgeprove.transcript import Transcript


def holds(constraint: zk.LinearConstraint, pads: np.ndarray, claims: list[np.ndarray] = ()) -> bool:
    """Whether a constraint holds for the pads (4, size) and the claims' true values."""
    total = F.ext_zeros()
    for i, c in constraint.pads.items():
        total = F.ext_add(total, F.ext_mul(pads[:, i], np.array(c, dtype=np.uint64)))
    for e, c in constraint.claims.items():
        total = F.ext_add(total, F.ext_mul(claims[e], np.array(c, dtype=np.uint64)))
    return F.ext_eq(total, np.array(constraint.value, dtype=np.uint64))


def test_plans_compose_and_lay_out_values_slopes_then_products():
    first = zk.PadPlan(3, ((0, 2),))
    second = zk.PadPlan(2, ((0, 1), (1, 1)))
    plan = first.then(second)
    assert plan == zk.PadPlan().then(first).then(second)
    assert plan.values == 5 and plan.products.tolist() == [[0, 2], [3, 4], [4, 4]]
    assert plan.factors.tolist() == [0, 2, 3, 4]
    assert plan.size == 5 + 4 + 9
    assert plan.slopes(3) == 7 and plan.product_entries(1) == (12, 13, 14)


def test_pads_are_fresh_and_the_product_entries_follow_from_them():
    plan = zk.PadPlan(4, ((0, 1), (2, 2)))
    a, b = zk.PadSource(plan), zk.PadSource(plan)
    assert not np.array_equal(a.pads, b.pads)
    for j, (x, y) in enumerate(plan.products):
        xy, c1, c2 = plan.product_entries(j)
        px, py, sx, sy = (a.pads[:, i] for i in (x, y, *plan.slopes([x, y])))
        assert F.ext_eq(a.pads[:, xy], F.ext_mul(px, py))
        assert F.ext_eq(a.pads[:, c1], F.ext_add(F.ext_mul(px, sy), F.ext_mul(py, sx)))
        assert F.ext_eq(a.pads[:, c2], F.ext_mul(sx, sy))
    vector = a.vector()
    assert vector.dtype == np.uint32 and vector.size == 4 * plan.size
    assert np.array_equal(vector.reshape(-1, 4).T, a.pads)


def test_hidden_values_are_sent_minus_pads_and_received_as_sent_plus_pads():
    rng = np.random.default_rng(1)
    plan = zk.PadPlan(6)
    source, ledger = zk.PadSource(plan), zk.PadLedger(plan)
    values = F.random_ext(rng, (2, 3))
    sent = source.hide(values)
    received = ledger.receive(sent)
    for v, h in zip(values.reshape(4, -1).T, received):
        assert h.terms.keys() == {received.index(h)}
        assert F.ext_eq(F.ext_add(h.value(), source.pads[:, received.index(h)]), v)
    ledger.finish()
    with pytest.raises(zk.ZkError, match="more"):
        source.hide(values[:, 0, :1])
    with pytest.raises(zk.ZkError, match="more hidden values"):
        ledger.receive(sent[:, 0, :1])


def test_affine_arithmetic_matches_the_values():
    rng = np.random.default_rng(2)
    plan = zk.PadPlan(3)
    source, ledger = zk.PadSource(plan), zk.PadLedger(plan)
    values = F.random_ext(rng, 3)
    x, y, w = ledger.receive(source.hide(values))
    k = F.random_ext(rng)
    expression = (x + y.times(k)) - w + k
    expected = F.ext_add(F.ext_sub(F.ext_add(values[:, 0], F.ext_mul(values[:, 1], k)), values[:, 2]), k)
    ledger.require(expression, expected, "expression")
    assert holds(ledger.constraints[0], source.pads)
    ledger.require(expression, F.ext_add(expected, F.ext_ones()), "off by one")
    assert not holds(ledger.constraints[1], source.pads)


def test_a_moved_constraint_holds_where_its_pads_and_claims_moved():
    """A member's constraint in a shared commitment: pad i becomes pad base + i, claim j claim base + j."""
    rng = np.random.default_rng(4)
    plan = zk.PadPlan(3)
    source, ledger = zk.PadSource(plan), zk.PadLedger(plan)
    values = F.random_ext(rng, 3)
    x, y, _ = ledger.receive(source.hide(values))
    truth, other = F.ext_add(values[:, 0], values[:, 1]), F.random_ext(rng)
    ledger.claim(0, x + y, "x + y is claim 0")
    assert holds(ledger.constraints[0], source.pads, [truth])
    moved = ledger.constraints[0].moved(5, 2)
    shared = np.concatenate([F.random_ext(rng, 5), source.pads], axis=1)
    assert holds(moved, shared, [other, other, truth])
    assert not holds(moved, shared, [truth, truth, other])
    assert not holds(moved, np.roll(shared, 1, axis=1), [other, other, truth])


def product_run(tamper: bool = False):
    rng = np.random.default_rng(3)
    plan = zk.PadPlan(3, ((0, 1), (1, 2)))
    source, ledger = zk.PadSource(plan), zk.PadLedger(plan)
    if tamper:
        source.pads[:, plan.product_entries(0)[0]] = F.ext_add(source.pads[:, plan.product_entries(0)[0]], 1)
    values = F.random_ext(rng, 3)
    a, b, c = ledger.receive(source.hide(values))
    first = ledger.product(a + values[:, 2], b)
    ledger.require(first, F.ext_mul(F.ext_add(values[:, 0], values[:, 2]), values[:, 1]), "first")
    second = ledger.product(b, c.times(values[:, 0]))
    ledger.require(second, F.ext_mul(values[:, 1], F.ext_mul(values[:, 2], values[:, 0])), "second")
    tau = F.random_ext(rng)
    ledger.check_lines(tau, source.lines(tau))
    ledger.finish()
    return source, ledger


def test_products_of_hidden_values_become_linear_constraints_that_hold():
    source, ledger = product_run()
    assert [c.what for c in ledger.constraints] == [
        "first",
        "second",
        "line",
        "line",
        "line",
        "product",
        "product",
    ]
    assert all(holds(c, source.pads) for c in ledger.constraints)


def test_a_wrong_committed_pad_product_fails_its_line_check():
    source, ledger = product_run(tamper=True)
    failed = [c.what for c in ledger.constraints if not holds(c, source.pads)]
    assert failed == ["first", "product"]


def test_a_product_needs_factors_of_one_hidden_value_each_in_the_planned_order():
    plan = zk.PadPlan(3, ((0, 1),))
    ledger = zk.PadLedger(plan)
    a, b, c = ledger.receive(F.ext_zeros(3))
    with pytest.raises(zk.ZkError, match="other hidden terms"):
        ledger.product(a + c, b)
    ledger.product(a, b)
    with pytest.raises(zk.ZkError, match="more products"):
        ledger.product(a, b)
    with pytest.raises(zk.ZkError, match="product lines"):
        ledger.check_lines(F.ext_ones(), F.ext_zeros(1))


def test_an_unfinished_plan_is_refused():
    ledger = zk.PadLedger(zk.PadPlan(2))
    ledger.receive(F.ext_zeros(1))
    with pytest.raises(zk.ZkError, match="used 1 of 2"):
        ledger.finish()


# -------------------------------------------------------------------- a hidden sumcheck, proven by an opening
PARAMS = Z.ZkLigeroParams(queries=24)
NUM_VARS = 6
PAD_OFFSET = 2 << NUM_VARS
"""The witness w (2^6 entries) in the first quarter of the committed vector (2^8 entries), the pads in
its second half."""


def hidden_linear_proof(witness: np.ndarray, weights: np.ndarray, tamper=None):
    """Prove sum_x w(x) G(x) = claim with every round hidden, then open the commitment of (w, pads) at
    w~(gamma) with the constraints the verifier's replay gives; returns what a verifier needs."""
    degree = 2
    plan = zk.PadPlan(NUM_VARS * (degree + 1))
    source = zk.PadSource(plan)
    vector = np.zeros(4 << NUM_VARS, dtype=np.uint32)
    vector[: 1 << NUM_VARS] = witness
    vector[PAD_OFFSET : PAD_OFFSET + 4 * plan.size] = source.vector()
    commitment, state = Z.commit(vector, PARAMS)
    transcript = Transcript()
    transcript.absorb_bytes("root", commitment.root)
    claim = F.ext_inner(witness.astype(np.uint64), weights)
    proof, gamma, _, _ = S.prove(
        [witness.astype(np.uint64), weights], [(1, (0, 1))], degree, transcript, "lin", pads=source
    )
    if tamper is not None:  # a prover that sends this instead, then goes on from what it sent
        tamper(proof)
    transcript, constraints, point = replay(commitment, claim, proof, weights)
    opening = Z.open_constraints(state, [point], constraints, PAD_OFFSET, transcript, "open")
    return commitment, claim, proof, opening


def replay(commitment, claim, proof, weights):
    """The verifier's replay: the transcript through the hidden rounds, and the constraints it owes."""
    transcript = Transcript()
    transcript.absorb_bytes("root", commitment.root)
    plan = zk.PadPlan(NUM_VARS * 3)
    ledger = zk.PadLedger(plan)
    gamma, final = S.verify_hidden(zk.Hidden.of(claim), NUM_VARS, 2, proof, transcript, "lin", ledger)
    ledger.claim(0, final, "final", coefficient=poly.evaluate(weights, gamma))
    ledger.finish()
    return transcript, ledger.constraints, poly.concat_points(F.ext_zeros(2), gamma)


def check_hidden(commitment, claim, proof, opening, weights):
    transcript, constraints, point = replay(commitment, claim, proof, weights)
    Z.verify_constraints(commitment, [point], constraints, PAD_OFFSET, opening, transcript, "open", PARAMS)


@pytest.fixture(scope="module")
def hidden_case():
    rng = np.random.default_rng(4)
    witness = F.random_base(rng, 1 << NUM_VARS).astype(np.uint32)
    weights = F.random_ext(rng, 1 << NUM_VARS)
    return witness, weights


def test_a_hidden_sumcheck_is_proven_by_the_opening_of_its_constraints(hidden_case):
    witness, weights = hidden_case
    commitment, claim, proof, opening = hidden_linear_proof(witness, weights)
    check_hidden(commitment, claim, proof, opening, weights)


def test_a_wrong_claimed_sum_is_rejected_by_the_opening(hidden_case):
    witness, weights = hidden_case
    commitment, claim, proof, opening = hidden_linear_proof(witness, weights)
    with pytest.raises(Z.ZkLigeroError):
        check_hidden(commitment, F.ext_add(claim, F.ext_ones()), proof, opening, weights)


@pytest.mark.parametrize("round_index", [0, NUM_VARS - 1])
@pytest.mark.parametrize("evaluation", [0, 2])
def test_a_changed_hidden_round_is_rejected_by_the_opening(hidden_case, round_index, evaluation):
    """The prover sends a round off by one and follows it honestly otherwise (its opening proves the
    constraints of what it sent): a round check or the final check fails, so the opening cannot hold."""
    witness, weights = hidden_case

    def bump(proof):
        proof.rounds[round_index][0, evaluation] = (proof.rounds[round_index][0, evaluation] + 1) % F.P

    with pytest.raises(Z.ZkLigeroError, match="coefficient C-1"):
        commitment, claim, proof, opening = hidden_linear_proof(witness, weights, tamper=bump)
        check_hidden(commitment, claim, proof, opening, weights)


def test_a_changed_round_after_the_proof_is_rejected(hidden_case):
    witness, weights = hidden_case
    commitment, claim, proof, opening = hidden_linear_proof(witness, weights)
    proof.rounds[2][1, 1] = (proof.rounds[2][1, 1] + 1) % F.P
    with pytest.raises(Z.ZkLigeroError):
        check_hidden(commitment, claim, proof, opening, weights)


# ------------------------------------------------------------ honest-verifier zero knowledge, on a tiny case
TINY = Z.ZkLigeroParams(queries=4)
TINY_WITNESS_VARS = 2
TINY_PAD_OFFSET = 8
"""A 2^5 vector (R = 8, C = 4): the witness (4 entries) in row 0, the six pads of two degree-2 rounds in
rows 2 to 7."""


def tiny_coins(rng) -> dict:
    return {
        "lin/r": F.random_ext(rng),
        "open/alpha": F.random_ext(rng),
        "open/u": F.random_ext(rng, 8 + 4),
        "open/columns": sorted(rng.choice(32, size=4, replace=False).tolist()),
    }


def tiny_replay(claim, rounds, weights, coins):
    """The verifier's replay of hidden rounds under fixed coins: the constraints and the claim's point."""
    proof = S.SumcheckProof(rounds)
    ledger = zk.PadLedger(zk.PadPlan(TINY_WITNESS_VARS * 3))
    gamma, final = S.verify_hidden(
        zk.Hidden.of(claim), TINY_WITNESS_VARS, 2, proof, FixedCoins(coins), "lin", ledger
    )
    ledger.claim(0, final, "final", coefficient=poly.evaluate(weights, gamma))
    ledger.finish()
    return ledger.constraints, poly.concat_points(F.ext_zeros(3), gamma)


def tiny_real(witness, weights, coins, pads_on=True):
    """One real view: the sent rounds, then the opening's rows and columns."""
    plan = zk.PadPlan(TINY_WITNESS_VARS * 3)
    source = zk.PadSource(plan)
    if not pads_on:
        source.pads[:] = 0
    vector = np.zeros(32, dtype=np.uint32)
    vector[:4] = witness
    vector[TINY_PAD_OFFSET:] = source.vector()
    _, state = Z.commit(vector, TINY)
    tables = [witness.astype(np.uint64), weights]
    proof, *_ = S.prove(tables, [(1, (0, 1))], 2, FixedCoins(coins), "lin", pads=source)
    claim = F.ext_inner(witness.astype(np.uint64), weights)
    constraints, point = tiny_replay(claim, proof.rounds, weights, coins)
    opening = Z.open_constraints(state, [point], constraints, TINY_PAD_OFFSET, FixedCoins(coins), "open")
    return np.concatenate([np.concatenate(proof.rounds, axis=1).ravel(), view(opening)])


def tiny_simulated(claim, weights, coins):
    """The simulator's view from the public claim, the weights and the coins: uniform rounds, the
    constraints they give, and a simulated opening of those constraints; checked to be accepted."""
    rng = OsRandomness()
    rounds = [rng.field(12).reshape(4, 3) for _ in range(TINY_WITNESS_VARS)]
    constraints, point = tiny_replay(claim, rounds, weights, coins)
    functional = Z.constraints_functional([point], constraints, TINY_PAD_OFFSET, 4, coins["open/alpha"])
    challenges = Z.Challenges(coins["open/alpha"], coins["open/u"], np.array(coins["open/columns"]))
    commitment, opening = simulate_opening(32, TINY, functional, challenges)
    Z.check(commitment, TINY, functional, opening, challenges)
    return np.concatenate([np.concatenate(rounds, axis=1).ravel(), view(opening)])


def view(opening: Z.ZkOpeningProof) -> np.ndarray:
    return np.concatenate([opening.ldt.ravel(), opening.dot.ravel(), opening.columns.ravel()])


@pytest.fixture(scope="module")
def tiny_hidden_views():
    """Real views of two witnesses with the same public sum, and simulated views, for one set of coins:
    200 of each."""
    rng = np.random.default_rng(8)
    weights = F.ext_from_base(F.random_base(rng, 4))  # base weights, so an equal sum is easy to arrange
    first = F.random_base(rng, 4)
    second = F.random_base(rng, 4)
    gap = (F.inner(weights[0], first) - F.inner(weights[0], second)) % F.P
    second[-1] = (int(second[-1]) + gap * pow(int(weights[0, -1]), F.P - 2, F.P)) % F.P
    claim = F.ext_inner(first, weights)
    assert F.ext_eq(claim, F.ext_inner(second, weights))
    coins = tiny_coins(rng)
    return {
        "first": np.stack([tiny_real(first, weights, coins) for _ in range(200)]),
        "second": np.stack([tiny_real(second, weights, coins) for _ in range(200)]),
        "simulated": np.stack([tiny_simulated(claim, weights, coins) for _ in range(200)]),
        "unpadded": [
            tiny_real(w, weights, coins, pads_on=False) for w in (first, second) for _ in range(100)
        ],
    }


def test_real_and_simulated_hidden_sumchecks_span_the_same_affine_space(tiny_hidden_views):
    """The view (24 round values, 44 + 44 row values, 4 columns of 16) is an affine function of the
    prover's randomness, so uniform on its hull: the hulls of both witnesses' real views and of the
    simulator's are one space.  With the pads switched off the rounds are a function of the witness and the
    two witnesses' views separate (the hull of their union is one dimension larger)."""
    first, second, simulated = (tiny_hidden_views[k] for k in ("first", "second", "simulated"))
    assert first.shape == (200, 176)
    dimension = affine_dimension(first)
    assert 24 < dimension < first.shape[0] - 1
    for samples in (second, simulated, np.concatenate([first, second, simulated])):
        assert affine_dimension(samples) == dimension
    unpadded = np.stack(tiny_hidden_views["unpadded"])
    assert affine_dimension(unpadded) > max(
        affine_dimension(unpadded[:100]), affine_dimension(unpadded[100:])
    )


def test_every_revealed_coordinate_of_a_hidden_sumcheck_is_uniform(tiny_hidden_views):
    """Chi-square of every coordinate that varies, for both witnesses and the simulator, and two-sample
    tests between them (p below 1e-6 fails)."""
    first, second, simulated = (tiny_hidden_views[k] for k in ("first", "second", "simulated"))
    varies = ~np.all(first == first[0], axis=0)
    for samples in (first, second, simulated):
        assert uniform_chi2_p(samples[:, varies]) > 1e-6
    assert two_sample_chi2_p(first[:, varies], second[:, varies]) > 1e-6
    assert two_sample_chi2_p(first[:, varies], simulated[:, varies]) > 1e-6
