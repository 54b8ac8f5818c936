"""Dense layer a[o] = sum_i W[o,i] x[i] + b[o], reduced to one degree-2 sumcheck over the input.

G(x) = sum_o eq(rho, o) W[o, i(x)] is the eq-weighted fold of the weight rows, laid out on the padded
(c, h, w) grid of the input (so a flatten before the layer is free).  The verifier recomputes the same
fold from the public weights and evaluates it at gamma.
"""

from __future__ import annotations

import numpy as np

from edgeprove import field as F
from edgeprove import poly
from edgeprove.layers.common import Grid, fold_rows, prefix_eq
from edgeprove.model.ir import Layer


def _folded(layer: Layer, weight: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """sum_o eq(rho, o) W[o, :], shape (4, C*H*W)."""
    out_grid = Grid(layer.out_shape)
    rho_c, _, _ = out_grid.split(rho)
    return fold_rows(prefix_eq(rho_c, out_grid.shape[0]), weight)


def g_table(layer: Layer, weight: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """The prover's G on the padded input grid for the output point rho (output grid is (O, 1, 1))."""
    in_grid = Grid(layer.in_shape)
    table = F.ext_zeros(in_grid.size)
    table[:, in_grid.flat_index()] = _folded(layer, weight, rho)
    return table


def g_eval(layer: Layer, weight: np.ndarray, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """G~(gamma) from the public weights, O(weights)."""
    in_grid = Grid(layer.in_shape)
    return F.ext_inner(_folded(layer, weight, rho), poly.eq_table(gamma)[:, in_grid.flat_index()])


def working_bytes(layer: Layer) -> int:
    """Bytes the layer's reduction holds beyond the activations: G and its sumcheck folds (K tables)."""
    in_grid = Grid(layer.in_shape)
    return 8 * F.EXT_DEGREE * (2 * in_grid.size + in_grid.shape[0] * in_grid.shape[1] * in_grid.shape[2])


def inference_bytes(layer: Layer) -> int:
    """Transient bytes of computing the accumulator: the weights are read as float64 chunks (at most 2^21
    values) and their memory-mapped int8 pages are resident while they are folded."""
    weights = layer.out_shape[0] * layer.in_shape[0] * layer.in_shape[1] * layer.in_shape[2]
    return 8 * min(weights, 1 << 21) + weights
