"""Grouped and depthwise convolutions on random shapes (groups, kernel 3 and 5, stride 1 and 2, padding):
one layer proves and verifies and matches a dense convolution with zeros outside the groups, a residual
one too, every value of its sections is checked, and bad group counts are refused."""

from __future__ import annotations

import numpy as np
import pytest
from kindcheck import assert_every_value_checked, model_of, prove_and_verify, random_input

from edgeprove.layers import conv2d, grouped_conv2d
from edgeprove.model.ir import Layer, ModelError, conv_out_size, validate_layers


def grouped(name, source, in_shape, out: int, groups: int, kernel: int, stride=1, padding=0, **fields):
    """A grouped_conv2d layer with the output shape its window implies."""
    c, h, w = in_shape
    out_shape = (out, conv_out_size(h, kernel, stride, padding), conv_out_size(w, kernel, stride, padding))
    fields.setdefault("activation", "relu")
    shift = 0 if fields["activation"] == "none" else 6
    return Layer(
        name,
        "grouped_conv2d",
        source,
        in_shape,
        out_shape,
        shift=shift,
        kernel=kernel,
        stride=stride,
        padding=padding,
        groups=groups,
        **fields,
    )


def random_grouped(seed: int, activation: str = "relu"):
    rng = np.random.default_rng(seed)
    groups = int(rng.integers(1, 5))
    kernel = int(rng.choice([1, 3, 5]))
    padding = int(rng.integers(0, kernel // 2 + 1))
    size = (
        int(rng.integers(max(kernel - 2 * padding, 1), 9)),
        int(rng.integers(max(kernel - 2 * padding, 1), 9)),
    )
    in_shape = (groups * int(rng.integers(1, 3)), *size)
    layer = grouped(
        "gconv",
        -1,
        in_shape,
        groups * int(rng.integers(1, 3)),
        groups,
        kernel,
        stride=int(rng.integers(1, 3)),
        padding=padding,
        activation=activation,
    )
    return model_of(in_shape, [layer], rng), rng


def dense_equivalent(layer: Layer, weight: np.ndarray) -> np.ndarray:
    """The (O, C, K, K) weights of the same map as a plain convolution: zeros outside each group."""
    out, cg, k, _ = weight.shape
    full = np.zeros((out, layer.in_shape[0], k, k))
    per_group = out // layer.groups
    for o in range(out):
        g = o // per_group
        full[o, g * cg : (g + 1) * cg] = weight[o]
    return full


@pytest.mark.parametrize("activation", ["relu", "clamp", "none"])
@pytest.mark.parametrize("seed", range(4))
def test_one_grouped_conv_layer_proves_and_verifies(tmp_path, seed, activation):
    model, rng = random_grouped(seed, activation)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng))


@pytest.mark.parametrize("seed", range(6))
def test_the_grouped_map_is_a_convolution_with_zeros_outside_the_groups(seed):
    model, rng = random_grouped(seed)
    layer, weight = model.layers[0], model.weight(0)
    x = random_input(model, rng)[:, None].astype(np.float64)
    expected = conv2d.conv2d_sum(dense_equivalent(layer, weight), x, layer.stride, layer.padding)
    assert np.array_equal(grouped_conv2d.evaluate(layer, weight, x), expected)


@pytest.mark.parametrize(("kernel", "stride"), [(3, 1), (3, 2), (5, 1), (5, 2)])
def test_depthwise_convolutions_prove_and_verify(tmp_path, kernel, stride):
    rng = np.random.default_rng(kernel * 10 + stride)
    layers = [grouped("dw", -1, (6, 11, 9), 6, 6, kernel, stride, kernel // 2)]
    model = model_of((6, 11, 9), layers, rng)
    assert model.layers[0].weight_shape == (6, 1, kernel, kernel)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng))


@pytest.mark.parametrize("private", [False, True])
def test_a_grouped_conv_adding_a_residual_proves_and_verifies(tmp_path, private):
    rng = np.random.default_rng(3)
    layers = [
        grouped("g0", -1, (4, 5, 4), 4, 2, 3, padding=1),
        grouped("g1", 0, (4, 5, 4), 4, 4, 3, padding=1, residual=0, residual_shift=2),
    ]
    model = model_of((4, 5, 4), layers, rng)
    prove_and_verify(tmp_path / "p", model, random_input(model, rng), private_input=private)


def test_every_value_of_a_grouped_conv_layer_is_checked(tmp_path):
    rng = np.random.default_rng(12)
    model = model_of((4, 6, 5), [grouped("dw", -1, (4, 6, 5), 4, 4, 3, 2, 1)], rng)
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, rng))
    assert assert_every_value_checked(tmp_path, model, proof, 0) > 20


@pytest.mark.parametrize(
    ("in_channels", "out", "groups", "message"),
    [(6, 4, 4, "does not divide"), (6, 9, 3, None), (4, 6, 4, "does not divide"), (4, 4, 5, "outside")],
)
def test_group_counts_must_divide_the_channels(in_channels, out, groups, message):
    layer = grouped("g", -1, (in_channels, 5, 5), out, groups, 3)
    if message is None:
        validate_layers((in_channels, 5, 5), [layer])
        return
    with pytest.raises(ModelError, match=message):
        validate_layers((in_channels, 5, 5), [layer])


def test_other_kinds_refuse_groups():
    layer = Layer("c", "conv2d", -1, (4, 5, 5), (4, 3, 3), shift=6, activation="relu", kernel=3, groups=2)
    with pytest.raises(ModelError, match="takes no groups"):
        validate_layers((4, 5, 5), [layer])


def test_groups_are_written_to_the_manifest_only_when_not_one():
    plain = grouped("g", -1, (4, 5, 5), 4, 1, 3)
    assert "groups" not in plain.to_dict()
    depthwise = grouped("g", -1, (4, 5, 5), 4, 4, 3)
    assert Layer.from_dict(depthwise.to_dict()) == depthwise
