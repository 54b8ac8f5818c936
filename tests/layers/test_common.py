"""The separable linear sumcheck: for a G given by its factors (G[c,h,w] = sum_v A[c,v,h] Ew[v,w]) it sends
exactly the messages of the sumcheck over x and G built whole, on random shapes and on every window kind's
factors, so the verifier (and the proof file) cannot tell them apart."""

from __future__ import annotations

import numpy as np
import pytest
from kindcheck import g_from_factors, model_of, random_input
from test_conv2d import conv
from test_grouped_conv2d import grouped
from test_probe_conv2d import probe

from edgeprove import field as F
from edgeprove import poly
from edgeprove.layers import KINDS
from edgeprove.layers.common import Grid, prove_linear, prove_linear_separable, verify_linear
from edgeprove.model.ir import Layer
from edgeprove.sumcheck import SumcheckError
from edgeprove.transcript import Transcript
from edgeprove.zk import Hidden, PublicChecker


def both_ways(grid: Grid, x: np.ndarray, a: np.ndarray, ew: np.ndarray):
    """Each prover on a fresh transcript: (proof, gamma, x~(gamma), the next challenge) twice."""
    claim = F.ext_inner(grid.pad(x), g_from_factors(grid, a, ew))
    results = []
    for separable in (False, True):
        transcript = Transcript()
        if separable:
            proof, gamma, value, *_ = prove_linear_separable(x, grid, a, ew, claim, transcript, "lin")
        else:
            proof, gamma, value = prove_linear(
                [grid.pad(x), g_from_factors(grid, a, ew)], claim, transcript, "lin"
            )
        results.append((proof, gamma, value, transcript.challenge_ext("after")))
    return claim, results


@pytest.mark.parametrize(
    "shape,kw", [((1, 1, 1), 1), ((3, 5, 7), 3), ((5, 4, 9), 2), ((1, 6, 3), 5), ((16, 2, 2), 1)]
)
def test_separable_messages_equal_those_over_g_built_whole(shape, kw):
    rng = np.random.default_rng(sum(shape) * 7 + kw)
    grid = Grid(shape)
    cp, hp, wp = grid.padded
    x = rng.integers(-128, 128, size=shape)
    a = F.random_ext(rng, (shape[0], kw, hp))
    ew = F.random_ext(rng, (kw, wp))
    claim, (whole, split) = both_ways(grid, x, a, ew)
    assert len(split[0].sumcheck.rounds) == grid.num_vars
    for r_whole, r_split in zip(whole[0].sumcheck.rounds, split[0].sumcheck.rounds):
        assert np.array_equal(r_whole, r_split)
    for got, want in zip(split[1:], whole[1:]):
        assert np.array_equal(got, want)
    assert F.ext_eq(split[2], poly.evaluate(grid.pad(x), split[1]))
    checker = PublicChecker(SumcheckError)
    gamma, value, final = verify_linear(
        split[0], Hidden.of(claim), grid.num_vars, Transcript(), "lin", checker
    )
    assert F.ext_eq(final.value(), F.ext_mul(value, poly.evaluate(g_from_factors(grid, a, ew), gamma)))


def window_layers():
    return [
        conv("conv", -1, (3, 6, 5), 2, 3, stride=2, padding=1),
        grouped("dw", -1, (4, 5, 6), 4, 4, 3, padding=1),
        probe("probe", -1, (2, 8, 12), 2, 3, 5, 2, 3, border_w="wrap"),
        Layer("pool", "avgpool", -1, (3, 6, 6), (3, 2, 2), shift=3, activation="relu", kernel=3, stride=3),
        Layer("gap", "global_avgpool", -1, (5, 3, 6), (5, 1, 1), shift=4, activation="relu"),
        Layer("fc", "dense", -1, (3, 5, 6), (4, 1, 1), shift=6, activation="relu"),
        Layer("fc1", "dense", -1, (7, 1, 1), (4, 1, 1), shift=6, activation="relu"),
    ]


@pytest.mark.parametrize("index", range(7))
def test_every_affine_kind_factors_its_g(index):
    layer = window_layers()[index]
    rng = np.random.default_rng(index)
    model = model_of(layer.in_shape, [layer], rng)
    layer = model.layers[0]
    x = random_input(model, rng)
    kind = KINDS[layer.kind].linear_map
    rho = F.random_ext(rng, Grid(layer.out_shape).num_vars)
    weight = model.weight(0) if layer.has_weights else None
    a, ew = kind.g_factors(layer, weight, rho)
    grid = Grid(layer.in_shape)
    gamma = F.random_ext(rng, grid.num_vars)
    assert F.ext_eq(poly.evaluate(g_from_factors(grid, a, ew), gamma), kind.g_eval(layer, weight, rho, gamma))
    _, (whole, split) = both_ways(grid, x, a, ew)
    assert all(np.array_equal(p, q) for p, q in zip(whole[0].sumcheck.rounds, split[0].sumcheck.rounds))


def test_without_a_claim_the_sum_is_computed_and_bound_first():
    rng = np.random.default_rng(5)
    grid = Grid((3, 4, 5))
    x = rng.integers(-128, 128, size=grid.shape)
    a, ew = F.random_ext(rng, (3, 2, 4)), F.random_ext(rng, (2, 8))
    claim = F.ext_inner(grid.pad(x), g_from_factors(grid, a, ew))
    given, bound = Transcript(), Transcript()
    bound.absorb_ext("lin/sum", claim)
    _, _, _, total, _ = prove_linear_separable(x, grid, a, ew, None, given, "lin")
    _, _, _, same, _ = prove_linear_separable(x, grid, a, ew, claim, bound, "lin")
    assert F.ext_eq(total, claim) and F.ext_eq(same, claim)
    assert np.array_equal(given.challenge_ext("after"), bound.challenge_ext("after"))


def test_values_beyond_an_exact_contraction_are_refused():
    grid = Grid((2, 2, 2))
    rng = np.random.default_rng(0)
    a, ew = F.random_ext(rng, (2, 1, 2)), F.random_ext(rng, (1, 2))
    with pytest.raises(ValueError, match="exact float64"):
        prove_linear_separable(np.full((2, 2, 2), 1 << 20), grid, a, ew, F.ext_zeros(), Transcript(), "lin")
