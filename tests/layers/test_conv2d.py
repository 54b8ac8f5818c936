"""2-D convolutions on random shapes (kernel, stride, padding): one layer proves and verifies, a residual
convolution too, and every value of a convolution's sections is checked."""

from __future__ import annotations

import numpy as np
import pytest
from kindcheck import assert_every_value_checked, model_of, prove_and_verify, random_input

from edgeprove.model.ir import Layer, conv_out_size


def conv(name, source, in_shape, out: int, kernel: int, stride=1, padding=0, activation="relu", **fields):
    """A conv2d layer with the output shape its window implies."""
    c, h, w = in_shape
    out_shape = (out, conv_out_size(h, kernel, stride, padding), conv_out_size(w, kernel, stride, padding))
    shift = 0 if activation == "none" else 6
    return Layer(
        name,
        "conv2d",
        source,
        in_shape,
        out_shape,
        shift=shift,
        activation=activation,
        kernel=kernel,
        stride=stride,
        padding=padding,
        **fields,
    )


def random_conv(seed: int, activation: str = "relu"):
    rng = np.random.default_rng(seed)
    kernel = int(rng.integers(1, 4))
    in_shape = (int(rng.integers(1, 4)), int(rng.integers(kernel, 7)), int(rng.integers(kernel, 7)))
    layer = conv(
        "conv",
        -1,
        in_shape,
        int(rng.integers(1, 4)),
        kernel,
        stride=int(rng.integers(1, 3)),
        padding=int(rng.integers(0, kernel)),
        activation=activation,
    )
    return model_of(in_shape, [layer], rng), rng


@pytest.mark.parametrize("activation", ["relu", "clamp", "none"])
@pytest.mark.parametrize("seed", range(3))
def test_one_conv_layer_proves_and_verifies(tmp_path, seed, activation):
    model, rng = random_conv(seed, activation)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng))


@pytest.mark.parametrize("private", [False, True])
def test_a_conv_adding_a_residual_proves_and_verifies(tmp_path, private):
    rng = np.random.default_rng(3)
    layers = [
        conv("conv0", -1, (2, 5, 4), 3, 3, padding=1),
        conv("conv1", 0, (3, 5, 4), 3, 3, padding=1, residual=0, residual_shift=2),
    ]
    model = model_of((2, 5, 4), layers, rng)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng), private_input=private)


def test_every_value_of_a_conv_layer_is_checked(tmp_path):
    model, rng = random_conv(12)
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, rng))
    assert assert_every_value_checked(tmp_path, model, proof, 0) > 20
