"""Dense layers on random shapes: one layer proves and verifies (requantized, clamped below 127, as the
accumulator output, on a private input, adding a residual), and every value of its sections is checked."""

from __future__ import annotations

import numpy as np
import pytest
from kindcheck import assert_every_value_checked, model_of, prove_and_verify, random_input

from edgeprove.model.ir import Layer


def dense(name, source, in_shape, out: int, activation="relu", **fields) -> Layer:
    """A dense layer (shift 0 for an accumulator output, else 5 to start from)."""
    shift = 0 if activation == "none" else 5
    return Layer(name, "dense", source, in_shape, (out, 1, 1), shift=shift, activation=activation, **fields)


def random_dense(seed: int, activation: str):
    rng = np.random.default_rng(seed)
    in_shape = tuple(int(v) for v in rng.integers(1, 4, 3))
    act_max = int(rng.integers(1, 128)) if activation != "none" else 127
    layer = dense("fc", -1, in_shape, int(rng.integers(1, 7)), activation, act_max=act_max)
    return model_of(in_shape, [layer], rng), rng


@pytest.mark.parametrize("activation", ["relu", "clamp", "none"])
@pytest.mark.parametrize("seed", range(3))
def test_one_dense_layer_proves_and_verifies(tmp_path, seed, activation):
    model, rng = random_dense(seed, activation)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng))


@pytest.mark.parametrize("private", [False, True])
def test_a_dense_layer_adding_a_residual_proves_and_verifies(tmp_path, private):
    rng = np.random.default_rng(7)
    layers = [
        dense("fc0", -1, (2, 3, 1), 5),
        dense("fc1", 0, (5, 1, 1), 5, "clamp", residual=0, residual_shift=1),
    ]
    model = model_of((2, 3, 1), layers, rng)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng), private_input=private)


@pytest.mark.parametrize("activation", ["relu", "none"])
def test_every_value_of_a_dense_layer_is_checked(tmp_path, activation):
    model, rng = random_dense(11, activation)
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, rng))
    assert assert_every_value_checked(tmp_path, model, proof, 0) > (20 if activation == "relu" else 2)
