"""Average pool: a window sum over k x k with stride k (the division by k^2 is part of the requant shift).

A linear sum with no weights: G[c,h,w] = eq(rho_c, c) [c < C] * Eh[h] * Ew[w] with Eh[h] = sum_u Eh_u[h]
(the conv shift tables summed over the window), so G~(gamma) is separable and the verifier evaluates it in
O(C + H + W).  ``global_avgpool`` is the same sum with the window covering the whole input.

Model side: no weights, stride equal to the kernel and no padding, out_shape (C, H // k, W // k) (trailing
rows and columns dropped); k^2 must be a power of two, since the division is a shift: the integer map is the
window sum, log2(k^2) fraction bits above the float mean.
"""

from __future__ import annotations

import numpy as np

from edgeprove import field as F
from edgeprove import poly
from edgeprove.layers.common import Grid, prefix_eq
from edgeprove.layers.conv2d import shift_tables
from edgeprove.model.bounds import window_sign_sums
from edgeprove.model.ir import Layer, ModelError, Shape, check_no_groups, is_pow2


def _factors(layer: Layer, window: tuple[int, int], rho: np.ndarray):
    out_grid = Grid(layer.out_shape)
    rho_c, rho_h, rho_w = out_grid.split(rho)
    kh, kw = window
    c, in_h, in_w = layer.in_shape
    eh = F.ext_sum(shift_tables(rho_h, out_grid.shape[1], in_h, kh, kh, 0), axis=0)
    ew = F.ext_sum(shift_tables(rho_w, out_grid.shape[2], in_w, kw, kw, 0), axis=0)
    return prefix_eq(rho_c, c), eh, ew


def window_g_table(layer: Layer, window: tuple[int, int], rho: np.ndarray) -> np.ndarray:
    """G on the padded input grid of a (kernel_h, kernel_w) window sum with stride equal to the window."""
    eq_c, eh, ew = _factors(layer, window, rho)
    cp, hp, wp = Grid(layer.in_shape).padded
    g = F.ext_zeros((cp, hp, wp))
    g[:, : eq_c.shape[1]] = F.ext_mul(
        F.ext_mul(eq_c[:, :, None, None], eh[:, None, :, None]), ew[:, None, None, :]
    )
    return g.reshape(F.EXT_DEGREE, -1)


def window_g_eval(layer: Layer, window: tuple[int, int], rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """G~(gamma) of the same window sum, separable per axis."""
    eq_c, eh, ew = _factors(layer, window, rho)
    g_c, g_h, g_w = Grid(layer.in_shape).split(gamma)
    out = F.ext_inner(eq_c, prefix_eq(g_c, eq_c.shape[1]))
    out = F.ext_mul(out, F.ext_inner(eh, poly.eq_table(g_h)))
    return F.ext_mul(out, F.ext_inner(ew, poly.eq_table(g_w)))


def g_table(layer: Layer, weight: None, rho: np.ndarray) -> np.ndarray:
    """The prover's G on the padded input grid (a pool has no weight)."""
    return window_g_table(layer, (layer.kernel, layer.kernel), rho)


def g_eval(layer: Layer, weight: None, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """G~(gamma), separable per axis."""
    return window_g_eval(layer, (layer.kernel, layer.kernel), rho, gamma)


def working_bytes(layer: Layer) -> int:
    """Bytes of G and its sumcheck folds."""
    return 8 * F.EXT_DEGREE * Grid(layer.in_shape).size * 2


def inference_bytes(layer: Layer) -> int:
    """No transient beyond the tensors the planner already counts."""
    return 0


def weight_shape(layer: Layer) -> None:
    """None: a pool has no weights."""
    return None


def out_shape(layer: Layer) -> Shape:
    """(C, H // k, W // k)."""
    c, h, w = layer.in_shape
    return (c, h // layer.kernel, w // layer.kernel)


def validate(layers: list[Layer], index: int) -> None:
    """Stride equal to the kernel, no padding, and a power-of-two window (its division is a shift)."""
    layer = layers[index]
    where = f"layer {layer.name}"
    if layer.stride != layer.kernel or layer.padding != 0:
        raise ModelError(f"{where}: avgpool needs stride == kernel and padding 0")
    check_no_groups(layer)
    if not is_pow2(layer.kernel * layer.kernel):
        raise ModelError(
            f"{where}: avgpool kernel {layer.kernel} is not a power of two (its division must be a shift)"
        )


def window_sum(x: np.ndarray, kernel: int) -> np.ndarray:
    """Sum over non-overlapping kernel x kernel windows (stride == kernel, trailing rows/columns dropped)."""
    channels, batch, height, width = x.shape
    out_h, out_w = height // kernel, width // kernel
    cropped = x[:, :, : out_h * kernel, : out_w * kernel]
    return cropped.reshape(channels, batch, out_h, kernel, out_w, kernel).sum(axis=(3, 5))


def evaluate(layer: Layer, weight: None, x: np.ndarray) -> np.ndarray:
    """The window sums of a batch x (C, N, H, W), in float64."""
    return window_sum(x.astype(np.float64, copy=False), layer.kernel)


def sign_sums(layer: Layer, weight: None) -> tuple[np.ndarray, np.ndarray]:
    """Every output sums k^2 inputs with coefficient 1."""
    return window_sign_sums(layer, layer.kernel * layer.kernel)


def scale_bits(layer: Layer) -> int:
    """log2(k^2): the window sum is the mean times k^2."""
    return (layer.kernel * layer.kernel).bit_length() - 1
