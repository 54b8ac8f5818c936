"""Requantization, shared by the affine kinds, on random shapes and shifts: the accumulator identity at a
random point, both lookups proven and verified with the claims they leave holding on the committed
vector, every value of the proof checked, and the widths the prover may pick."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from proofedit import altered, leaves, replace

from edgeprove import field as F
from edgeprove import poly
from edgeprove.layers import requant
from edgeprove.layers.common import Grid
from edgeprove.lookup import LogUpError
from edgeprove.model import ops
from edgeprove.model.ir import Layer
from edgeprove.sumcheck import SumcheckError
from edgeprove.transcript import Transcript


def requantized(seed: int, shift: int, activation: str, out_frac: int = 7):
    """A layer's requantization witness for random accumulators, and the vector it commits (a sigmoid reads
    q at a random q_frac and outputs at ``out_frac``)."""
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    act_max = int(rng.integers(0 if activation == "relu" else -128, 128))
    fields = {"act_max": act_max}
    if activation == "sigmoid":
        fields = {"act_max": min(1 << out_frac, 127), "out_frac": out_frac, "q_frac": int(rng.integers(0, 9))}
    layer = Layer("rq", "conv2d", -1, shape, shape, shift=shift, activation=activation, **fields)
    a = rng.integers(-(1 << (shift + 7)), 1 << (shift + 7), shape)
    grid = Grid(shape)
    q, r, y = ops.requantize(layer, a)
    w, vector = requant.witness(layer, grid, q, r, y)
    return layer, grid, a, w, vector


def holds(claims, layer, grid, w, vector) -> bool:
    """Every claim is the committed vector's MLE at its point (what the opening would check)."""
    lay = requant.layout(grid, layer.shift, w.act_bits)
    return all(F.ext_eq(poly.evaluate(vector, lay.point(c.segment, c.point)), c.value) for c in claims)


CASES = [
    (seed, shift, act) for seed, shift in enumerate((0, 1, 5, 9)) for act in ("relu", "clamp", "sigmoid")
]


@pytest.mark.parametrize("seed, shift, activation", CASES)
def test_lookups_prove_and_verify_and_their_claims_hold(seed, shift, activation):
    layer, grid, a, w, vector = requantized(seed, shift, activation)
    t_prove, t_verify = Transcript(), Transcript()
    proof, made = requant.prove(layer, grid, w, t_prove, "rq", 3)
    checked = requant.verify(layer, grid, w.act_bits, proof, t_verify, "rq", 3)
    assert t_prove.digest() == t_verify.digest()
    assert [(c.tensor, c.segment) for c in checked] == [(c.tensor, c.segment) for c in made]
    assert all(c.tensor == 3 for c in checked)
    assert holds(checked, layer, grid, w, vector)


@pytest.mark.parametrize("out_frac", range(7))
def test_sigmoids_at_every_output_scale_prove_and_verify(out_frac):
    layer, grid, _, w, vector = requantized(60 + out_frac, 2, "sigmoid", out_frac)
    assert int(F.decode_signed(w.y).max()) <= 1 << out_frac
    proof, _ = requant.prove(layer, grid, w, Transcript(), "rq", 1)
    assert holds(
        requant.verify(layer, grid, w.act_bits, proof, Transcript(), "rq", 1), layer, grid, w, vector
    )


@pytest.mark.parametrize("seed, shift, activation", CASES[::3])
def test_the_accumulator_follows_from_q_and_r(seed, shift, activation):
    layer, grid, a, w, _ = requantized(seed, shift, activation)
    z = F.random_ext(np.random.default_rng(seed), grid.num_vars)
    derived = requant.accumulator_claim(shift, grid, z, poly.evaluate(w.q, z), poly.evaluate(w.r, z))
    assert F.ext_eq(derived, poly.evaluate(grid.pad(a), z))


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_every_value_of_a_requantization_proof_is_checked(activation):
    layer, grid, _, w, vector = requantized(20, 4, activation)
    proof, _ = requant.prove(layer, grid, w, Transcript(), "rq", 0)
    count = 0
    for trail, value in leaves(proof):
        edited = replace(proof, trail, altered(value))
        try:
            claims = requant.verify(layer, grid, w.act_bits, edited, Transcript(), "rq", 0)
        except (LogUpError, SumcheckError):
            count += 1
            continue
        assert not holds(claims, layer, grid, w, vector), f"{trail} altered but every claim holds"
        count += 1
    assert count > 20


def test_table_widths_are_the_smallest_that_fit_and_stay_within_the_field():
    assert requant.act_bits_for(np.array([0])) == 1
    assert requant.act_bits_for(np.array([-128, 127])) == 8
    assert requant.act_bits_for(np.array([128])) == 9
    layer = Layer("rq", "conv2d", -1, (1, 1, 2), (1, 1, 2), shift=10, activation="clamp")
    q = np.array([[[1 << 20, 0]]])
    with pytest.raises(OverflowError, match="over the field"):
        requant.witness(layer, Grid((1, 1, 2)), q, np.zeros_like(q), np.clip(q, -128, 127))


def sigmoid_witness(seed: int = 45):
    """A sigmoid layer whose q spans the whole curve (both saturations), its accumulator and witness."""
    layer, grid, a, w, _ = requantized(seed, 3, "sigmoid")
    y = F.decode_signed(w.y)[grid.mask().astype(bool)]
    assert int(y.min()) == 0 and int(y.max()) == 127
    return layer, grid, a, w


def test_a_wrong_sigmoid_output_is_rejected():
    """A prover that commits y off by one at one position (keeping the honest multiplicities, since the
    tuple is in no table) fails the activation lookup."""
    layer, grid, _, w = sigmoid_witness()
    at = int(np.flatnonzero(grid.mask())[3])
    y = w.y.copy()
    y[at] = F.asbase(F.decode_signed(y[at : at + 1]) ^ 1)[0]
    proof, _ = requant.prove(layer, grid, dataclasses.replace(w, y=y), Transcript(), "rq", 0)
    with pytest.raises(LogUpError):
        requant.verify(layer, grid, w.act_bits, proof, Transcript(), "rq", 0)


def test_a_sigmoid_proven_against_another_table_is_rejected():
    """The verifier evaluates the table of the layer it trusts: a proof made against the sigmoid of another
    q_frac (or a clamp) is rejected, though it is a complete proof of its own table."""
    layer, grid, a, _ = sigmoid_witness()
    for other in (
        dataclasses.replace(layer, q_frac=layer.q_frac + 1),
        dataclasses.replace(layer, activation="relu"),
    ):
        q, r, y = ops.requantize(other, a)
        assert not np.array_equal(y, ops.requantize(layer, a)[2])
        theirs, _ = requant.witness(other, grid, q, r, y)
        proof, _ = requant.prove(other, grid, theirs, Transcript(), "rq", 0)
        assert requant.verify(other, grid, theirs.act_bits, proof, Transcript(), "rq", 0)
        with pytest.raises(LogUpError):
            requant.verify(layer, grid, theirs.act_bits, proof, Transcript(), "rq", 0)


def test_q_r_and_y_are_the_committed_vectors_segments_not_copies():
    """The witness's tables are views of the committed vector (no second copy of a layer's output at the
    peak), holding exactly the padded q, r and y."""
    layer, grid, a, w, vector = requantized(46, 4, "relu")
    segments = requant.layout(grid, layer.shift, w.act_bits).views(vector)
    q, r, y = ops.requantize(layer, a)
    for name, table, values in (("q", w.q, q), ("r", w.r, r), ("y", w.y, y)):
        assert np.shares_memory(table, vector) and table.dtype == np.uint32
        np.testing.assert_array_equal(table, segments[name])
        np.testing.assert_array_equal(table, grid.pad(values))
    np.testing.assert_array_equal(segments["m_act"], F.asbase(w.m_act))
