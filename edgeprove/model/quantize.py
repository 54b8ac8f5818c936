"""Quantize a float model to the integer IR with power-of-two scales (docs/design.md, section 1.4).

Weights: int8 with per-layer weight_frac = the largest f with max|w| * 2^f <= 127.  Activations: int8 with a
per-tensor out_frac from calibration (the largest f with max|y| * 2^f <= 127).  Bias: integer at the
accumulator scale 2^-(in_frac + weight_frac).  shift = acc_frac - out_frac, kept in [0, 16]; residual_shift =
acc_frac - out_frac(residual source) must be >= 0, so a residual source's out_frac is lowered when needed
(through a maxpool, which keeps its source's scale and range, to the layer before it); a layer concatenating
several sources needs them at one scale, so the finer ones' out_frac is lowered to the coarsest's the same
way (the model input's cannot be); a gated product's gates share one scale too, and its accumulator's
fraction is x's plus theirs; and a layer whose
static q bound would need more than 16 bits gets a smaller out_frac (larger shift).  A float clip at c (ReLU6:
c = 6) caps out_frac so that act_max = round(c * 2^out_frac) is at most 127.  A sigmoid layer outputs at
out_frac 7 (act_max 127; lower only where a residual add needs it) and reads q at q_frac = min(acc_frac,
SIGMOID_Q_FRAC) (the shift takes the rest), so rounding q moves 2^7 sigma by at most 2^(4 - q_frac) steps.

The quantizer works in three passes so that at most one layer's float weights are in memory: (1) float
calibration layer by layer, quantizing each weight array as soon as it is produced; (2) the choice of every
fraction from the recorded statistics alone; (3) assembly, the static bound check and the agreement of the
integer model with the float model on the calibration inputs (which is reported, never hidden).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgeprove.model import sigmoid
from edgeprove.model.bounds import (
    MAX_Q_BITS,
    MAX_SHIFT,
    LayerBounds,
    bounds_from_sums,
    check_model,
    weight_sign_sums,
)
from edgeprove.model.ir import (
    DEFAULT_ACT_MAX,
    INPUT_RANGE,
    MAX_FRAC,
    Layer,
    Model,
    ModelError,
    Shape,
    check_frac,
    clamp_activation,
    input_range,
    last_uses,
    validate_layers,
    value_range,
)
from edgeprove.model.kinds import rules_of
from edgeprove.model.ops import gather, linear_map, run_batch

INT8_MAX = 127
DEFAULT_CALIBRATION_INPUTS = 16
DEFAULT_CALIBRATION_SEED = 0
SIGMOID_Q_FRAC = 6
"""The q_frac a sigmoid layer is given when its accumulator has that many fraction bits: sigma' <= 1/4, so
half a step of q (2^-7) moves 2^7 sigma by at most 2^(4 - 6) = 1/4 of an output step, and the table's
saturation points (|x| < 5.55) lie within |q| < 2^9."""

FloatParameters = Callable[[int], tuple[np.ndarray, np.ndarray]]
"""parameters(i) -> (float weight, float bias) of weighted layer i; the quantizer calls it once per layer."""


@dataclass
class FloatModel:
    """A float model: the architecture as IR layers (their shift and fraction fields are ignored) plus float
    parameters produced on demand, so a large model never needs all its float weights in memory.

    Float semantics: relu is max(0, .), then min(., c) for a layer with ``clip_max[i] = c`` (ReLU6: c = 6);
    sigmoid is 1 / (1 + e^-x); clamp and none are the identity (int8 saturation only exists in the integer
    model); avgpool and global_avgpool are means, maxpool the window maximum; a residual adds the source's y.
    """

    name: str
    input_shape: Shape
    layers: list[Layer]
    parameters: FloatParameters
    clip_max: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.input_shape = tuple(self.input_shape)
        validate_layers(self.input_shape, self.layers)
        for index, limit in self.clip_max.items():
            if not 0 <= index < len(self.layers) or self.layers[index].activation != "relu":
                raise ModelError(f"float model {self.name}: clip_max names {index}, not a relu layer")
            if not (math.isfinite(limit) and limit > 0):
                raise ModelError(
                    f"float model {self.name}: layer {self.layers[index].name} clips at "
                    f"{limit}, expected a positive finite number"
                )

    @classmethod
    def from_arrays(
        cls,
        name: str,
        input_shape: Shape,
        layers: list[Layer],
        params: dict[int, tuple[np.ndarray, np.ndarray]],
        clip_max: dict[int, float] | None = None,
    ) -> FloatModel:
        """A float model whose parameters are held in a dict {layer index: (weight, bias)}."""
        missing = [layer.name for i, layer in enumerate(layers) if layer.has_weights and i not in params]
        if missing:
            raise ModelError(f"float model {name}: no parameters for layer(s) {', '.join(missing)}")
        return cls(name, input_shape, layers, params.__getitem__, dict(clip_max or {}))


@dataclass(frozen=True)
class QuantizationReport:
    """How closely the integer model follows the float model on the calibration inputs."""

    calibration: str
    num_inputs: int
    top1_agreement: float
    max_abs_error: float
    max_abs_output: float
    agreement_per: str = "input"
    """What top1_agreement counts: one class decision per "input", or per "pixel" (``class_agreement``)."""

    def summary(self) -> str:
        """One line for people: agreement, error and what the calibration inputs were."""
        return (
            f"{agreement_label(self.agreement_per)} {self.top1_agreement:.1%}, max abs error "
            f"{self.max_abs_error:.4g} (float outputs up to {self.max_abs_output:.4g}) on {self.calibration}"
        )


def class_agreement(reference: np.ndarray, ours: np.ndarray, out_shape: Shape) -> tuple[float, str]:
    """The share of class decisions (argmax) two output batches (N, ...) agree on, and what one decision is:
    one per "input" for a vector output, one per "pixel" over the channels of a (C, H, W) output with several
    channels and positions (a segmentation map, whose single argmax would say nothing)."""
    count = len(reference)
    channels, height, width = out_shape
    if channels > 1 and height * width > 1:
        shape = (count, channels, height * width)
        same = reference.reshape(shape).argmax(axis=1) == ours.reshape(shape).argmax(axis=1)
        return float(np.mean(same)), "pixel"
    same = reference.reshape(count, -1).argmax(axis=1) == ours.reshape(count, -1).argmax(axis=1)
    return float(np.mean(same)), "input"


def agreement_label(per: str) -> str:
    """How a summary names an agreement counted per input or per pixel."""
    return "per-pixel class agreement" if per == "pixel" else "top-1 agreement"


@dataclass
class QuantizationResult:
    """The integer model, its agreement report, its static bounds (per layer) and the float model's outputs
    (N, *out_shape) on the calibration inputs, so callers can compare them with another reference."""

    model: Model
    report: QuantizationReport
    bounds: list[LayerBounds]
    float_outputs: np.ndarray = field(repr=False)


@dataclass
class _LayerStats:
    """What pass 1 records of a layer: weight scale, int8 weights, float bias, sign sums, calibrated f."""

    weight_frac: int
    weight: np.ndarray | None
    bias: np.ndarray | None
    positive: np.ndarray
    negative: np.ndarray
    calibrated_frac: int


def frac_for(magnitude: float) -> int:
    """Largest f with magnitude * 2^f <= 127 (0 for an all-zero tensor, which any scale represents)."""
    if not magnitude > 0 or not math.isfinite(magnitude):
        if magnitude == 0:
            return 0
        raise ModelError(f"cannot quantize a tensor whose largest magnitude is {magnitude}")
    frac = math.floor(math.log2(INT8_MAX) - math.log2(magnitude))
    while math.ldexp(magnitude, frac + 1) <= INT8_MAX:
        frac += 1
    while math.ldexp(magnitude, frac) > INT8_MAX:
        frac -= 1
    if abs(frac) > MAX_FRAC:
        raise ModelError(
            f"cannot quantize a tensor whose largest magnitude is {magnitude:.3g}: its scale "
            f"2^{-frac} is beyond 2^+-{MAX_FRAC}"
        )
    return frac


def quantize_array(values: np.ndarray, frac: int, lo: int = -128, hi: int = INT8_MAX) -> np.ndarray:
    """round(values * 2^frac) clipped to [lo, hi], as int64."""
    return np.clip(np.rint(np.asarray(values, dtype=np.float64) * 2.0**frac), lo, hi).astype(np.int64)


def float_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) in float64 without overflow warnings (e^-x is capped where sigma is 0 anyway)."""
    return 1.0 / (1.0 + np.exp(np.minimum(-np.asarray(x, dtype=np.float64), 700.0)))


def random_calibration(
    input_shape: Shape, count: int = DEFAULT_CALIBRATION_INPUTS, seed: int = DEFAULT_CALIBRATION_SEED
) -> tuple[np.ndarray, str]:
    """Seeded uniform [-1, 1) calibration inputs (count, *input_shape) and a sentence saying what they are."""
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(-1.0, 1.0, size=(count, *input_shape))
    return inputs, f"{count} seeded random inputs (uniform [-1, 1), seed {seed})"


def _input(layer: Layer, alive: dict[int, np.ndarray]) -> np.ndarray:
    """A layer's float input in (C, N, H, W) layout from the tensors still alive."""
    return gather(layer, [alive[ref] for ref in layer.sources])


def _calibrate(float_model: FloatModel, inputs: np.ndarray) -> tuple[list[_LayerStats], np.ndarray]:
    """Pass 1: float forward on the calibration batch, one layer's weights at a time; returns the per-layer
    statistics and the float outputs (N, *out_shape)."""
    layers = float_model.layers
    last = last_uses(layers)
    alive = {-1: np.moveaxis(inputs, 0, 1)}
    stats: list[_LayerStats] = []
    out = None
    for index, layer in enumerate(layers):
        if layer.has_weights:
            weight, bias = float_model.parameters(index)
            weight = np.asarray(weight, dtype=np.float64)
            bias = np.asarray(bias, dtype=np.float64)
            if weight.shape != layer.weight_shape or bias.shape != (layer.out_shape[0],):
                raise ModelError(
                    f"layer {layer.name}: float parameters have shapes {weight.shape}/"
                    f"{bias.shape}, expected {layer.weight_shape}/({layer.out_shape[0]},)"
                )
            weight_frac = frac_for(float(np.max(np.abs(weight))))
            weight_int = quantize_array(weight, weight_frac).astype(np.int8)
            acc = linear_map(layer, weight, _input(layer, alive)) + bias.reshape(-1, 1, 1, 1)
            del weight
        else:
            weight_frac, weight_int, bias = 0, None, None
            acc = linear_map(layer, None, _input(layer, alive)) / (1 << rules_of(layer).scale_bits(layer))
        if layer.residual is not None:
            acc += alive[layer.residual]
        y = np.maximum(acc, 0.0) if layer.activation == "relu" else acc
        if layer.activation == "sigmoid":
            y = float_sigmoid(acc)
        if index in float_model.clip_max:
            y = np.minimum(y, float_model.clip_max[index])
        if not np.all(np.isfinite(y)):
            raise ModelError(f"layer {layer.name}: the float model produced non-finite values")
        positive, negative = weight_sign_sums(layer, weight_int)
        stats.append(
            _LayerStats(weight_frac, weight_int, bias, positive, negative, frac_for(float(np.max(np.abs(y)))))
        )
        for ref in set(layer.reads):
            if last[ref] == index:
                del alive[ref]
        if last[index] > index:
            alive[index] = y
        out = y
    return stats, np.moveaxis(out, 1, 0)


def _choose_fracs(
    layers: list[Layer], stats: list[_LayerStats], input_frac: int, clip_max: dict[int, float]
) -> tuple[list[Layer], list[np.ndarray | None]]:
    """Pass 2: every layer's shift, fractions and integer bias, honouring the residual and table limits."""
    caps: dict[int, int] = {}
    while True:
        try:
            return _try_fracs(layers, stats, input_frac, caps, clip_max)
        except _ResidualConflict as conflict:
            source = conflict.source
            while source >= 0 and rules_of(layers[source]).keeps_range:
                source = layers[source].source
            if source < 0 or conflict.cap >= caps.get(source, conflict.cap + 1):
                raise ModelError(
                    f"cannot choose power-of-two scales that give the residual add of layer "
                    f"{conflict.consumer} a non-negative shift, its sources one scale, or its sigmoid an "
                    "input within reach of the largest shift"
                ) from None
            caps[source] = conflict.cap


class _ResidualConflict(Exception):
    """Raised inside pass 2 when a residual add needs its source's out_frac lowered to ``cap``, a
    concatenation needs one of its sources at the scale of the coarsest, or a sigmoid or a capped layer an
    input coarse enough for its q_frac or cap to be reached by the largest shift."""

    def __init__(self, consumer: str, source: int, cap: int) -> None:
        super().__init__(consumer)
        self.consumer, self.source, self.cap = consumer, source, cap


def _try_fracs(
    layers: list[Layer],
    stats: list[_LayerStats],
    input_frac: int,
    caps: dict[int, int],
    clip_max: dict[int, float],
) -> tuple[list[Layer], list[np.ndarray | None]]:
    """One attempt at pass 2 under the given out_frac caps (raises _ResidualConflict to lower a cap)."""
    chosen: list[Layer] = []
    biases: list[np.ndarray | None] = []
    for index, layer in enumerate(layers):
        stat = stats[index]
        rules = rules_of(layer)
        fracs = [input_frac if ref == -1 else chosen[ref].out_frac for ref in layer.sources]
        shared = 1 if rules.source_rule == "broadcast" else 0  # gates (or concatenated sources) share a scale
        common = min(fracs[shared:])
        for ref, frac in zip(layer.sources[shared:], fracs[shared:], strict=True):
            if frac != common:  # lower the finer one's scale to the coarsest's
                raise _ResidualConflict(layer.name, ref, common)
        in_frac = fracs[0] + common if shared else common  # a gated product multiplies x by the gates
        if layer.has_weights:
            acc_frac = in_frac + stat.weight_frac
        else:
            acc_frac = in_frac + rules.scale_bits(layer)
        check_frac(f"layer {layer.name}: accumulator fraction", acc_frac)
        residual_shift = 0
        if layer.residual is not None:
            residual_shift = acc_frac - chosen[layer.residual].out_frac
            if residual_shift < 0:
                raise _ResidualConflict(layer.name, layer.residual, acc_frac)
        bias = quantize_array(stat.bias, acc_frac, -(1 << 62), 1 << 62) if layer.has_weights else None
        if rules.keeps_range:
            source_layer = chosen[layer.source] if layer.source >= 0 else None
            layer = dataclasses.replace(
                layer,
                activation="clamp" if source_layer is None else clamp_activation(source_layer.activation),
                act_max=INPUT_RANGE[1] if source_layer is None else source_layer.act_max,
            )
            shift = 0
        elif layer.activation == "sigmoid":
            excess = acc_frac - MAX_SHIFT - sigmoid.Q_FRAC_RANGE[1]
            if excess > 0 and not shared:  # an input too fine for the largest shift: coarsen it
                raise _ResidualConflict(layer.name, layer.source, fracs[0] - excess)
            shift = min(max(acc_frac - SIGMOID_Q_FRAC, 0), MAX_SHIFT)
        elif layer.requantized:
            target = min(stat.calibrated_frac, caps.get(index, stat.calibrated_frac))
            if index in clip_max:
                target = min(target, frac_for(clip_max[index]))
            excess = acc_frac - MAX_SHIFT - target
            if excess > 0 and index in caps and layer.source >= 0:  # the cap is beyond the largest shift
                raise _ResidualConflict(layer.name, layer.source, fracs[0] - excess)
            shift = min(max(acc_frac - target, 0), MAX_SHIFT)
        else:
            shift = 0
        residual_range = value_range(chosen, layer.residual) if layer.residual is not None else None
        in_range = input_range(chosen, layer)
        while True:
            act_max = layer.act_max
            out_frac, q_frac = acc_frac - shift, 0
            if index in clip_max:
                act_max = min(int(np.rint(clip_max[index] * 2.0 ** (acc_frac - shift))), DEFAULT_ACT_MAX)
            if layer.activation == "sigmoid":
                out_frac, q_frac = _sigmoid_fracs(layer, acc_frac - shift, caps.get(index))
                act_max = sigmoid.act_max_for(out_frac)
            candidate = dataclasses.replace(
                layer,
                shift=shift,
                weight_frac=stat.weight_frac,
                out_frac=out_frac,
                residual_shift=residual_shift,
                act_max=act_max,
                q_frac=q_frac,
            )
            layer_bounds = bounds_from_sums(
                candidate, stat.positive, stat.negative, bias, in_range, residual_range
            )
            if not candidate.requantized or layer_bounds.q_bits <= MAX_Q_BITS or shift >= MAX_SHIFT:
                break
            shift += 1
        chosen.append(candidate)
        biases.append(bias)
    return chosen, biases


def _sigmoid_fracs(layer: Layer, q_frac: int, cap: int | None) -> tuple[int, int]:
    """A sigmoid layer's (out_frac, q_frac): output at 2^-7 unless a residual add caps it lower."""
    out_frac = sigmoid.MAX_OUT_FRAC if cap is None else min(sigmoid.MAX_OUT_FRAC, cap)
    low, high = sigmoid.Q_FRAC_RANGE
    if out_frac < 0 or not low <= q_frac <= high:
        raise ModelError(
            f"layer {layer.name}: cannot quantize its sigmoid: q_frac {q_frac} (within [{low}, {high}]) and "
            f"out_frac {out_frac} (at least 0) are out of reach"
        )
    return out_frac, q_frac


def quantize(
    float_model: FloatModel, calibration: np.ndarray | None = None, calibration_label: str | None = None
) -> QuantizationResult:
    """Quantize ``float_model`` with the given float calibration inputs (N, *input_shape), or by default with
    seeded random ones; check its static bounds and report its agreement with the float model."""
    if calibration is None:
        calibration, default_label = random_calibration(float_model.input_shape)
        calibration_label = calibration_label or default_label
    calibration = np.asarray(calibration, dtype=np.float64)
    expected = float_model.input_shape
    if calibration.ndim != 4 or tuple(calibration.shape[1:]) != expected or not len(calibration):
        raise ModelError(
            f"calibration inputs must have shape (N, {', '.join(map(str, expected))}), "
            f"got {tuple(calibration.shape)}"
        )
    label = calibration_label or f"{len(calibration)} given calibration inputs"
    input_frac = frac_for(float(np.max(np.abs(calibration))))
    stats, float_out = _calibrate(float_model, calibration)
    layers, biases = _choose_fracs(float_model.layers, stats, input_frac, float_model.clip_max)
    weights = [stat.weight for stat in stats]
    model = Model(float_model.name, float_model.input_shape, input_frac, layers, weights, biases)
    bounds = check_model(model)
    int_inputs = quantize_array(calibration, input_frac)
    int_out = run_batch(model, int_inputs) * 2.0 ** -layers[-1].out_frac
    flat_float = float_out.reshape(len(calibration), -1)
    flat_int = int_out.reshape(len(calibration), -1)
    agreement, per = class_agreement(flat_float, flat_int, layers[-1].out_shape)
    report = QuantizationReport(
        calibration=label,
        num_inputs=len(calibration),
        top1_agreement=agreement,
        max_abs_error=float(np.max(np.abs(flat_float - flat_int))),
        max_abs_output=float(np.max(np.abs(flat_float))),
        agreement_per=per,
    )
    return QuantizationResult(model, report, bounds, float_out)
