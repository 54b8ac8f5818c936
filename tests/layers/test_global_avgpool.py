"""Global average pools on random shapes (H*W a power of two, its division in the shift): one layer
proves and verifies, feeding a dense layer too, and every value of a pool's sections is checked."""

from __future__ import annotations

import numpy as np
import pytest
from kindcheck import assert_every_value_checked, model_of, prove_and_verify, random_input

from edgeprove.model.ir import Layer


def global_pool(name, source, in_shape, activation="clamp") -> Layer:
    """A global average pool whose shift divides by H*W."""
    c, h, w = in_shape
    shift = 0 if activation == "none" else (h * w).bit_length() - 1
    return Layer(name, "global_avgpool", source, in_shape, (c, 1, 1), shift=shift, activation=activation)


def random_pool(seed: int, activation: str = "clamp"):
    rng = np.random.default_rng(seed)
    in_shape = (int(rng.integers(1, 6)), int(rng.choice([1, 2, 4, 8])), int(rng.choice([1, 2, 4])))
    return model_of(in_shape, [global_pool("gap", -1, in_shape, activation)], rng), rng


@pytest.mark.parametrize("activation", ["relu", "clamp", "none"])
@pytest.mark.parametrize("seed", range(3))
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
