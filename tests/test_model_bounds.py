"""Static bounds: sound on real runs, tight, and refusing models that could wrap or overflow tables."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprove.field import HALF
from edgeprove.model import ops, zoo
from edgeprove.model.bounds import MAX_Q_BITS, check_model, layer_bounds, model_bounds, q_bits_for
from edgeprove.model.ir import Layer, Model, ModelError, ModelOverflowError


@pytest.mark.parametrize(
    "q_min, q_max, bits",
    [
        (0, 0, 1),
        (-1, 0, 1),
        (0, 1, 2),
        (-2, 1, 2),
        (-128, 127, 8),
        (-129, 0, 9),
        (0, 128, 9),
        (-32768, 32767, 16),
        (0, 32768, 17),
        (5, 9, 5),
        (-9, -5, 5),
    ],
)
def test_q_bits(q_min, q_max, bits):
    assert q_bits_for(q_min, q_max) == bits
    assert -(2 ** (bits - 1)) <= q_min and q_max < 2 ** (bits - 1)
    assert not (-(2 ** (bits - 2)) <= q_min and q_max < 2 ** (bits - 2)) or bits == 1


@pytest.mark.parametrize("seed", range(10))
def test_bounds_contain_every_value_of_real_runs(seed):
    rng = np.random.default_rng(100 + seed)
    model = zoo.random_model(rng)
    bounds = check_model(model)
    inputs = [
        rng.integers(-128, 128, model.input_shape),
        np.full(model.input_shape, 127),
        np.full(model.input_shape, -128),
        np.zeros(model.input_shape, dtype=np.int64),
    ]
    for x in inputs:
        for index, a, q, _, _ in ops.forward(model, x):
            b = bounds[index]
            assert b.acc_min <= a.min() and a.max() <= b.acc_max
            if q is not None:
                assert b.q_min <= q.min() and q.max() <= b.q_max
                assert b.q_bits <= MAX_Q_BITS


def dense_model(
    weight: np.ndarray, bias: np.ndarray, shift: int, activation: str = "clamp", name: str = "fc_big"
) -> Model:
    """One dense layer reading the int8 model input."""
    out, n = weight.shape
    layer = Layer(name, "dense", -1, (n, 1, 1), (out, 1, 1), shift, activation)
    return Model("m", (n, 1, 1), 0, [layer], [weight.astype(np.int8)], [bias.astype(np.int64)])


def test_dense_bound_is_attained_by_the_worst_input():
    rng = np.random.default_rng(5)
    weight = rng.integers(-128, 128, (3, 40))
    bias = np.array([7, -7, 0])
    model = dense_model(weight, bias, shift=4)
    b = layer_bounds(model, 0)
    worst_high = np.where(weight[1] > 0, 127, -128).reshape(-1, 1, 1)
    worst_low = np.where(weight[0] > 0, -128, 127).reshape(-1, 1, 1)
    acc_high = ops.linear(model, 0, worst_high)[1, 0, 0]
    acc_low = ops.linear(model, 0, worst_low)[0, 0, 0]
    expected_high = max(int(np.where(w > 0, w * 127, w * -128).sum()) + int(c) for w, c in zip(weight, bias))
    expected_low = min(int(np.where(w > 0, w * -128, w * 127).sum()) + int(c) for w, c in zip(weight, bias))
    assert (b.acc_min, b.acc_max) == (expected_low, expected_high)
    assert acc_high <= b.acc_max and acc_low >= b.acc_min
    assert (b.q_min, b.q_max) == ((expected_low + 8) >> 4, (expected_high + 8) >> 4)


def test_relu_input_range_is_used():
    """A layer reading a relu output sees inputs in [0, 127], so all-positive weights give acc_min = bias."""
    first = Layer("a", "dense", -1, (4, 1, 1), (4, 1, 1), 3, "relu")
    second = Layer("b", "dense", 0, (4, 1, 1), (2, 1, 1), 3, "clamp")
    weights = [np.ones((4, 4), dtype=np.int8), np.full((2, 4), 3, dtype=np.int8)]
    biases = [np.zeros(4, dtype=np.int64), np.array([-5, 5], dtype=np.int64)]
    model = Model("m", (4, 1, 1), 0, [first, second], weights, biases)
    b = layer_bounds(model, 1)
    assert (b.acc_min, b.acc_max) == (-5, 3 * 4 * 127 + 5)


def test_overflowing_accumulator_is_refused_naming_the_layer():
    n = 1 << 16
    model = dense_model(np.full((1, n), 127), np.zeros(1), shift=16, name="conv7")
    assert 127 * 128 * n > HALF
    with pytest.raises(ModelOverflowError, match=r"^layer conv7: accumulator bound 2\^30\.0 exceeds"):
        check_model(model)


def test_rounding_offset_counts_towards_overflow():
    """|acc| <= (p-1)/2 but |acc| + 2^(s-1) is not: still refused."""
    weight = np.zeros((1, 4))
    inside = dense_model(weight, np.array([HALF - 2**15]), shift=16)
    check_model(inside)
    outside = dense_model(weight, np.array([HALF - 2**15 + 1]), shift=16)
    with pytest.raises(ModelOverflowError, match="layer fc_big: accumulator bound"):
        check_model(outside)


def test_residual_term_counts_towards_overflow():
    first = Layer("pre", "dense", -1, (2, 1, 1), (2, 1, 1), 0, "clamp")
    second = Layer("post", "dense", 0, (2, 1, 1), (2, 1, 1), 0, "none", residual=0, residual_shift=23)
    weights = [np.zeros((2, 2), dtype=np.int8), np.zeros((2, 2), dtype=np.int8)]
    biases = [np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64)]
    model = Model("m", (2, 1, 1), 0, [first, second], weights, biases)
    bounds = model_bounds(model)
    assert (bounds[1].acc_min, bounds[1].acc_max) == (-128 << 23, 127 << 23)
    with pytest.raises(ModelOverflowError, match="layer post"):
        check_model(model)


def test_too_many_q_bits_is_refused():
    model = dense_model(np.full((1, 8), 127), np.zeros(1), shift=0, name="wide")
    assert layer_bounds(model, 0).q_bits > MAX_Q_BITS
    with pytest.raises(ModelOverflowError, match="layer wide: requantized values need 18 bits"):
        check_model(model)


def test_too_large_shift_is_refused():
    model = dense_model(np.zeros((1, 2)), np.zeros(1), shift=17, name="deep")
    with pytest.raises(ModelError, match="layer deep: shift 17 exceeds the maximum 16"):
        check_model(model)


def test_output_layer_bound_is_the_accumulator():
    model = dense_model(np.full((2, 3), -2), np.array([1, 2]), shift=0, activation="none")
    b = layer_bounds(model, 0)
    assert (b.acc_min, b.acc_max) == (-2 * 127 * 3 + 1, 2 * 128 * 3 + 2)
    assert (b.q_min, b.q_max) == (b.acc_min, b.acc_max)


def test_pool_bounds():
    layers = [
        Layer("pool", "avgpool", -1, (2, 4, 4), (2, 2, 2), 2, "clamp", 2, 2),
        Layer("gap", "global_avgpool", 0, (2, 2, 2), (2, 1, 1), 2, "relu"),
    ]
    model = Model("m", (2, 4, 4), 0, layers, [None, None], [None, None])
    pool, gap = model_bounds(model)
    assert (pool.acc_min, pool.acc_max, pool.q_min, pool.q_max) == (-512, 508, -128, 127)
    assert (gap.acc_min, gap.acc_max) == (-512, 508)


@pytest.mark.parametrize("bias", [2**63 - 1, -(2**63), 2**62 + 1])
def test_a_bias_beyond_two_to_the_62_is_refused_before_it_can_wrap(bias):
    model = dense_model(np.full((1, 4), 127), np.array([bias]), shift=3, name="wrap")
    with pytest.raises(ModelOverflowError, match="layer wrap: a bias beyond 2.62"):
        check_model(model)


def test_a_concatenation_takes_the_union_of_its_sources_ranges():
    """A relu source [0, 127] beside the int8 input: every channel of the input may be as low as -128."""
    layers = [
        Layer("a", "conv2d", -1, (1, 2, 2), (1, 2, 2), 0, "relu", 1),
        Layer("b", "conv2d", 0, (2, 2, 2), (1, 2, 2), 0, "none", 1, extra_sources=(-1,)),
    ]
    weights = [np.ones((1, 1, 1, 1), np.int8), np.ones((1, 2, 1, 1), np.int8)]
    model = Model("cat", (1, 2, 2), 0, layers, weights, [np.zeros(1, np.int64)] * 2)
    bounds = layer_bounds(model, 1)
    assert (bounds.acc_min, bounds.acc_max) == (-256, 254)
    for x in (np.full((1, 2, 2), -128), np.full((1, 2, 2), 127)):
        out = ops.run(model, x)
        assert bounds.acc_min <= out.min() and out.max() <= bounds.acc_max
