"""Average pool (window sum over k x k, stride k) and global average pool (sum over H x W).

Both are linear sums with no weights: G[c,h,w] = eq(rho_c, c) [c < C] * Eh[h] * Ew[w] with
Eh[h] = sum_u Eh_u[h] (the conv shift tables summed over the window), so G~(gamma) is separable and the
verifier evaluates it in O(C + H + W).  The division by the window size is part of the requant shift.
"""

from __future__ import annotations

import numpy as np

from edgeprove import field as F
from edgeprove import poly
from edgeprove.layers.common import Grid, prefix_eq
from edgeprove.layers.conv2d import shift_tables


def window(layer) -> tuple[int, int]:
    """(kernel_h, kernel_w) of the pooling window; global pooling covers the whole input."""
    if layer.kind == "global_avgpool":
        return layer.in_shape[1], layer.in_shape[2]
    return layer.kernel, layer.kernel


def _factors(layer, out_grid: Grid, rho: np.ndarray):
    rho_c, rho_h, rho_w = out_grid.split(rho)
    kh, kw = window(layer)
    c, in_h, in_w = layer.in_shape
    eh = F.ext_sum(shift_tables(rho_h, out_grid.shape[1], in_h, kh, kh, 0), axis=0)
    ew = F.ext_sum(shift_tables(rho_w, out_grid.shape[2], in_w, kw, kw, 0), axis=0)
    return prefix_eq(rho_c, c), eh, ew


def g_table(layer, in_grid: Grid, out_grid: Grid, rho: np.ndarray) -> np.ndarray:
    """The prover's G on the padded input grid."""
    eq_c, eh, ew = _factors(layer, out_grid, rho)
    cp, hp, wp = in_grid.padded
    g = F.ext_zeros((cp, hp, wp))
    g[:, : eq_c.shape[1]] = F.ext_mul(
        F.ext_mul(eq_c[:, :, None, None], eh[:, None, :, None]), ew[:, None, None, :]
    )
    return g.reshape(F.EXT_DEGREE, -1)


def g_eval(layer, in_grid: Grid, out_grid: Grid, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """G~(gamma), separable per axis."""
    eq_c, eh, ew = _factors(layer, out_grid, rho)
    g_c, g_h, g_w = in_grid.split(gamma)
    out = F.ext_inner(eq_c, prefix_eq(g_c, eq_c.shape[1]))
    out = F.ext_mul(out, F.ext_inner(eh, poly.eq_table(g_h)))
    return F.ext_mul(out, F.ext_inner(ew, poly.eq_table(g_w)))


def working_bytes(in_grid: Grid) -> int:
    """Bytes of G and its sumcheck folds."""
    return 8 * F.EXT_DEGREE * in_grid.size * 2
