"""Quantization: scale rules, residual and table constraints, and the honest agreement report."""

from __future__ import annotations

import dataclasses
import math
import tracemalloc

import numpy as np
import pytest

from edgeprove.model import ops, zoo
from edgeprove.model.bounds import MAX_Q_BITS, MAX_SHIFT, check_model
from edgeprove.model.ir import Layer, ModelError
from edgeprove.model.quantize import (
    FloatModel,
    QuantizationReport,
    class_agreement,
    frac_for,
    quantize,
    quantize_array,
    random_calibration,
)


@pytest.mark.parametrize(
    "magnitude, frac",
    [(127.0, 0), (127.5, -1), (1.0, 6), (0.99, 7), (254.0, -1), (255.0, -2), (0.0, 0), (1e-3, 16)],
)
def test_frac_for_is_the_largest_fitting_fraction(magnitude, frac):
    assert frac_for(magnitude) == frac
    if magnitude:
        assert magnitude * 2.0**frac <= 127 < magnitude * 2.0 ** (frac + 1)


def test_frac_for_refuses_non_finite():
    with pytest.raises(ModelError, match="largest magnitude"):
        frac_for(float("nan"))


@pytest.mark.parametrize("name", ["tiny_mlp", "tiny_cnn", "lenet5"])
def test_scale_rules_hold(name):
    float_model = zoo.float_model(name)
    model = zoo.build(name).model
    for index, layer in enumerate(model.layers):
        acc_frac = model.in_frac(index)
        if layer.has_weights:
            weight, _ = float_model.parameters(index)
            assert layer.weight_frac == frac_for(float(np.abs(weight).max()))
            np.testing.assert_array_equal(model.weight(index), quantize_array(weight, layer.weight_frac))
            acc_frac += layer.weight_frac
        elif layer.kind == "avgpool":
            acc_frac += int(math.log2(layer.kernel**2))
        else:
            acc_frac += int(math.log2(layer.in_shape[1] * layer.in_shape[2]))
        assert layer.out_frac == acc_frac - layer.shift
        assert 0 <= layer.shift <= MAX_SHIFT
        if layer.residual is not None:
            assert layer.residual_shift == acc_frac - model.layers[layer.residual].out_frac >= 0
        if not layer.requantized:
            assert layer.shift == 0
    assert all(
        b.q_bits <= MAX_Q_BITS
        for b, layer in zip(check_model(model), model.layers, strict=True)
        if layer.requantized
    )


def mlp_float_reference(float_model: FloatModel, inputs: np.ndarray) -> np.ndarray:
    """Independent float forward of a dense-only chain with residuals (batch on axis 0)."""
    ys = {-1: inputs.reshape(len(inputs), -1)}
    for index, layer in enumerate(float_model.layers):
        weight, bias = float_model.parameters(index)
        a = ys[layer.source] @ weight.T + bias
        if layer.residual is not None:
            a = a + ys[layer.residual]
        ys[index] = np.maximum(a, 0) if layer.activation == "relu" else a
    return ys[len(float_model.layers) - 1]


def test_agreement_report_is_computed_honestly():
    float_model = zoo.float_model("tiny_mlp")
    inputs, label = random_calibration(float_model.input_shape, 32, seed=9)
    result = quantize(float_model, inputs, label)
    report = result.report
    assert report.calibration == label and report.num_inputs == 32 and "seed 9" in label
    expected_float = mlp_float_reference(float_model, inputs)
    int_out = ops.run_batch(result.model, quantize_array(inputs, result.model.input_frac))
    dequantized = ops.dequantize(result.model, int_out).reshape(32, -1)
    assert report.max_abs_error == pytest.approx(np.abs(dequantized - expected_float).max())
    assert report.max_abs_output == pytest.approx(np.abs(expected_float).max())
    assert report.top1_agreement == pytest.approx(
        np.mean(dequantized.argmax(axis=1) == expected_float.argmax(axis=1))
    )
    assert report.max_abs_error < 0.1 * report.max_abs_output
    assert "top-1 agreement" in report.summary()


def test_default_calibration_is_seeded_and_said():
    result = quantize(zoo.float_model("tiny_mlp"))
    again = quantize(zoo.float_model("tiny_mlp"))
    assert "seeded random inputs" in result.report.calibration and "seed 0" in result.report.calibration
    assert result.model.digest == again.model.digest


def dense(name, source, n_in, n_out, activation="relu", residual=None):
    return Layer(name, "dense", source, (n_in, 1, 1), (n_out, 1, 1), 0, activation, residual=residual)


def test_shift_grows_until_q_fits_the_table():
    """One-hot calibration underestimates a 4096-input layer: the static bound forces a larger shift."""
    n = 4096
    rng = np.random.default_rng(1)
    weight = rng.choice([-1.0, 1.0], size=(4, n))
    layers = [dense("wide", -1, n, 4, "clamp"), dense("out", 0, 4, 2, "none")]
    float_model = FloatModel.from_arrays(
        "wide", (n, 1, 1), layers, {0: (weight, np.zeros(4)), 1: (np.eye(2, 4), np.zeros(2))}
    )
    inputs = np.zeros((4, n, 1, 1))
    inputs[np.arange(4), np.arange(4)] = 1.0
    result = quantize(float_model, inputs)
    layer = result.model.layers[0]
    calibrated_shift = 7 + 6 - 6  # in_frac 7, weight_frac 6, calibrated out_frac 6
    assert layer.shift > calibrated_shift
    assert result.bounds[0].q_bits <= MAX_Q_BITS
    assert q_bits_with_shift(result, layer.shift - 1) > MAX_Q_BITS


def q_bits_with_shift(result, shift):
    """The q_bits layer 0 would need with a different shift (to show the chosen shift is the smallest)."""
    b = result.bounds[0]
    offset = 1 << (shift - 1)
    q_low, q_high = (b.acc_min + offset) >> shift, (b.acc_max + offset) >> shift
    return 1 + max(max(q_high, 0).bit_length(), max(-q_low - 1, 0).bit_length())


def test_residual_source_scale_is_lowered_to_keep_the_shift_non_negative():
    """Layer 'big' (weights > 127, weight_frac -1) adds the output of 'small', calibrated to a fine scale."""
    layers = [
        dense("small", -1, 3, 3, "clamp"),
        dense("big", -1, 3, 3, "clamp", residual=0),
        dense("out", 1, 3, 2, "none"),
    ]
    params = {
        0: (np.full((3, 3), 0.05), np.zeros(3)),
        1: (np.full((3, 3), 200.0), np.zeros(3)),
        2: (np.ones((2, 3)), np.zeros(2)),
    }
    float_model = FloatModel.from_arrays("res", (3, 1, 1), layers, params)
    model = quantize(float_model, random_calibration((3, 1, 1), 8)[0]).model
    small, big = model.layers[0], model.layers[1]
    assert big.weight_frac == -1
    assert big.residual_shift == model.input_frac + big.weight_frac - small.out_frac >= 0
    assert small.out_frac <= model.input_frac - 1


def test_a_sigmoid_reading_too_fine_an_input_gets_a_coarser_one():
    """'tiny' outputs about 1e-4 (a fine scale) and 'gate' has weights about 1e-3: their accumulator's
    fraction is beyond what the largest shift can bring to a sigmoid's q_frac, so 'tiny' is made coarser."""
    layers = [dense("tiny", -1, 3, 3, "relu"), dense("gate", 0, 3, 3, "sigmoid")]
    params = {0: (np.full((3, 3), 1e-4), np.zeros(3)), 1: (np.full((3, 3), 1e-3), np.zeros(3))}
    float_model = FloatModel.from_arrays("fine", (3, 1, 1), layers, params)
    calibration = random_calibration((3, 1, 1), 8)[0]
    model = quantize(float_model, calibration).model
    tiny, gate = model.layers
    calibrated = frac_for(float(np.max(np.abs(calibration))) * 3e-4)
    assert tiny.out_frac < calibrated
    assert 0 <= gate.q_frac <= 16 and gate.shift == 16
    assert tiny.out_frac + gate.weight_frac - gate.shift == gate.q_frac


def test_a_cap_beyond_the_largest_shift_lowers_the_scale_of_the_layer_before():
    """'big' (weight_frac -1) reads the input and adds 'tiny', whose accumulator has about 28 fraction
    bits: the cap the residual puts on 'tiny' needs more than the largest shift, so 'fine' is coarsened."""
    layers = [
        dense("fine", -1, 3, 3, "clamp"),
        dense("tiny", 0, 3, 3, "clamp"),
        dense("big", -1, 3, 3, "clamp", residual=1),
        dense("out", 2, 3, 2, "none"),
    ]
    params = {
        0: (np.full((3, 3), 1e-2), np.zeros(3)),
        1: (np.full((3, 3), 1e-3), np.zeros(3)),
        2: (np.full((3, 3), 200.0), np.zeros(3)),
        3: (np.ones((2, 3)), np.zeros(2)),
    }
    float_model = FloatModel.from_arrays("capped", (3, 1, 1), layers, params)
    model = quantize(float_model, random_calibration((3, 1, 1), 8)[0]).model
    fine, tiny, big, _ = model.layers
    assert tiny.shift == 16 and fine.out_frac + tiny.weight_frac - 16 == tiny.out_frac
    assert big.residual_shift == model.input_frac + big.weight_frac - tiny.out_frac == 0


def test_impossible_residual_scales_are_refused():
    """A residual whose consumer always sits at a coarser scale than its source cannot be fixed."""
    layers = [
        dense("a", -1, 3, 3, "clamp"),
        dense("b", 0, 3, 3, "clamp", residual=0),
        dense("c", 1, 3, 1, "none"),
    ]
    params = {
        0: (np.eye(3), np.zeros(3)),
        1: (np.full((3, 3), 1000.0), np.zeros(3)),
        2: (np.ones((1, 3)), np.zeros(1)),
    }
    with pytest.raises(ModelError, match="cannot choose power-of-two scales"):
        quantize(FloatModel.from_arrays("bad", (3, 1, 1), layers, params))


def test_bad_calibration_and_parameters_are_refused():
    float_model = zoo.float_model("tiny_mlp")
    with pytest.raises(ModelError, match="calibration inputs must have shape"):
        quantize(float_model, np.zeros((4, 9, 1, 1)))
    with pytest.raises(ModelError, match="calibration inputs must have shape"):
        quantize(float_model, np.zeros((0, 10, 1, 1)))
    layers = [dense("a", -1, 3, 2, "none")]
    with pytest.raises(ModelError, match="float parameters have shapes"):
        quantize(FloatModel.from_arrays("p", (3, 1, 1), layers, {0: (np.ones((3, 3)), np.zeros(2))}))
    with pytest.raises(ModelError, match="no parameters for layer"):
        FloatModel.from_arrays("p", (3, 1, 1), layers, {})


def test_concatenated_sources_get_one_scale():
    """b's outputs are 100x a's: its finer scale is lowered to a's so their concatenation shares one."""
    layers = [dense("a", -1, 3, 3, "relu"), dense("b", -1, 3, 3, "relu"), dense("c", 0, 6, 2, "none")]
    layers[2] = dataclasses.replace(layers[2], extra_sources=(1,))
    params = {
        0: (np.eye(3) * 100.0, np.zeros(3)),
        1: (np.eye(3), np.zeros(3)),
        2: (np.ones((2, 6)), np.zeros(2)),
    }
    result = quantize(FloatModel.from_arrays("cat", (3, 1, 1), layers, params))
    a, b, _ = result.model.layers
    assert a.out_frac == b.out_frac
    assert result.report.max_abs_error <= 0.05 * result.report.max_abs_output


def test_a_gated_product_takes_the_scale_of_x_times_its_gates():
    layers = [dense("x", -1, 3, 3, "clamp"), dense("g", 0, 3, 3, "relu"), dense("h", 0, 3, 3, "relu")]
    layers.append(Layer("gate", "gated_mul", 0, (3, 1, 1), (3, 1, 1), 0, "clamp", extra_sources=(1, 2)))
    params = {0: (np.eye(3), np.zeros(3)), 1: (np.eye(3) * 0.01, np.zeros(3)), 2: (np.eye(3), np.zeros(3))}
    result = quantize(FloatModel.from_arrays("gated", (3, 1, 1), layers, params))
    x, g, h, gate = result.model.layers
    assert g.out_frac == h.out_frac  # the gates share one scale: g's finer one is lowered
    assert gate.out_frac == x.out_frac + g.out_frac - gate.shift
    assert result.report.max_abs_error <= 0.05 * result.report.max_abs_output


def test_global_pool_over_a_large_window_that_is_not_a_power_of_two_is_refused():
    layers = [Layer("gap", "global_avgpool", -1, (2, 23, 23), (2, 1, 1), 0, "none")]
    with pytest.raises(ModelError, match="averages 23x23 = 529 positions; .* at most 512"):
        FloatModel.from_arrays("gap", (2, 23, 23), layers, {})


@pytest.mark.parametrize("magnitude", [5e-324, 1e-300, 1e-80, 1e80, 1e308])
def test_frac_for_refuses_scales_beyond_the_ceiling_without_overflowing(magnitude):
    with pytest.raises(ModelError, match=r"its scale 2\^-?\d+ is beyond 2\^\+-256"):
        frac_for(magnitude)


def test_frac_for_keeps_extreme_but_allowed_scales_exact():
    for magnitude in (1e-70, 1e70):
        frac = frac_for(magnitude)
        assert abs(frac) <= 256
        assert math.ldexp(magnitude, frac) <= 127 < math.ldexp(magnitude, frac + 1)


def test_tiny_float_weights_are_one_line_errors():
    layers = [Layer("fc", "dense", -1, (4, 1, 1), (2, 1, 1), 0, "none")]
    params = {0: (np.full((2, 4), 1e-200), np.zeros(2))}
    with pytest.raises(ModelError, match="cannot quantize a tensor whose largest magnitude is 1e-200"):
        quantize(FloatModel.from_arrays("tiny", (4, 1, 1), layers, params))


def test_float_models_beyond_the_ceilings_are_refused_before_calibration():
    """The zoo, random models and ONNX import all build a FloatModel, which checks the IR's ceilings first."""
    layers = [Layer("gap", "global_avgpool", -1, (64, 8192, 8192), (64, 1, 1), 0, "none")]
    with pytest.raises(ModelError, match="the model input: shape .* above the ceiling"):
        FloatModel.from_arrays("huge", (64, 8192, 8192), layers, {})
    tracemalloc.start()
    try:
        with pytest.raises(ModelError, match="weights, above the ceiling of 67,108,864"):
            zoo.random_model(np.random.default_rng(2), max_size=1 << 14)
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()


def test_a_float_sigmoid_quantizes_to_the_integer_sigmoid_within_half_a_step_of_its_accumulator():
    """A dense gate sigma(W x + b): the quantizer gives it out_frac 7, act_max 127 and q_frac 6, the model's
    output is the integer sigmoid of q exactly, and within 1/128 of the float sigmoid of the same
    (quantized) accumulator: half an output step, a quarter more for rounding q, and the clamp at 127."""
    from edgeprove.model import sigmoid

    rng = np.random.default_rng(5)
    layers = [dense("h", -1, 6, 5, "relu"), dense("gate", 0, 5, 4, "sigmoid")]
    params = {
        0: (rng.normal(0, 1, (5, 6)), rng.normal(0, 0.2, 5)),
        1: (rng.normal(0, 2, (4, 5)), np.zeros(4)),
    }
    float_model = FloatModel.from_arrays("gate", (6, 1, 1), layers, params)
    inputs = random_calibration((6, 1, 1), 32, seed=3)[0]
    result = quantize(float_model, inputs)
    gate = result.model.layers[1]
    assert (gate.activation, gate.out_frac, gate.act_max, gate.q_frac) == ("sigmoid", 7, 127, 6)
    assert gate.shift == result.model.in_frac(1) + gate.weight_frac - 6
    assert result.report.max_abs_error < 0.1 and result.report.max_abs_output <= 1.0
    x = quantize_array(inputs[0], result.model.input_frac)
    a = [a for index, a, _, _, _ in ops.forward(result.model, x) if index == 1][0]
    q, _, y = ops.requantize(gate, a)
    assert np.array_equal(y, sigmoid.sigmoid(q, 7, 6))
    exact = 1.0 / (1.0 + np.exp(-a / 2.0 ** (gate.q_frac + gate.shift)))
    assert np.max(np.abs(y / 128.0 - exact)) <= 1 / 128


def test_a_residual_add_of_sigmoid_outputs_lowers_its_output_scale():
    """'big' (weights > 127, weight_frac -1) adds a sigmoid's output: the sigmoid's out_frac is lowered to
    the consumer's accumulator fraction, and its act_max with it (2^out_frac is sigma = 1)."""
    layers = [
        dense("gate", -1, 3, 3, "sigmoid"),
        dense("big", -1, 3, 3, "clamp", residual=0),
        dense("out", 1, 3, 2, "none"),
    ]
    params = {
        0: (np.full((3, 3), 0.5), np.zeros(3)),
        1: (np.full((3, 3), 200.0), np.zeros(3)),
        2: (np.ones((2, 3)), np.zeros(2)),
    }
    float_model = FloatModel.from_arrays("gated", (3, 1, 1), layers, params)
    model = quantize(float_model, random_calibration((3, 1, 1), 8)[0]).model
    gate, big = model.layers[0], model.layers[1]
    assert big.weight_frac == -1 and gate.out_frac == model.input_frac - 1 < 7
    assert gate.act_max == 1 << gate.out_frac
    assert big.residual_shift == model.input_frac + big.weight_frac - gate.out_frac == 0
    x = np.zeros((3, 1, 1), dtype=np.int64)
    gate_y = [y for index, _, _, _, y in ops.forward(model, x) if index == 0][0]
    assert gate_y.ravel().tolist() == [1 << (gate.out_frac - 1)] * 3  # sigma(0) = 1/2


def test_class_agreement_counts_one_decision_per_pixel_of_a_map_and_per_input_of_a_vector():
    reference = np.array([[[0.9, 0.1, 0.5], [0.1, 0.8, 0.4]], [[0.2, 0.3, 0.0], [0.6, 0.1, 0.9]]])
    ours = np.array([[[0.9, 0.1, 0.3], [0.1, 0.8, 0.4]], [[0.7, 0.3, 0.0], [0.6, 0.1, 0.9]]])
    # per pixel, class 0 vs 1: each input agrees on 2 of 3 (input 0's last pixel flips, input 1's first)
    assert class_agreement(reference, ours, (2, 1, 3)) == (pytest.approx(4 / 6), "pixel")
    # the same numbers as vectors: input 0's argmax (position 0) agrees, input 1's (position 5) too
    assert class_agreement(reference, ours, (6, 1, 1)) == (1.0, "input")
    assert class_agreement(reference, ours, (1, 2, 3)) == (1.0, "input")  # one channel: no classes per pixel
    report = QuantizationReport("inputs", 2, 4 / 6, 0.5, 0.9, agreement_per="pixel")
    assert report.summary().startswith("per-pixel class agreement 66.7%")
