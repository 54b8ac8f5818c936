"""Max pools on random shapes (kernel, stride and padding, overlapping or not): one layer proves and verifies
on the input and after a ReLU convolution, padding counts as the int8 minimum, its kind's rules hold, and
every value of a pool's sections is checked.  (tests/test_verifier.py checks a fixed max-pool model value by
value and a maximum off by one.)"""

from __future__ import annotations

import numpy as np
import pytest
from kindcheck import assert_every_value_checked, model_of, prove_and_verify, random_input

from edgeprove import layers
from edgeprove.layers import maxpool
from edgeprove.layers.kind import Rejected
from edgeprove.model.ir import Layer, conv_out_size


def max_pool(name, source, in_shape, kernel: int, stride: int, activation="clamp", padding=0) -> Layer:
    """A max pool keeping its source's range (clamp for the model input, relu after a ReLU layer)."""
    c, h, w = in_shape
    out_shape = (c, conv_out_size(h, kernel, stride, padding), conv_out_size(w, kernel, stride, padding))
    return Layer(
        name,
        "maxpool",
        source,
        in_shape,
        out_shape,
        shift=0,
        activation=activation,
        kernel=kernel,
        stride=stride,
        padding=padding,
    )


def random_pool(seed: int):
    rng = np.random.default_rng(seed)
    kernel, stride = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    padding = int(rng.integers(0, kernel))
    in_shape = (int(rng.integers(1, 4)), int(rng.integers(kernel, 8)), int(rng.integers(kernel, 8)))
    return model_of(in_shape, [max_pool("mp", -1, in_shape, kernel, stride, padding=padding)], rng), rng


@pytest.mark.parametrize("seed", range(6))
def test_one_max_pool_proves_and_verifies(tmp_path, seed):
    model, rng = random_pool(seed)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng))


def test_a_max_pool_after_a_relu_conv_proves_and_verifies(tmp_path):
    rng = np.random.default_rng(2)
    layers = [
        Layer("conv", "conv2d", -1, (2, 5, 5), (2, 5, 5), shift=6, activation="relu", kernel=3, padding=1),
        max_pool("mp", 0, (2, 5, 5), 2, 1, "relu"),
        Layer("fc", "dense", 1, (2, 4, 4), (3, 1, 1), shift=0, activation="none"),
    ]
    model = model_of((2, 5, 5), layers, rng)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng), private_input=True)


@pytest.mark.parametrize("activation", ["relu", "clamp"])
def test_a_padded_stem_pool_proves_and_verifies(tmp_path, activation):
    """ResNet's stem pool (3x3, stride 2, padding 1) after a convolution: relu outputs meet -128 padding."""
    rng = np.random.default_rng(5)
    layers = [
        Layer(
            "conv", "conv2d", -1, (2, 9, 8), (3, 9, 8), shift=6, activation=activation, kernel=3, padding=1
        ),
        max_pool("mp", 0, (3, 9, 8), 3, 2, activation, padding=1),
    ]
    model = model_of((2, 9, 8), layers, rng)
    assert model.layers[1].out_shape == (3, 5, 4)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng))


def test_padding_counts_as_the_int8_minimum():
    x = np.full((1, 1, 3, 3), -128.0)
    x[0, 0, 1, 1] = -100.0
    layer = max_pool("mp", -1, (1, 3, 3), 3, 2, padding=1)
    out = layers.kind_of(layer).evaluate(layer, None, x)
    assert out.reshape(-1).tolist() == [-100.0, -100.0, -100.0, -100.0]
    values = maxpool.window_values(layer, x[:, 0].astype(np.int64))
    assert values.min() == -128 and values.shape == (9, 1, 2, 2)


def test_every_value_of_a_padded_max_pool_is_checked(tmp_path):
    rng = np.random.default_rng(7)
    model = model_of((2, 5, 6), [max_pool("mp", -1, (2, 5, 6), 3, 2, padding=1)], rng)
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, rng))
    assert assert_every_value_checked(tmp_path, model, proof, 0) > 20


def test_the_kind_commits_a_fixed_range_width():
    layer = max_pool("mp", -1, (1, 4, 4), 2, 2)
    kind = layers.kind_of(layer)
    assert kind.commits(layer) and kind.table_bits(layer, None) == maxpool.RANGE_BITS
    kind.check_table_bits(layer, maxpool.RANGE_BITS, static_bits=8)
    for bits in (maxpool.RANGE_BITS - 1, maxpool.RANGE_BITS + 1):
        with pytest.raises(Rejected, match="max-pool range width"):
            kind.check_table_bits(layer, bits, static_bits=8)


def test_every_value_of_a_max_pool_is_checked(tmp_path):
    model, rng = random_pool(10)
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, rng))
    assert assert_every_value_checked(tmp_path, model, proof, 0) > 20
