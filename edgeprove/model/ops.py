"""Exact integer semantics of the IR, computed with whole-array numpy and at most about one layer in memory.

Each kind's map lives in its module under ``edgeprove.layers`` (``evaluate``) and runs in float64 on
integer-valued arrays, which is exact: every product of an int8 weight and an int8 activation is below 2^14
in magnitude and every sum stays far below 2^53.  Internally activations carry a batch axis in (C, N, H, W)
layout so that one GEMM serves many inputs (the quantizer's calibration uses this with float weights).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from edgeprove.model import sigmoid
from edgeprove.model.ir import INPUT_RANGE, Layer, Model, ModelError, activation_range, last_uses
from edgeprove.model.kinds import rules_of


def linear_map(layer: Layer, weight: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    """The layer's map before bias and residual on a batch x (C, N, H, W), in float64, as its kind defines
    it (a linear map, or max pooling's window maximum, which takes the same place in the pipeline)."""
    return rules_of(layer).evaluate(layer, weight, x)


def upsampled(x: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upsampling of the last two axes (H, W) by ``factor``: x_up[.., f*i+a, f*j+b] =
    x[.., i, j]."""
    if factor == 1:
        return x
    return np.repeat(np.repeat(x, factor, axis=-2), factor, axis=-1)


def gather(layer: Layer, tensors: list[np.ndarray]) -> np.ndarray:
    """The layer's input from its sources' tensors (in ``layer.sources`` order, channels first, batched or
    not): each upsampled by its factor, then concatenated along channels; for a kind that broadcasts its
    sources, each broadcast to the first one's shape first.  Integers from several sources are gathered in
    the narrowest type that holds them (activations are int8: an eighth of int64's bytes)."""
    parts = [upsampled(np.asarray(t), f) for t, f in zip(tensors, layer.factors, strict=True)]
    if len(parts) == 1:
        return parts[0]
    dtype = narrowest_type(parts)
    if rules_of(layer).source_rule == "broadcast":
        parts = [parts[0]] + [np.broadcast_to(part, parts[0].shape) for part in parts[1:]]
    return np.concatenate(parts, axis=0, dtype=dtype)


def compact(values: np.ndarray) -> np.ndarray:
    """Integers in the narrowest type that holds them (the array itself when it already is)."""
    if values.dtype == np.int8:
        return values
    return values.astype(narrowest_type([values]), copy=False)


def narrowest_type(arrays: list[np.ndarray]) -> np.dtype:
    """The smallest signed integer type holding every value of integer arrays (their common type
    otherwise)."""
    common = np.result_type(*arrays)
    if common.kind not in "iu" or not all(a.size for a in arrays):
        return common
    return integer_type(min(int(a.min()) for a in arrays), max(int(a.max()) for a in arrays), common)


def integer_type(lo: int, hi: int, wider: np.dtype = np.dtype(np.int64)) -> np.dtype:
    """The smallest of int8, int16, int32 holding [lo, hi], else ``wider``: the type the prover keeps such
    values in, and the planner counts."""
    for candidate in (np.int8, np.int16, np.int32):
        info = np.iinfo(candidate)
        if info.min <= lo and hi <= info.max:
            return np.dtype(candidate)
    return wider


def linear_batch(model: Model, index: int, x: np.ndarray, skip: np.ndarray | None = None) -> np.ndarray:
    """Accumulators (int64, (O, N, H', W')) of layer ``index`` for a batch x in (C, N, H, W) layout (its
    input as ``gather`` makes it from its sources)."""
    layer = model.layers[index]
    weight = model.weight(index) if layer.has_weights else None
    acc = np.rint(linear_map(layer, weight, x)).astype(np.int64)
    if layer.has_weights:
        acc += model.bias(index).reshape(-1, 1, 1, 1)
    if layer.residual is not None:
        if skip is None:
            raise ModelError(f"layer {layer.name}: needs the output of {model.layers[layer.residual].name}")
        acc += np.asarray(skip, dtype=np.int64) << layer.residual_shift
    return acc


def linear(model: Model, index: int, x: np.ndarray, skip: np.ndarray | None = None) -> np.ndarray:
    """Accumulator a (int64, out_shape) of layer ``index`` from its input y ``x`` and residual y ``skip``."""
    batch_skip = None if skip is None else np.asarray(skip)[:, None]
    return linear_batch(model, index, np.asarray(x)[:, None], batch_skip)[:, 0]


def activate(layer: Layer, q: np.ndarray) -> np.ndarray:
    """y from the requantized q: clamp(q, lo, act_max), or the integer sigmoid (``model.sigmoid``)."""
    if layer.activation == "sigmoid":
        return sigmoid.sigmoid(q, layer.out_frac, layer.q_frac)
    lo, hi = activation_range(layer)
    return np.clip(q, lo, hi)


def requantize(layer: Layer, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Requantize: (q, r, y) with a + 2^(s-1) = q*2^s + r, 0 <= r < 2^s and y = ``activate(layer, q)``."""
    if not layer.requantized:
        raise ModelError(f"layer {layer.name}: activation 'none' has no requantization")
    shift = layer.shift
    offset = (1 << (shift - 1)) if shift >= 1 else 0
    r = np.asarray(a, dtype=np.int64) + offset
    q = r >> shift
    r -= q << shift
    return q, r, activate(layer, q)


def check_input(model: Model, x: np.ndarray, batched: bool = False) -> np.ndarray:
    """Return x as int64 if it is an integer array of the model's input shape (with a leading batch axis when
    ``batched``) and every value lies in [-128, 127]; otherwise raise ModelError."""
    x = np.asarray(x)
    shape = tuple(x.shape[1:]) if batched else tuple(x.shape)
    if shape != tuple(model.input_shape) or (batched and x.shape[0] == 0):
        what = "a non-empty batch (N, C, H, W) of inputs" if batched else "an input"
        raise ModelError(f"expected {what} of shape {tuple(model.input_shape)}, got {tuple(x.shape)}")
    if x.dtype.kind not in "iu":
        raise ModelError(f"input must be an integer array, got {x.dtype}")
    if x.min() < INPUT_RANGE[0] or x.max() > INPUT_RANGE[1]:
        raise ModelError("input values must be int8, in [-128, 127]")
    return x.astype(np.int64)


def forward_batch(
    model: Model, xs: np.ndarray
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]]:
    """``forward`` on a batch xs (C, N, H, W) of int inputs: every yielded tensor has the batch as axis 1.
    Outputs kept for a later reader are kept in the narrowest integer type (an activation is int8)."""
    last = last_uses(model.layers)
    alive: dict[int, np.ndarray] = {-1: compact(np.asarray(xs, dtype=np.int64))}
    for index, layer in enumerate(model.layers):
        skip = alive[layer.residual] if layer.residual is not None else None
        a = linear_batch(model, index, gather(layer, [alive[ref] for ref in layer.sources]), skip)
        if layer.requantized:
            q, r, y = requantize(layer, a)
        else:
            q, r, y = None, None, a
        for ref in set(layer.reads):
            if last[ref] == index:
                del alive[ref]
        if last[index] > index:
            alive[index] = compact(y)
        yield index, a, q, r, y
        del a, q, r, y, skip  # not held while the next layer is computed


def forward(
    model: Model, x: np.ndarray
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]]:
    """Run the model layer by layer, yielding (index, a, q, r, y) and keeping only tensors still needed.

    For the last layer with activation "none", q and r are None and y is the accumulator a.
    """
    for index, a, q, r, y in forward_batch(model, check_input(model, x)[:, None]):
        yield index, a[:, 0], None if q is None else q[:, 0], None if r is None else r[:, 0], y[:, 0]
        del a, q, r, y  # not held while the next layer is computed


def run_batch(model: Model, xs: np.ndarray) -> np.ndarray:
    """Integer outputs (N, *out_shape) for a batch xs (N, *input_shape) of int8-range inputs."""
    out = None
    for _, _, _, _, y in forward_batch(model, np.moveaxis(check_input(model, xs, batched=True), 0, 1)):
        out = y
    return np.moveaxis(out, 1, 0)


def run(model: Model, x: np.ndarray) -> np.ndarray:
    """The model's integer output (the last layer's y, or its accumulator for activation "none")."""
    out = None
    for _, _, _, _, y in forward(model, x):
        out = y
    return out


def dequantize(model: Model, out: np.ndarray) -> np.ndarray:
    """The float value of the model's output: out / 2^out_frac of the last layer."""
    return np.asarray(out, dtype=np.float64) * 2.0 ** -model.layers[-1].out_frac
