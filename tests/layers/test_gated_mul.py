"""Gated products x * (sum of broadcast gates) — scSE attention, cSE or sSE alone — on random shapes: they
prove and verify (public and private input, both schedules), every value of their sections is checked, and
malformed gated layers are refused."""

from __future__ import annotations

import dataclasses
import tracemalloc

import numpy as np
import pytest
from kindcheck import assert_every_value_checked, model_of, prove_and_verify, random_input
from proofedit import read_sections, write_sections

from edgeprove import field as F
from edgeprove import layers as L
from edgeprove import sumcheck as S
from edgeprove import verifier
from edgeprove.layers import gated_mul
from edgeprove.layers.common import Grid
from edgeprove.model import ops
from edgeprove.model.bounds import layer_bounds
from edgeprove.model.ir import Layer, Model, ModelError
from edgeprove.proof import SECTION_LAYER
from edgeprove.transcript import Transcript


def scse(shape, gates=("channel", "pixel"), activation="clamp", rng=None) -> Model:
    """x = conv(input); a channel gate conv1x1(relu(global pool(x))) and a pixel gate conv1x1(x) -> 1
    channel, both relu; then the gated product of x with the chosen gates."""
    c, h, w = shape
    layers = [
        Layer("x", "conv2d", -1, shape, shape, 6, "clamp", 3, 1, 1),
        Layer("pool", "global_avgpool", 0, shape, (c, 1, 1), 0, "relu"),
        Layer("cgate", "conv2d", 1, (c, 1, 1), (c, 1, 1), 6, "relu", 1),
        Layer("pgate", "conv2d", 0, shape, (1, h, w), 6, "relu", 1),
    ]
    sources = {"channel": 2, "pixel": 3}
    extra = tuple(sources[g] for g in gates)
    layers.append(Layer("scse", "gated_mul", 0, shape, shape, 0, activation, extra_sources=extra))
    return model_of(shape, layers, rng or np.random.default_rng(sum(shape)))


def body(path) -> bytes:
    data = path.read_bytes()
    return data[14 + int.from_bytes(data[10:14], "little") :]


@pytest.mark.parametrize(
    "shape, gates",
    [
        ((3, 4, 5), ("channel", "pixel")),
        ((2, 3, 3), ("channel",)),
        ((4, 2, 6), ("pixel",)),
        ((1, 3, 2), ("pixel", "channel")),
        ((2, 1, 1), ("channel", "pixel")),
    ],
)
def test_gated_products_prove_and_verify(tmp_path, shape, gates):
    model = scse(shape, gates)
    rng = np.random.default_rng(len(gates))
    for _ in range(2):
        x = random_input(model, rng)
        for private in (False, True):
            streaming = prove_and_verify(tmp_path / f"s{private}", model, x, private_input=private)
            baseline = prove_and_verify(
                tmp_path / f"b{private}", model, x, private_input=private, schedule="baseline"
            )
            assert private or body(streaming) == body(baseline)  # a hiding commitment draws fresh randomness


def test_a_gated_product_as_the_output_and_on_two_threads(tmp_path):
    model = scse((3, 4, 4), activation="none")
    x = random_input(model, np.random.default_rng(1))
    one = prove_and_verify(tmp_path / "one", model, x, threads=1)
    assert body(prove_and_verify(tmp_path / "two", model, x, threads=2)) == body(one)


def test_a_second_gated_product_adding_the_first_as_its_residual(tmp_path):
    """scSE as x * g_c + x * g_s: the pixel-gated product adds the channel-gated one (2^2 times)."""
    model = scse((3, 4, 4), gates=("channel",))
    layers = [
        *model.layers,
        Layer("pix", "gated_mul", 0, (3, 4, 4), (3, 4, 4), 0, "clamp", extra_sources=(3,), residual=4),
    ]
    layers[5] = dataclasses.replace(layers[5], residual_shift=2)
    model = model_of((3, 4, 4), layers, np.random.default_rng(8))
    x = random_input(model, np.random.default_rng(8))
    for private in (False, True):
        prove_and_verify(tmp_path / f"p{private}", model, x, private_input=private)
    ys = {index: y for index, _, _, _, y in ops.forward(model, x)}
    a = ys[0] * ys[3].reshape(1, 4, 4) + (ys[4] << 2)
    np.testing.assert_array_equal(ys[5], ops.requantize(model.layers[5], a)[2])
    proof = tmp_path / "pFalse"
    assert assert_every_value_checked(tmp_path, model, proof, 5) > 40


def upsampled_scse(rng) -> Model:
    """A UNet++ decoder's attention on its upsampled part: x (3, 2, 3) read upsampled to (3, 4, 6) and gated
    per channel and per pixel at the upsampled size."""
    layers = [
        Layer("x", "conv2d", -1, (2, 4, 6), (3, 2, 3), 6, "clamp", 3, 2, 1),
        Layer("pool", "global_avgpool", 0, (3, 2, 3), (3, 1, 1), 0, "relu"),
        Layer(
            "cgate", "conv2d", 1, (3, 1, 1), (3, 1, 1), 6, "sigmoid", 1, weight_frac=6, out_frac=7, q_frac=0
        ),
        Layer("pgate", "conv2d", -1, (2, 4, 6), (1, 4, 6), 6, "relu", 1),
        Layer(
            "scse", "gated_mul", 0, (3, 4, 6), (3, 4, 6), 0, "clamp", extra_sources=(2, 3), upsample=(2, 1, 1)
        ),
    ]
    return model_of((2, 4, 6), layers, rng)


def test_a_gated_product_of_an_upsampled_x_proves_and_its_claim_moves_to_x(tmp_path):
    rng = np.random.default_rng(12)
    model = upsampled_scse(rng)
    x = random_input(model, rng)
    ys = {index: y for index, _, _, _, y in ops.forward(model, x)}
    up = ys[0].repeat(2, axis=1).repeat(2, axis=2)
    a = up * (ys[2].reshape(3, 1, 1) + ys[3].reshape(1, 4, 6))
    np.testing.assert_array_equal(ys[4], ops.requantize(model.layers[4], a)[2])
    for private in (False, True):
        proof = prove_and_verify(tmp_path / f"p{private}", model, x, private_input=private)
    assert assert_every_value_checked(tmp_path, model, proof, 4) > 40


def test_the_map_is_x_times_the_sum_of_its_gates():
    model = scse((3, 4, 5))
    x = random_input(model, np.random.default_rng(2))
    ys = {}
    for index, a, _, _, y in ops.forward(model, x):
        ys[index] = y
        if index == 4:
            expected = ys[0] * (ys[2].reshape(3, 1, 1) + ys[3].reshape(1, 4, 5))
            np.testing.assert_array_equal(a, expected)
            bounds = layer_bounds(model, 4)
            assert bounds.acc_min <= a.min() and a.max() <= bounds.acc_max


def test_the_static_bound_holds_for_inputs_entirely_below_zero():
    """x in [-128, -5] (clamp, act_max -5) times gates up to 127: the bound still covers -128 * 2 * 127."""
    model = scse((2, 3, 3))
    layers = list(model.layers)
    layers[0] = Layer("x", "conv2d", -1, (2, 3, 3), (2, 3, 3), 6, "clamp", 3, 1, 1, act_max=-5)
    model = Model("neg", (2, 3, 3), 0, layers, model.weights, model.biases)
    bounds = layer_bounds(model, 4)
    assert bounds.acc_min <= -128 * 2 * 127 and bounds.acc_max >= 0


def test_every_value_of_a_gated_product_is_checked(tmp_path):
    model = scse((3, 4, 5))
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, np.random.default_rng(3)))
    assert assert_every_value_checked(tmp_path, model, proof, 4) > 40


@pytest.mark.parametrize("field", ["x_value", "gate_values"])
def test_a_wrong_input_or_gate_value_fails_the_final_check(tmp_path, field):
    model = scse((3, 4, 5))
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, np.random.default_rng(4)))
    prefix, sections = read_sections(proof)
    position = [i for i, (kind, _) in enumerate(sections) if kind == SECTION_LAYER][4]
    gated = sections[position][1]
    flat = getattr(gated, field).reshape(-1)  # a view: the proof's own array
    flat[0] = (int(flat[0]) + 1) % F.P
    write_sections(proof, prefix, sections)
    verdict = verifier.verify(proof, model)
    assert not verdict.accepted and "gated product's final check failed" in verdict.reason


def test_a_gate_value_of_the_wrong_shape_is_rejected(tmp_path):
    model = scse((3, 4, 5))
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, np.random.default_rng(5)))
    prefix, sections = read_sections(proof)
    position = [i for i, (kind, _) in enumerate(sections) if kind == SECTION_LAYER][4]
    sections[position][1].gate_values = sections[position][1].gate_values[:, :1]
    write_sections(proof, prefix, sections)
    verdict = verifier.verify(proof, model)
    assert not verdict.accepted and "malformed gate values" in verdict.reason


@pytest.mark.parametrize(
    "index, changes, message",
    [
        (4, {"extra_sources": ()}, "layer scse: gated_mul needs at least one gate"),
        (2, {"activation": "clamp"}, "layer scse: gate cgate is not a relu or sigmoid layer"),
        (4, {"extra_sources": (-1,)}, r"layer scse: gate the input has shape \(3, 4, 5\), neither"),
        (4, {"extra_sources": (0,)}, r"gate x has shape \(3, 4, 5\), neither \(3, 1, 1\) nor \(1, 4, 5\)"),
        (4, {"kernel": 3}, "layer scse: gated_mul takes no kernel"),
        (4, {"upsample": (1, 2, 1)}, r"gate cgate has shape \(3, 2, 2\), neither"),
        (
            4,
            {"extra_sources": (3,), "upsample": (2, 2), "in_shape": (3, 8, 10), "out_shape": (3, 8, 10)},
            "layer scse: gated_mul may upsample x, not its gates",
        ),
    ],
)
def test_malformed_gated_products_are_refused(index, changes, message):
    model = scse((3, 4, 5))
    layers = list(model.layers)
    layers[index] = dataclasses.replace(layers[index], **changes)
    with pytest.raises(ModelError, match=message) as caught:
        Model("bad", model.input_shape, 0, layers, model.weights, model.biases)
    assert "\n" not in str(caught.value)


def test_the_planner_holds_the_product_sumchecks_peak():
    """The planner's estimate of the product sumcheck covers its traced peak on a 2^20-entry grid (x and S
    in compact storage as the prover hands them over, their folds, the split eq weights), and is not a
    loose bound."""
    shape = (32, 128, 256)
    layer = Layer("g", "gated_mul", 0, shape, shape, 0, "clamp", extra_sources=(1,))
    grid = Grid(shape)
    rng = np.random.default_rng(0)
    z = rng.integers(0, F.P, size=(F.EXT_DEGREE, grid.num_vars), dtype=np.uint64)
    tracemalloc.start()
    try:
        x = grid.pad(rng.integers(-128, 128, shape), out=np.zeros(grid.size, dtype=np.uint32))
        gate = rng.integers(0, 128, (1, *shape[1:]))
        tables = [x, gated_mul.gate_sum_table(layer, [gate])]
        del x
        claim = F.ext_zeros()  # the messages' values do not matter here, only the tables' bytes
        tracemalloc.reset_peak()  # from x and S as the sumcheck is handed them
        S.prove_eq_weighted(tables, [(1, (0, 1))], 3, z, claim, Transcript(), "g", consume=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = L.kind_of(layer).working_bytes(layer)
    assert peak <= estimate + (1 << 20) and estimate <= 1.25 * peak  # beside the messages' few KiB
