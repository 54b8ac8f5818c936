"""Integer semantics of every layer kind against a naive loop reference, requantization and streaming."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgeprove.layers.avgpool import window_rescale
from edgeprove.model import ops, zoo
from edgeprove.model.ir import Layer, Model, ModelError, conv_out_size, last_uses


# ------------------------------------------------------------------ naive reference (loops, tiny shapes only)
def naive_source(size: int, kernel: int, stride: int, border: str, i: int, u: int) -> int | None:
    """The position kernel offset u of probe i reads along one axis of a probe convolution (None: nothing)."""
    r, half = stride * i, kernel // 2
    if border == "clip":
        top, bottom = max(0, r - half), min(r + half + 1, size)
        ktop = half - (bottom - top) // 2
        return top + u - ktop if ktop <= u < ktop + bottom - top else None
    h = r + u - half
    if border == "wrap":
        return h % size
    return h if 0 <= h < size else None


def naive_linear(layer: Layer, weight, bias, x, skip) -> np.ndarray:
    """Python-int reference of the linear map, written straight from the spec."""
    c_in, h_in, w_in = layer.in_shape
    out = np.zeros(layer.out_shape, dtype=object)
    o_n, h_n, w_n = layer.out_shape
    for o in range(o_n):
        for i in range(h_n):
            for j in range(w_n):
                total = 0
                if layer.kind in ("conv2d", "grouped_conv2d"):
                    per_group = c_in // layer.groups
                    first = o // (o_n // layer.groups) * per_group
                    for c in range(per_group):
                        for u in range(layer.kernel):
                            for v in range(layer.kernel):
                                h = layer.stride * i + u - layer.padding
                                w = layer.stride * j + v - layer.padding
                                if 0 <= h < h_in and 0 <= w < w_in:
                                    total += int(weight[o, c, u, v]) * int(x[first + c, h, w])
                    total += int(bias[o])
                elif layer.kind == "probe_conv2d":
                    for c, u, v in np.ndindex(c_in, layer.kernel, layer.kernel_w):
                        h = naive_source(h_in, layer.kernel, layer.stride, layer.border_h, i, u)
                        w = naive_source(w_in, layer.kernel_w, layer.stride_w, layer.border_w, j, v)
                        if h is not None and w is not None:
                            total += int(weight[o, c, u, v]) * int(x[c, h, w])
                    total += int(bias[o])
                elif layer.kind == "dense":
                    flat = [int(x[c, h, w]) for c in range(c_in) for h in range(h_in) for w in range(w_in)]
                    total = sum(int(weight[o, k]) * flat[k] for k in range(len(flat))) + int(bias[o])
                elif layer.kind == "avgpool":
                    k = layer.kernel
                    total = sum(int(x[o, k * i + u, k * j + v]) for u in range(k) for v in range(k))
                    total *= window_rescale(k * k)[0]
                else:
                    total = sum(int(x[o, h, w]) for h in range(h_in) for w in range(w_in))
                    total *= window_rescale(h_in * w_in)[0]
                if layer.residual is not None:
                    total += int(skip[o, i, j]) * 2**layer.residual_shift
                out[o, i, j] = total
    return out


def naive_requant(layer: Layer, a) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Python-int floor-division reference of requantization."""
    s = layer.shift
    offset = 2 ** (s - 1) if s >= 1 else 0
    lo = 0 if layer.activation == "relu" else -128
    flat = [int(v) for v in np.asarray(a).ravel()]
    q = [(v + offset) // 2**s for v in flat]
    r = [v + offset - qq * 2**s for v, qq in zip(flat, q, strict=True)]
    y = [min(max(qq, lo), 127) for qq in q]
    shape = np.asarray(a).shape
    return tuple(np.array(t, dtype=np.int64).reshape(shape) for t in (q, r, y))


def naive_input(layer: Layer, ys: dict[int, np.ndarray]) -> np.ndarray:
    """A layer's input from the spec: source after source along channels, position (i, j) of a source
    upsampled by f reading its (i // f, j // f)."""
    out = np.zeros(layer.in_shape, dtype=np.int64)
    channel = 0
    for ref, factor in zip(layer.sources, layer.factors, strict=True):
        for c, i, j in np.ndindex(ys[ref].shape[0], *layer.in_shape[1:]):
            out[channel + c, i, j] = ys[ref][c, i // factor, j // factor]
        channel += ys[ref].shape[0]
    return out


def naive_run(model: Model, x: np.ndarray) -> np.ndarray:
    """Whole-model reference keeping every tensor."""
    ys = {-1: x}
    for index, layer in enumerate(model.layers):
        weight = model.weight(index) if layer.has_weights else None
        bias = model.bias(index) if layer.has_weights else None
        skip = ys[layer.residual] if layer.residual is not None else None
        a = naive_linear(layer, weight, bias, naive_input(layer, ys), skip)
        ys[index] = naive_requant(layer, a)[2] if layer.requantized else a.astype(np.int64)
    return ys[len(model.layers) - 1]


def single_layer_model(
    rng,
    kind,
    in_shape,
    out_channels=3,
    kernel=1,
    stride=1,
    padding=0,
    shift=None,
    activation=None,
    residual=False,
) -> Model:
    """A model of one layer (plus a leading identity-shaped layer when a residual is wanted), random int8."""
    layers: list[Layer] = []
    weights, biases = [], []
    if residual:
        layers.append(Layer("pre", "conv2d", -1, in_shape, in_shape, 1, "clamp", 1, 1, 0))
        weights.append(rng.integers(-128, 128, (in_shape[0], in_shape[0], 1, 1)).astype(np.int8))
        biases.append(rng.integers(-500, 500, in_shape[0]).astype(np.int64))
    c, h, w = in_shape
    if kind == "conv2d":
        out = (
            out_channels,
            conv_out_size(h, kernel, stride, padding),
            conv_out_size(w, kernel, stride, padding),
        )
    elif kind == "dense":
        out = (out_channels, 1, 1)
    elif kind == "avgpool":
        out, stride = (c, h // kernel, w // kernel), kernel
    else:
        out = (c, 1, 1)
    source = len(layers) - 1
    layer = Layer(
        "main",
        kind,
        source,
        in_shape,
        out,
        int(rng.integers(0, 9)) if shift is None else shift,
        activation or str(rng.choice(["relu", "clamp"])),
        kernel,
        stride,
        padding,
        residual=0 if residual else None,
        residual_shift=int(rng.integers(0, 4)) if residual else 0,
    )
    layers.append(layer)
    if layer.has_weights:
        weights.append(rng.integers(-128, 128, layer.weight_shape).astype(np.int8))
        biases.append(rng.integers(-1000, 1000, out[0]).astype(np.int64))
    else:
        weights.append(None)
        biases.append(None)
    return Model("single", in_shape, 0, layers, weights, biases)


CONV_CASES = [
    # (in_shape, out_channels, kernel, stride, padding)
    ((1, 1, 1), 1, 1, 1, 0),
    ((3, 5, 4), 3, 3, 1, 1),
    ((3, 7, 5), 4, 3, 1, 1),
    ((3, 7, 5), 2, 3, 2, 1),
    ((2, 7, 5), 3, 3, 2, 0),
    ((2, 6, 9), 5, 2, 2, 0),
    ((4, 5, 3), 2, 3, 1, 0),
    ((1, 8, 8), 2, 5, 1, 2),
    ((2, 3, 3), 1, 3, 2, 2),
]


@pytest.mark.parametrize("in_shape, out_channels, kernel, stride, padding", CONV_CASES)
def test_conv2d_matches_naive(in_shape, out_channels, kernel, stride, padding):
    rng = np.random.default_rng(hash((in_shape, kernel, stride, padding)) % 2**32)
    for residual in (False, True):
        model = single_layer_model(
            rng,
            "conv2d",
            in_shape,
            out_channels,
            kernel,
            stride,
            padding,
            residual=residual and out_channels == in_shape[0] and stride == 1 and 2 * padding == kernel - 1,
        )
        x = rng.integers(-128, 128, in_shape)
        np.testing.assert_array_equal(ops.run(model, x), naive_run(model, x))


@pytest.mark.parametrize("in_shape", [(1, 1, 1), (7, 1, 1), (3, 5, 3), (2, 4, 4)])
def test_dense_matches_naive_with_chw_flatten(in_shape):
    rng = np.random.default_rng(sum(in_shape))
    model = single_layer_model(rng, "dense", in_shape, out_channels=5)
    x = rng.integers(-128, 128, in_shape)
    np.testing.assert_array_equal(ops.run(model, x), naive_run(model, x))


@pytest.mark.parametrize("in_shape, kernel", [((3, 7, 5), 2), ((2, 4, 4), 2), ((1, 9, 8), 4), ((2, 3, 3), 1)])
def test_avgpool_matches_naive(in_shape, kernel):
    rng = np.random.default_rng(kernel + sum(in_shape))
    model = single_layer_model(rng, "avgpool", in_shape, kernel=kernel)
    x = rng.integers(-128, 128, in_shape)
    np.testing.assert_array_equal(ops.run(model, x), naive_run(model, x))


@pytest.mark.parametrize("in_shape", [(3, 2, 4), (5, 1, 1), (2, 8, 8), (1, 1, 2)])
def test_global_avgpool_and_residual_match_naive(in_shape):
    rng = np.random.default_rng(7 + sum(in_shape))
    for residual in (False, True):
        model = single_layer_model(
            rng, "global_avgpool", in_shape, residual=residual and in_shape[1:] == (1, 1)
        )
        x = rng.integers(-128, 128, in_shape)
        np.testing.assert_array_equal(ops.run(model, x), naive_run(model, x))


def test_output_layer_none_returns_accumulator():
    rng = np.random.default_rng(3)
    model = single_layer_model(rng, "dense", (6, 1, 1), shift=0, activation="none")
    x = rng.integers(-128, 128, (6, 1, 1))
    steps = list(ops.forward(model, x))
    index, a, q, r, y = steps[-1]
    assert q is None and r is None
    np.testing.assert_array_equal(y, a)
    np.testing.assert_array_equal(a, naive_linear(model.layers[0], model.weight(0), model.bias(0), x, None))
    with pytest.raises(ModelError, match="no requantization"):
        ops.requantize(model.layers[0], a)


@pytest.mark.parametrize("shift", [0, 1, 2, 5, 16])
@pytest.mark.parametrize("activation", ["relu", "clamp"])
def test_requantize_identity_and_floor(shift, activation):
    rng = np.random.default_rng(shift)
    layer = Layer("l", "dense", -1, (9, 1, 1), (9, 1, 1), shift, activation)
    a = np.concatenate([rng.integers(-(2**30), 2**30, 500), np.arange(-70, 70), [0, 1, -1, 2**30, -(2**30)]])
    q, r, y = ops.requantize(layer, a)
    offset = 2 ** (shift - 1) if shift else 0
    np.testing.assert_array_equal(q * 2**shift + r, a + offset)
    assert r.min() >= 0 and r.max() < 2**shift
    for got, want in zip((q, r, y), naive_requant(layer, a), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shift, out_frac, q_frac", [(0, 7, 0), (3, 7, 6), (9, 5, 7), (1, 0, 2)])
def test_requantize_sigmoid_is_float_sigmoid_of_q_rounded(shift, out_frac, q_frac):
    """A sigmoid layer's y is min(act_max, round(2^out_frac sigma(q / 2^q_frac))) of the floor-divided q,
    against Python's math.exp on every q (none of these lands near a rounding tie)."""
    import math

    act_max = min(1 << out_frac, 127)
    layer = Layer("l", "dense", -1, (9, 1, 1), (9, 1, 1), shift, "sigmoid", out_frac=out_frac)
    layer = dataclasses.replace(layer, act_max=act_max, q_frac=q_frac)
    a = np.arange(-(1 << (shift + 10)), 1 << (shift + 10), 1 + (1 << shift) // 3)
    q, r, y = ops.requantize(layer, a)
    naive_q, naive_r, _ = naive_requant(dataclasses.replace(layer, activation="clamp"), a)
    np.testing.assert_array_equal(q, naive_q)
    np.testing.assert_array_equal(r, naive_r)
    sigma = [1 / (1 + math.exp(min(-v / 2**q_frac, 700))) for v in q.tolist()]
    want = [min(act_max, math.floor(2**out_frac * s + 0.5)) for s in sigma]
    np.testing.assert_array_equal(y, want)
    assert y.min() == 0 and y.max() == act_max


def test_exact_at_large_accumulators():
    """Float64 GEMMs stay exact with 2^14 extreme products per output (|sum| ~ 2^28)."""
    n = 1 << 14
    layer = Layer("big", "dense", -1, (n, 1, 1), (2, 1, 1), 0, "none")
    weight = np.stack([np.full(n, -128), np.full(n, 127)]).astype(np.int8)
    bias = np.array([-12345, 67890], dtype=np.int64)
    model = Model("big", (n, 1, 1), 0, [layer], [weight], [bias])
    x = np.full((n, 1, 1), -128)
    expected = [n * (-128) * (-128) - 12345, n * 127 * (-128) + 67890]
    assert ops.run(model, x).ravel().tolist() == expected


@pytest.mark.parametrize("seed", range(12))
def test_random_models_match_naive(seed):
    rng = np.random.default_rng(seed)
    model = zoo.random_model(rng)
    x = rng.integers(-128, 128, model.input_shape)
    np.testing.assert_array_equal(ops.run(model, x), naive_run(model, x))


def test_tiny_cnn_matches_naive_and_batch():
    model = zoo.build("tiny_cnn").model
    rng = np.random.default_rng(11)
    xs = rng.integers(-128, 128, (3, *model.input_shape))
    batch = ops.run_batch(model, xs)
    for x, out in zip(xs, batch, strict=True):
        np.testing.assert_array_equal(out, naive_run(model, x))
        np.testing.assert_array_equal(ops.run(model, x), out)


def test_forward_yields_every_layer_in_order_with_consistent_witness():
    model = zoo.build("tiny_cnn").model
    x = np.random.default_rng(2).integers(-128, 128, model.input_shape)
    seen = []
    for index, a, q, r, _ in ops.forward(model, x):
        layer = model.layers[index]
        seen.append(index)
        assert a.shape == layer.out_shape and a.dtype == np.int64
        if layer.requantized:
            offset = 2 ** (layer.shift - 1) if layer.shift else 0
            np.testing.assert_array_equal(q * 2**layer.shift + r, a + offset)
    assert seen == list(range(len(model.layers)))


def test_last_uses_keeps_residual_sources_alive():
    model = zoo.build("tiny_cnn").model
    last = last_uses(model.layers)
    names = {layer.name: index for index, layer in enumerate(model.layers)}
    assert last[-1] == names["conv1"]
    assert last[names["conv1"]] == names["conv2"]  # source and residual of conv2
    assert last[names["pool1"]] == names["fc1"]  # read by gap and, later, by fc1
    assert last[names["gap"]] == names["fc1"]  # fc1's residual
    assert last[names["fc2"]] == names["fc2"]


def concat_model(rng) -> Model:
    """conv a (stride 2); conv c over a upsampled 2x beside the input; dense over c and a upsampled."""
    layers = [
        Layer("a", "conv2d", -1, (2, 4, 6), (3, 2, 3), 9, "relu", 3, 2, 1),
        Layer("c", "conv2d", 0, (5, 4, 6), (2, 4, 6), 9, "clamp", 3, 1, 1, extra_sources=(-1,)),
        Layer("d", "dense", 1, (5, 4, 6), (3, 1, 1), 0, "none", extra_sources=(0,), upsample=(1, 2)),
    ]
    layers[1] = dataclasses.replace(layers[1], upsample=(2, 1))
    weights = [rng.integers(-128, 128, layer.weight_shape).astype(np.int8) for layer in layers]
    biases = [rng.integers(-500, 500, layer.out_shape[0]) for layer in layers]
    return Model("concat", (2, 4, 6), 0, layers, weights, biases)


def test_layers_over_concatenated_upsampled_sources_match_the_reference():
    rng = np.random.default_rng(11)
    model = concat_model(rng)
    for _ in range(3):
        x = rng.integers(-128, 128, model.input_shape)
        np.testing.assert_array_equal(ops.run(model, x), naive_run(model, x))
    assert last_uses(model.layers) == {-1: 1, 0: 2, 1: 2, 2: 2}


def test_gather_upsamples_batches_too():
    rng = np.random.default_rng(12)
    layer = concat_model(rng).layers[1]
    a, x = rng.integers(-9, 9, (3, 4, 2, 3)), rng.integers(-9, 9, (2, 4, 4, 6))
    batched = ops.gather(layer, [a, x])
    for n in range(4):
        np.testing.assert_array_equal(batched[:, n], ops.gather(layer, [a[:, n], x[:, n]]))
        np.testing.assert_array_equal(batched[:, n], naive_input(layer, {0: a[:, n], -1: x[:, n]}))


def test_dequantize_uses_output_scale():
    model = zoo.build("tiny_mlp").model
    out = np.array([1, -2, 3])
    np.testing.assert_allclose(ops.dequantize(model, out), out / 2.0 ** model.layers[-1].out_frac)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((10, 1)), "shape"),
        (np.zeros((10, 1, 1), dtype=np.float32), "integer"),
        (np.full((10, 1, 1), 128), r"\[-128, 127\]"),
        (np.full((10, 1, 1), -129), r"\[-128, 127\]"),
    ],
)
def test_bad_input_is_refused(bad, message):
    model = zoo.build("tiny_mlp").model
    with pytest.raises(ModelError, match=message):
        ops.run(model, bad)


def test_bad_batch_is_refused():
    model = zoo.build("tiny_mlp").model
    with pytest.raises(ModelError, match="batch"):
        ops.run_batch(model, np.zeros((0, 10, 1, 1), dtype=np.int64))
    with pytest.raises(ModelError, match="batch"):
        ops.run_batch(model, np.zeros((10, 1, 1), dtype=np.int64))
