"""One module per layer kind: witness, prover, verifier and memory estimate side by side.

``g_table`` / ``g_eval`` dispatch a layer's linear map to its module, each with the same signature: every
linear map (dense, conv2d, average and global pools) reduces a claim on its accumulator to
sum_x x(x) G(x) over its input grid.
"""

from __future__ import annotations

import numpy as np

from edgeprove import field as F
from edgeprove.layers import avgpool, conv2d, dense, global_avgpool
from edgeprove.layers.common import Grid, mask_eval, prefix_eq

_LINEAR_MAPS = {"conv2d": conv2d, "dense": dense, "avgpool": avgpool, "global_avgpool": global_avgpool}


def _linear_map(layer):
    if layer.kind not in _LINEAR_MAPS:
        raise ValueError(f"layer {layer.name}: unsupported kind {layer.kind!r}")
    return _LINEAR_MAPS[layer.kind]


def g_table(layer, weight, rho: np.ndarray) -> np.ndarray:
    """The prover's G for ``layer`` at the output point rho."""
    return _linear_map(layer).g_table(layer, weight, rho)


def g_eval(layer, weight, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """The verifier's G~(gamma) for ``layer``, from public weights."""
    return _linear_map(layer).g_eval(layer, weight, rho, gamma)


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
    return _linear_map(layer).working_bytes(layer)
