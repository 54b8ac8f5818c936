"""One module per layer kind: witness, prover, verifier and memory estimate side by side.

``g_table`` / ``g_eval`` dispatch a layer's linear map to its module: every linear map (dense, conv2d,
average and global pools) reduces a claim on its accumulator to sum_x x(x) G(x) over its input grid.
"""

from __future__ import annotations

import numpy as np

from edgeprove import field as F
from edgeprove.layers import conv2d, dense, pool
from edgeprove.layers.common import Grid, mask_eval, prefix_eq

LINEAR_KINDS = ("conv2d", "dense", "avgpool", "global_avgpool")


def g_table(layer, weight, rho: np.ndarray) -> np.ndarray:
    """The prover's G for ``layer`` at the output point rho."""
    in_grid, out_grid = Grid(layer.in_shape), Grid(layer.out_shape)
    if layer.kind == "conv2d":
        return conv2d.g_table(layer, in_grid, out_grid, weight, rho)
    if layer.kind == "dense":
        return dense.g_table(in_grid, out_grid, weight, rho)
    if layer.kind in ("avgpool", "global_avgpool"):
        return pool.g_table(layer, in_grid, out_grid, rho)
    raise ValueError(f"layer {layer.name}: unsupported kind {layer.kind!r}")


def g_eval(layer, weight, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """The verifier's G~(gamma) for ``layer``, from public weights."""
    in_grid, out_grid = Grid(layer.in_shape), Grid(layer.out_shape)
    if layer.kind == "conv2d":
        return conv2d.g_eval(layer, in_grid, out_grid, weight, rho, gamma)
    if layer.kind == "dense":
        return dense.g_eval(in_grid, out_grid, weight, rho, gamma)
    if layer.kind in ("avgpool", "global_avgpool"):
        return pool.g_eval(layer, in_grid, out_grid, rho, gamma)
    raise ValueError(f"layer {layer.name}: unsupported kind {layer.kind!r}")


def bias_eval(layer, bias, rho: np.ndarray) -> np.ndarray:
    """MLE at rho of the bias broadcast over the valid output positions: b~(rho_c) V_h(rho_h) V_w(rho_w)."""
    if bias is None:
        return F.ext_zeros()
    out_grid = Grid(layer.out_shape)
    rho_c, rho_h, rho_w = out_grid.split(rho)
    b = F.ext_inner(F.asbase(np.asarray(bias, dtype=np.int64)), prefix_eq(rho_c, out_grid.shape[0]))
    hw = Grid((1, out_grid.shape[1], out_grid.shape[2]))
    return F.ext_mul(b, mask_eval(hw, np.concatenate([rho_h, rho_w], axis=1)))


def working_bytes(layer) -> int:
    """Predicted bytes of the linear reduction's own tables for ``layer``."""
    in_grid, out_grid = Grid(layer.in_shape), Grid(layer.out_shape)
    if layer.kind == "conv2d":
        return conv2d.working_bytes(in_grid, layer.kernel)
    if layer.kind == "dense":
        return dense.working_bytes(in_grid, out_grid)
    return pool.working_bytes(in_grid)
