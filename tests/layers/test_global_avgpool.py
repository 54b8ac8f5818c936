"""Global average pools on random shapes (H*W a power of two divided by the shift, or up to 63 positions
divided by a fixed-point multiply and shift, 7x7 among them): one layer proves and verifies, feeding a dense
layer too, every value of a pool's sections is checked, and a rounded average off by one is rejected."""

from __future__ import annotations

import numpy as np
import pytest
from kindcheck import assert_every_value_checked, model_of, prove_and_verify, random_input
from test_avgpool import off_by_one_prover

from edgeprove import prover, verifier
from edgeprove.layers.avgpool import window_rescale
from edgeprove.model import ops
from edgeprove.model.ir import Layer


def global_pool(name, source, in_shape, activation="clamp") -> Layer:
    """A global average pool whose shift divides by H*W (with its multiplier when H*W is not a power of
    two)."""
    c, h, w = in_shape
    shift = 0 if activation == "none" else window_rescale(h * w)[1]
    return Layer(name, "global_avgpool", source, in_shape, (c, 1, 1), shift=shift, activation=activation)


def random_pool(seed: int, activation: str = "clamp"):
    rng = np.random.default_rng(seed)
    in_shape = (int(rng.integers(1, 6)), int(rng.choice([1, 2, 3, 4, 7, 8])), int(rng.choice([1, 2, 4, 7])))
    return model_of(in_shape, [global_pool("gap", -1, in_shape, activation)], rng), rng


@pytest.mark.parametrize("activation", ["relu", "clamp", "none"])
@pytest.mark.parametrize("seed", range(5))
def test_one_global_pool_proves_and_verifies(tmp_path, seed, activation):
    model, rng = random_pool(seed, activation)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng))


def test_a_global_pool_feeding_a_dense_layer_proves_and_verifies(tmp_path):
    rng = np.random.default_rng(5)
    layers = [
        global_pool("gap", -1, (3, 4, 2), "relu"),
        Layer("fc", "dense", 0, (3, 1, 1), (2, 1, 1), shift=0, activation="none"),
    ]
    model = model_of((3, 4, 2), layers, rng)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng), private_input=True)


def test_every_value_of_a_global_pool_is_checked(tmp_path):
    model, rng = random_pool(9)
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, rng))
    assert assert_every_value_checked(tmp_path, model, proof, 0) > 10


def test_a_seven_by_seven_global_pool_proves_and_verifies(tmp_path):
    rng = np.random.default_rng(11)
    layers = [
        Layer("conv", "conv2d", -1, (2, 7, 7), (4, 7, 7), shift=6, activation="relu", kernel=3, padding=1),
        global_pool("gap", 0, (4, 7, 7), "relu"),
        Layer("fc", "dense", 1, (4, 1, 1), (3, 1, 1), shift=0, activation="none"),
    ]
    model = model_of((2, 7, 7), layers, rng)
    assert model.layers[1].shift == 16
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, rng))
    assert assert_every_value_checked(tmp_path, model, proof, 1) > 10


@pytest.mark.parametrize("plane", [(10, 10), (14, 14), (21, 21)])
def test_a_global_pool_over_more_than_64_positions_proves_and_verifies(tmp_path, plane):
    """100, 196 and 441 positions: t is capped at the largest shift and M keeps 9, 8 and 7 bits."""
    rng = np.random.default_rng(plane[0])
    in_shape = (3, *plane)
    model = model_of(in_shape, [global_pool("gap", -1, in_shape, "relu")], rng)
    assert model.layers[0].shift == 16
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, rng))
    assert assert_every_value_checked(tmp_path, model, proof, 0) > 10


@pytest.mark.parametrize("in_shape", [(4, 7, 7), (2, 14, 14)])
def test_a_global_average_rounded_off_by_one_is_rejected(tmp_path, monkeypatch, in_shape):
    rng = np.random.default_rng(12)
    model = model_of(in_shape, [global_pool("gap", -1, in_shape, "relu")], rng)
    x = random_input(model, rng)
    honest = ops.run(model, x)
    off_by_one_prover(monkeypatch)
    result = prover.prove(model, x, tmp_path / "p")
    assert np.sum(result.output != honest) == 1
    verdict = verifier.verify(tmp_path / "p", model)
    assert not verdict.accepted and "remainder range lookup" in verdict.reason, verdict.reason
