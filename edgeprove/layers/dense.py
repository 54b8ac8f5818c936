"""Dense layer a[o] = sum_i W[o,i] x[i] + b[o], reduced to one degree-2 sumcheck over the input.

G(x) = sum_o eq(rho, o) W[o, i(x)] is the eq-weighted fold of the weight rows, laid out on the padded
(c, h, w) grid of the input (so a flatten before the layer is free).  The verifier recomputes the same
fold from the public weights and evaluates it at gamma.

Model side: weights (O, C*H*W), out_shape (O, 1, 1), no window; the integer map is one GEMM over the input
flattened in C order, the weights converted to float64 in row chunks.
"""

from __future__ import annotations

import math

import numpy as np

from edgeprove import field as F
from edgeprove import poly
from edgeprove.layers.common import (
    K_BYTES,
    Grid,
    channel_part,
    fold_rows,
    prefix_eq,
    separable_linear_bytes,
)
from edgeprove.model.bounds import row_sign_sums
from edgeprove.model.ir import Layer, Shape, check_no_window

CHUNK_ELEMENTS = 1 << 19
"""Weights are converted to float64 in row chunks of about this many entries (4 MiB; larger chunks gain no
speed)."""


def weight_shape(layer: Layer) -> tuple[int, int]:
    """(O, C*H*W): one row of weights per output."""
    return (layer.out_shape[0], math.prod(layer.in_shape))


def out_shape(layer: Layer) -> Shape:
    """(O, 1, 1): a vector of outputs."""
    return (layer.out_shape[0], 1, 1)


def validate(layers: list[Layer], index: int) -> None:
    """No kernel, stride or padding."""
    check_no_window(layers[index])


def dense_sum(weight: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Bias-free dense map of a batch x (C, N, H, W) flattened per sample in C order: float64 (O, N, 1, 1)."""
    out_features, in_features = weight.shape
    batch = x.shape[1]
    flat = np.ascontiguousarray(np.moveaxis(x, 1, 0).reshape(batch, in_features), dtype=np.float64)
    out = np.empty((out_features, batch), dtype=np.float64)
    rows = max(1, CHUNK_ELEMENTS // in_features)
    for start in range(0, out_features, rows):
        block = np.asarray(weight[start : start + rows], dtype=np.float64)
        out[start : start + rows] = block @ flat.T
        del block  # one float chunk at a time: the next is not built beside it
    return out.reshape(out_features, batch, 1, 1)


def evaluate(layer: Layer, weight: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The bias-free dense map of a batch x (C, N, H, W), exact in float64."""
    return dense_sum(weight, x)


sign_sums = row_sign_sums


def scale_bits(layer: Layer) -> int:
    """0: the weights' fraction bits carry the scale."""
    return 0


def channel_split(layer: Layer) -> str:
    """ "rows": a block of outputs is the map by those rows of the weights."""
    return "rows"


def _folded(layer: Layer, weight: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """sum_o eq(rho, o) W[o, :], shape (4, C*H*W)."""
    out_grid = Grid(layer.out_shape)
    rho_c, _, _ = out_grid.split(rho)
    return fold_rows(prefix_eq(rho_c, out_grid.shape[0]), weight)


def g_factors(layer: Layer, weight: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prover's G for the output point rho (output grid (O, 1, 1)) as factors with the identity for Ew:
    A[c, v, h] = G[c, h, v] (the eq-weighted fold of the weight rows) and Ew[v, w] = [v == w]."""
    c, h, w = layer.in_shape
    _, hp, wp = Grid(layer.in_shape).padded
    a = F.ext_zeros((c, w, hp))
    a[..., :h] = _folded(layer, weight, rho).reshape(F.EXT_DEGREE, c, h, w).transpose(0, 1, 3, 2)
    identity = F.ext_zeros((w, wp))
    identity[0, np.arange(w), np.arange(w)] = 1
    return a, identity


def g_eval(layer: Layer, weight: np.ndarray, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """G~(gamma) from the public weights, O(weights)."""
    in_grid = Grid(layer.in_shape)
    return F.ext_inner(_folded(layer, weight, rho), poly.eq_table(gamma)[:, in_grid.flat_index()])


def source_part(layer: Layer, weight: np.ndarray, lo: int, hi: int) -> tuple[Layer, np.ndarray]:
    """The dense map over input channels [lo, hi) alone: its layer and the weight columns of those
    channels (the input is flattened channel-major, so they are contiguous)."""
    _, h, w = layer.in_shape
    return channel_part(layer, lo, hi), weight[:, lo * h * w : hi * h * w]


def working_bytes(layer: Layer) -> int:
    """The separable linear sumcheck's tables (``common.separable_linear_bytes``, K_w the input's width)
    and the folded weight rows."""
    in_grid = Grid(layer.in_shape)
    values = in_grid.shape[0] * in_grid.shape[1] * in_grid.shape[2]
    return separable_linear_bytes(in_grid, in_grid.shape[2]) + K_BYTES * values


def inference_bytes(layer: Layer) -> int:
    """Transient bytes of computing the accumulator: the weights are read as float64 chunks (at most
    ``CHUNK_ELEMENTS`` values) and their memory-mapped int8 pages are resident while they are folded."""
    weights = layer.out_shape[0] * layer.in_shape[0] * layer.in_shape[1] * layer.in_shape[2]
    return 8 * min(weights, CHUNK_ELEMENTS) + weights
