"""Sumcheck: completeness on random tables and a rejection for every verifier check."""

import numpy as np
import pytest

from edgeprove import field as F
from edgeprove import poly
from edgeprove import sumcheck as S
from edgeprove.transcript import Transcript


def run(tables, terms, degree, label="sc"):
    proof, point, finals, total = S.prove(tables, terms, degree, Transcript(), label)
    return proof, point, finals, total


def brute_sum(tables, terms):
    n = tables[0].shape[-1]
    total = F.ext_zeros()
    for x in range(n):
        vals = [F.ext_from_base(t[x]) if t.ndim == 1 else t[:, x] for t in tables]
        total = F.ext_add(total, S.combine_terms(terms, vals))
    return total


@pytest.mark.parametrize("n", [0, 1, 2, 6])
@pytest.mark.parametrize("degree", [2, 3])
def test_completeness(n, degree):
    rng = np.random.default_rng(10 * n + degree)
    tables = [F.random_base(rng, 1 << n), F.random_ext(rng, 1 << n), poly.eq_table(F.random_ext(rng, n))]
    terms = [(1, tuple(range(degree))), (F.random_ext(rng), (1,)), (7, (0, 2))]
    proof, point, finals, total = run(tables, terms, degree)
    assert F.ext_eq(total, brute_sum(tables, terms))
    got_point, final_claim = S.verify(total, n, degree, proof, Transcript(), "sc")
    assert F.ext_eq(got_point, point)
    assert F.ext_eq(final_claim, S.combine_terms(terms, finals))
    for t, f in zip(tables, finals):
        assert F.ext_eq(poly.evaluate(t, point), f)


def test_known_claim_skips_work_and_agrees():
    rng = np.random.default_rng(5)
    tables = [F.random_base(rng, 32), F.random_base(rng, 32)]
    terms = [(1, (0, 1))]
    claim = brute_sum(tables, terms)
    proof, _, finals, total = S.prove(tables, terms, 2, Transcript(), "sc", claim=claim)
    _, final_claim = S.verify(claim, 5, 2, proof, Transcript(), "sc")
    assert F.ext_eq(final_claim, S.combine_terms(terms, finals))


@pytest.fixture
def honest():
    rng = np.random.default_rng(9)
    tables = [F.random_base(rng, 16), F.random_ext(rng, 16), F.random_ext(rng, 16)]
    terms = [(1, (0, 1, 2))]
    proof, point, finals, total = run(tables, terms, 3)
    return tables, terms, proof, finals, total


def test_wrong_claimed_sum_rejected(honest):
    _, _, proof, _, total = honest
    with pytest.raises(S.SumcheckError):
        S.verify(F.ext_add(total, F.ext_ones()), 4, 3, proof, Transcript(), "sc")


@pytest.mark.parametrize("round_index", [0, 2, 3])
def test_altered_round_polynomial_rejected(honest, round_index):
    _, terms, proof, finals, total = honest
    proof.rounds[round_index] = proof.rounds[round_index].copy()
    proof.rounds[round_index][1, 2] = (proof.rounds[round_index][1, 2] + 1) % F.P
    assert rejected(total, proof, terms, finals, Transcript())


def rejected(total, proof, terms, finals, transcript):
    """True when verification raises or its final claim disagrees with the honest final values."""
    try:
        _, final_claim = S.verify(total, 4, 3, proof, transcript, "sc")
    except S.SumcheckError:
        return True
    return not F.ext_eq(final_claim, S.combine_terms(terms, finals))


@pytest.mark.parametrize("round_index", [1, 3])
def test_sum_preserving_round_forgery_rejected(honest, round_index):
    """Shifting s(0) up and s(1) down keeps the round's sum but moves s(r): a later check fails."""
    _, terms, proof, finals, total = honest
    msg = proof.rounds[round_index].copy()
    msg[0, 0] = (msg[0, 0] + 5) % F.P
    msg[0, 1] = (msg[0, 1] + F.P - 5) % F.P
    proof.rounds[round_index] = msg
    assert rejected(total, proof, terms, finals, Transcript())


def test_wrong_final_evaluation_rejected(honest):
    _, terms, proof, finals, total = honest
    _, final_claim = S.verify(total, 4, 3, proof, Transcript(), "sc")
    bad = [f.copy() for f in finals]
    bad[0] = F.ext_add(bad[0], F.ext_ones())
    assert not F.ext_eq(final_claim, S.combine_terms(terms, bad))


def test_wrong_shape_or_round_count_rejected(honest):
    _, _, proof, _, total = honest
    with pytest.raises(S.SumcheckError):
        S.verify(total, 4, 2, proof, Transcript(), "sc")
    with pytest.raises(S.SumcheckError):
        S.verify(total, 5, 3, proof, Transcript(), "sc")


def test_transcript_divergence_changes_challenges(honest):
    _, terms, proof, finals, total = honest
    t = Transcript()
    t.absorb_bytes("extra", b"x")
    assert rejected(total, proof, terms, finals, t)


def test_interpolate_matches_polynomial():
    rng = np.random.default_rng(4)
    coeffs = F.random_ext(rng, 4)  # cubic

    def at(x):
        acc = F.ext_zeros()
        xp = F.ext_ones()
        for k in range(4):
            acc = F.ext_add(acc, F.ext_mul(coeffs[:, k], xp))
            xp = F.ext_mul(xp, x)
        return acc

    evals = np.stack([at(F.ext_const(i)) for i in range(4)], axis=1)
    r = F.random_ext(rng)
    assert F.ext_eq(S.interpolate(evals, r), at(r))


@pytest.mark.parametrize("n", [0, 1, 4, 7])
def test_eq_weighted_prover_sends_the_same_messages(n):
    """prove_eq_weighted (eq never folded) equals prove with eq_table as an explicit factor, so the
    unchanged verifier accepts it."""
    rng = np.random.default_rng(20 + n)
    a, b = F.random_base(rng, 1 << n), F.random_ext(rng, 1 << n)
    rho, lam = F.random_ext(rng, n), F.random_ext(rng)
    terms = [(1, (0, 1)), (lam, (1,))]
    explicit = [(c, (0, *(j + 1 for j in idx))) for c, idx in terms]
    proof, point, finals, total = S.prove([poly.eq_table(rho), a, b], explicit, 3, Transcript(), "sc")
    fast, fast_point, fast_finals = S.prove_eq_weighted([a, b], terms, 3, rho, total, Transcript(), "sc")
    assert all(np.array_equal(x, y) for x, y in zip(proof.rounds, fast.rounds))
    assert F.ext_eq(point, fast_point)
    assert all(F.ext_eq(x, y) for x, y in zip(finals[1:], fast_finals))
    _, final_claim = S.verify(total, n, 3, fast, Transcript(), "sc")
    assert F.ext_eq(final_claim, S.combine_terms(explicit, [poly.eq_eval(rho, point), *fast_finals]))


@pytest.mark.parametrize("tables", [1, 2, 3])
def test_eq_weighted_prover_splits_its_eq_weights(monkeypatch, tables):
    """With slices shorter than the table, the eq weights are two tables' outer product (each slice in
    one of its rows) and the messages are still those of the explicit eq factor."""
    monkeypatch.setattr(S, "SLICE", 1 << 3)
    monkeypatch.setattr(S, "_MIN_SLICE", 1 << 2)
    n = 11
    rng = np.random.default_rng(40 + tables)
    data = [F.random_base(rng, 1 << n)] + [F.random_ext(rng, 1 << n) for _ in range(tables - 1)]
    rho = F.random_ext(rng, n)
    terms = [(1, tuple(range(tables)))]
    explicit = [(1, (0, *(j + 1 for j in range(tables))))]
    proof, point, _, total = S.prove([poly.eq_table(rho), *data], explicit, tables + 1, Transcript(), "sc")
    assert S.SplitEq(rho[:, 1:]).high is not None  # the split is exercised
    fast, fast_point, _ = S.prove_eq_weighted(data, terms, tables + 1, rho, total, Transcript(), "sc")
    assert all(np.array_equal(x, y) for x, y in zip(proof.rounds, fast.rounds))
    assert F.ext_eq(point, fast_point)


def test_eq_weighted_prover_handles_a_zero_coordinate():
    """rho_i = 0 cannot be divided by: q(1) is then computed directly, and the messages still agree."""
    rng = np.random.default_rng(3)
    a = F.random_ext(rng, 8)
    rho = F.random_ext(rng, 3)
    rho[:, 1] = 0
    explicit = [(1, (0, 1))]
    proof, _, _, total = S.prove([poly.eq_table(rho), a], explicit, 2, Transcript(), "sc")
    fast, _, _ = S.prove_eq_weighted([a], [(1, (0,))], 2, rho, total, Transcript(), "sc")
    assert all(np.array_equal(x, y) for x, y in zip(proof.rounds, fast.rounds))
