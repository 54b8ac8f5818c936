"""Average pools on random shapes (window 1, 2 or 4, its division in the shift): one layer proves and
verifies, after a ReLU layer too, and every value of a pool's sections is checked."""

from __future__ import annotations

import numpy as np
import pytest
from kindcheck import assert_every_value_checked, model_of, prove_and_verify, random_input

from edgeprove.model.ir import Layer


def avgpool(name, source, in_shape, kernel: int, activation="clamp") -> Layer:
    """A k x k average pool (stride k) whose shift divides by k^2."""
    c, h, w = in_shape
    shift = 0 if activation == "none" else 2 * (kernel.bit_length() - 1)
    return Layer(
        name,
        "avgpool",
        source,
        in_shape,
        (c, h // kernel, w // kernel),
        shift=shift,
        activation=activation,
        kernel=kernel,
        stride=kernel,
    )


def random_pool(seed: int, activation: str = "clamp"):
    rng = np.random.default_rng(seed)
    kernel = int(rng.choice([1, 2, 4]))
    in_shape = (int(rng.integers(1, 4)), int(rng.integers(kernel, 9)), int(rng.integers(kernel, 9)))
    return model_of(in_shape, [avgpool("pool", -1, in_shape, kernel, activation)], rng), rng


@pytest.mark.parametrize("activation", ["relu", "clamp", "none"])
@pytest.mark.parametrize("seed", range(3))
def test_one_average_pool_proves_and_verifies(tmp_path, seed, activation):
    model, rng = random_pool(seed, activation)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng))


def test_an_average_pool_of_a_committed_relu_pool_proves_and_verifies(tmp_path):
    rng = np.random.default_rng(4)
    layers = [avgpool("pool0", -1, (2, 8, 6), 2, "relu"), avgpool("pool1", 0, (2, 4, 3), 1, "relu")]
    model = model_of((2, 8, 6), layers, rng)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng), private_input=True)


def test_every_value_of_an_average_pool_is_checked(tmp_path):
    model, rng = random_pool(6)
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, rng))
    assert assert_every_value_checked(tmp_path, model, proof, 0) > 10
