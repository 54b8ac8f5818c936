"""2-D convolutions on random shapes (kernel, stride, padding): one layer proves and verifies, a residual
convolution too, and every value of a convolution's sections is checked."""

from __future__ import annotations

import numpy as np
import pytest
from kindcheck import assert_every_value_checked, model_of, prove_and_verify, random_input

from edgeprove.layers import conv2d
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


@pytest.mark.parametrize("seed", range(4))
def test_a_convolution_summed_over_blocks_of_input_channels_is_exact(monkeypatch, seed):
    """The input is converted a block of channels at a time (``INPUT_CHUNK_VALUES``): any block gives the
    exact integer convolution."""
    rng = np.random.default_rng(seed)
    channels, kernel, stride, padding = int(rng.integers(1, 6)), int(rng.integers(1, 4)), 1 + seed % 2, 1
    x = rng.integers(-128, 128, (channels, 2, 7, 6))
    weight = rng.integers(-128, 128, (3, channels, kernel, kernel)).astype(np.int8)
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h, out_w = conv_out_size(7, kernel, stride, padding), conv_out_size(6, kernel, stride, padding)
    expected = np.zeros((3, 2, out_h, out_w), dtype=np.int64)
    for u in range(kernel):
        for v in range(kernel):
            window = padded[
                :, :, u : u + stride * (out_h - 1) + 1 : stride, v : v + stride * (out_w - 1) + 1 : stride
            ]
            expected += np.einsum("oc,cnhw->onhw", weight[:, :, u, v].astype(np.int64), window)
    plane = 2 * 9 * 8
    for block in (1, 2, channels):
        monkeypatch.setattr(conv2d, "INPUT_CHUNK_VALUES", block * plane)
        assert np.array_equal(conv2d.conv2d_sum(weight, x, stride, padding), expected)
