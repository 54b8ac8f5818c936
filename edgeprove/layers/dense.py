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


def g_table(in_grid: Grid, out_grid: Grid, weight: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """The prover's G on the padded input grid for the output point rho (output grid is (O, 1, 1))."""
    rho_c, _, _ = out_grid.split(rho)
    folded = fold_rows(prefix_eq(rho_c, out_grid.shape[0]), weight)
    table = F.ext_zeros(in_grid.size)
    table[:, in_grid.flat_index()] = folded
    return table


def g_eval(
    in_grid: Grid, out_grid: Grid, weight: np.ndarray, rho: np.ndarray, gamma: np.ndarray
) -> np.ndarray:
    """G~(gamma) from the public weights, O(weights)."""
    rho_c, _, _ = out_grid.split(rho)
    folded = fold_rows(prefix_eq(rho_c, out_grid.shape[0]), weight)
    return F.ext_inner(folded, poly.eq_table(gamma)[:, in_grid.flat_index()])


def working_bytes(in_grid: Grid, out_grid: Grid) -> int:
    """Bytes the layer's reduction holds beyond the activations: G and its sumcheck folds (K tables)."""
    return 8 * F.EXT_DEGREE * (2 * in_grid.size + in_grid.shape[0] * in_grid.shape[1] * in_grid.shape[2])
