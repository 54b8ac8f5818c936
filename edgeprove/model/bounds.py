"""Static bounds: interval arithmetic over every accumulator, so a model that could wrap mod p is refused.

Signed integers live in BabyBear as v mod p, which is only sound while every accumulator (plus the rounding
offset 2^(s-1)) stays within (p-1)/2 in magnitude.  Input ranges come from the activations (model input
[-128, 127], relu [0, act_max], clamp [-128, act_max]; a maxpool keeps its input's range; a layer reading
several sources takes the union of their ranges); per output
channel the accumulator is bounded by the positive and negative weight parts separately, plus the bias and
the residual term.  The proof's activation lookup
table has 2^q_bits rows and its remainder table 2^shift rows, so both are capped at 16 bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeprove.field import HALF
from edgeprove.model.ir import Layer, Model, ModelOverflowError, input_range, value_range
from edgeprove.model.kinds import rules_of

MAX_Q_BITS = 16
"""Largest q_bits a requantized layer may need (activation table of 2^16 rows)."""
MAX_SHIFT = 16
"""Largest requantization shift (remainder range table of 2^16 rows)."""
MAX_BIAS = 1 << 62
"""Largest |bias| taken into the bound arithmetic (far beyond the field anyway): with the IR's ceilings on
weights and shifts it keeps every int64 sum below exact, so a hostile bias cannot wrap the check."""


@dataclass(frozen=True)
class LayerBounds:
    """Static range of a layer's accumulator and of its requantized q (q = a for activation "none")."""

    acc_min: int
    acc_max: int
    q_min: int
    q_max: int
    q_bits: int


def weight_sign_sums(layer: Layer, weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel: the sum of the positive and of the negative coefficients of the layer's map, as
    its kind defines them."""
    return rules_of(layer).sign_sums(layer, weight)


def row_sign_sums(layer: Layer, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sign sums of a weighted map: each output channel's weights split into positive and negative parts."""
    rows = np.asarray(weight).reshape(layer.out_shape[0], -1)
    return (
        np.maximum(rows, 0).sum(axis=1, dtype=np.int64),
        np.minimum(rows, 0).sum(axis=1, dtype=np.int64),
    )


def window_sign_sums(layer: Layer, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sign sums of a map whose every output is the sum of ``window`` inputs (1: one of its inputs)."""
    channels = layer.out_shape[0]
    return np.full(channels, window, dtype=np.int64), np.zeros(channels, dtype=np.int64)


def q_bits_for(q_min: int, q_max: int) -> int:
    """Smallest b with -2^(b-1) <= q_min and q_max < 2^(b-1)."""
    return 1 + max(max(q_max, 0).bit_length(), max(-q_min - 1, 0).bit_length())


def bounds_from_sums(
    layer: Layer,
    positive: np.ndarray,
    negative: np.ndarray,
    bias: np.ndarray | None,
    in_range: tuple[int, int],
    residual_range: tuple[int, int] | None,
) -> LayerBounds:
    """LayerBounds from per-channel weight sign sums, the bias, the input range and the residual's range."""
    if bias is not None and bias.size and (int(np.min(bias)) < -MAX_BIAS or int(np.max(bias)) > MAX_BIAS):
        raise ModelOverflowError(f"layer {layer.name}: a bias beyond 2^62 exceeds the field's signed range")
    lo, hi = in_range
    acc_max = positive * hi + negative * lo
    acc_min = positive * lo + negative * hi
    if bias is not None:
        acc_max = acc_max + bias
        acc_min = acc_min + bias
    if residual_range is not None:
        low_skip, high_skip = (value << layer.residual_shift for value in residual_range)
        if max(-low_skip, high_skip) > MAX_BIAS:
            raise ModelOverflowError(f"layer {layer.name}: the shifted residual exceeds the field's range")
        acc_min = acc_min + low_skip
        acc_max = acc_max + high_skip
    low, high = int(np.min(acc_min)), int(np.max(acc_max))
    if layer.requantized:
        offset = (1 << (layer.shift - 1)) if layer.shift >= 1 else 0
        q_low, q_high = (low + offset) >> layer.shift, (high + offset) >> layer.shift
    else:
        q_low, q_high = low, high
    return LayerBounds(low, high, q_low, q_high, q_bits_for(q_low, q_high))


def layer_bounds(model: Model, index: int) -> LayerBounds:
    """Static bounds of one layer of an integer model."""
    layer = model.layers[index]
    weight = model.weight(index) if layer.has_weights else None
    positive, negative = weight_sign_sums(layer, weight)
    bias = model.bias(index) if layer.has_weights else None
    residual = value_range(model.layers, layer.residual) if layer.residual is not None else None
    in_range = input_range(model.layers, layer)
    return bounds_from_sums(layer, positive, negative, bias, in_range, residual)


def check_layer(layer: Layer, bounds: LayerBounds) -> None:
    """Refuse a layer whose accumulator could leave the field's signed range, or whose tables are too big."""
    offset = (1 << (layer.shift - 1)) if layer.requantized and layer.shift >= 1 else 0
    magnitude = max(abs(bounds.acc_min), abs(bounds.acc_max)) + offset
    if magnitude > HALF:
        raise ModelOverflowError(
            f"layer {layer.name}: accumulator bound 2^{math.log2(magnitude):.1f} "
            f"exceeds the field's signed range (p-1)/2 = {HALF}"
        )
    if layer.requantized and layer.shift > MAX_SHIFT:
        raise ModelOverflowError(f"layer {layer.name}: shift {layer.shift} exceeds the maximum {MAX_SHIFT}")
    if layer.requantized and bounds.q_bits > MAX_Q_BITS:
        raise ModelOverflowError(
            f"layer {layer.name}: requantized values need {bounds.q_bits} bits, "
            f"more than the {MAX_Q_BITS}-bit activation table allows"
        )


def model_bounds(model: Model) -> list[LayerBounds]:
    """Static bounds of every layer, in order."""
    return [layer_bounds(model, index) for index in range(len(model.layers))]


def check_model(model: Model) -> list[LayerBounds]:
    """Check every layer (raising ModelOverflowError naming the first bad one) and return all bounds."""
    all_bounds = model_bounds(model)
    for layer, bounds in zip(model.layers, all_bounds, strict=True):
        check_layer(layer, bounds)
    return all_bounds
