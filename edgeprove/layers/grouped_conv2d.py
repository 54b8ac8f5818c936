"""Grouped 2-D convolution (depthwise when every group holds one input channel): the C input and O output
channels split into G groups, and output o of group g = o // (O/G) reads only that group's C/G inputs,
a[o,i,j] = sum_{c<C/G,u,v} W[o,c,u,v] x[g C/G + c, s*i+u-p, s*j+v-p] + b[o].

From the claim a~(rho_o, rho_i, rho_j) the fold is per group: input channel c = g C/G + j gets
W_rho[c,u,v] = sum over the O/G outputs o of group g of eq(rho_o, o) W[o,j,u,v], a (C, K, K) table built
from the (O, C/G, K, K) weights directly, never a dense O x C one.  G[c,h,w] = sum_{u,v} W_rho[c,u,v] Eh_u[h]
Ew_v[w] with conv2d's shift tables, one sumcheck over the input (no im2col); the verifier evaluates
G~(gamma) from the public weights in O(weights + K (H + W)).

Model side: weights (O, C/G, K, K), G dividing both C and O, out_shape (O, H', W') as conv2d's, padding
below K; the integer map is, per kernel offset, one batched product of each group's (O/G x C/G) weights with
its channels' strided, shifted input slice.
"""

from __future__ import annotations

import numpy as np

from edgeprove import field as F
from edgeprove.layers import conv2d
from edgeprove.layers.common import FOLD_CHUNK_VALUES, Grid, prefix_eq
from edgeprove.model.bounds import row_sign_sums
from edgeprove.model.ir import Layer, ModelError, check_square_window


def fold_groups(eq: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per group g: sum_o eq[g, o] W[g, o, :] mod p, for eq (4, G, R) and small signed integer weights
    (G, R, N) -> (4, G, N).

    Exact float64 BLAS as ``common.fold_rows``: eq's limbs split into 16-bit halves keep every product below
    2^23 and every sum of R <= 2^26 of them below 2^53; groups are read in chunks of about
    FOLD_CHUNK_VALUES weights.
    """
    groups, rows, n = weights.shape
    out = np.zeros((F.EXT_DEGREE, groups, n), dtype=np.uint64)
    step = max(1, FOLD_CHUNK_VALUES // max(rows * n, 1))
    for start in range(0, groups, step):
        stop = min(groups, start + step)
        chunk = np.asarray(weights[start:stop], dtype=np.float64)  # (g, R, N)
        e = np.moveaxis(eq[:, start:stop], 0, 1)  # (g, 4, R)
        lo = (e & np.uint64(0xFFFF)).astype(np.float64)
        hi = (e >> np.uint64(16)).astype(np.float64)
        lo_sum = np.matmul(lo, chunk).astype(np.int64) % F.P  # (g, 4, N)
        hi_sum = np.matmul(hi, chunk).astype(np.int64) % F.P
        out[:, start:stop] = np.moveaxis((lo_sum + (hi_sum << 16)) % F.P, 1, 0).astype(np.uint64)
    return out


def _kernel_fold(layer: Layer, weight: np.ndarray, rho: np.ndarray):
    """W_rho (4, C, K, K) folded per group, and the shift tables."""
    rho_c, _, _ = Grid(layer.out_shape).split(rho)
    o, cg, k, _ = weight.shape
    groups = layer.groups
    eq = prefix_eq(rho_c, o).reshape(F.EXT_DEGREE, groups, o // groups)
    folded = fold_groups(eq, np.asarray(weight).reshape(groups, o // groups, cg * k * k))
    w_rho = folded.reshape(F.EXT_DEGREE, groups * cg, k, k)
    return (w_rho, *conv2d.window_shift_tables(layer, rho))


def g_factors(layer: Layer, weight: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prover's G as its factors (``conv2d.window_factors``): G itself is never built."""
    return conv2d.window_factors(layer, *_kernel_fold(layer, weight, rho))


def g_eval(layer: Layer, weight: np.ndarray, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """G~(gamma) from the public weights, in O(weights + K (H + W))."""
    return conv2d.folded_g_eval(layer, *_kernel_fold(layer, weight, rho), gamma)


working_bytes = conv2d.working_bytes
inference_bytes = conv2d.inference_bytes
out_shape = conv2d.out_shape


def weight_shape(layer: Layer) -> tuple[int, int, int, int]:
    """(O, C/G, K, K): one kernel per output channel and input channel of its group."""
    return (layer.out_shape[0], layer.in_shape[0] // layer.groups, layer.kernel, layer.kernel)


def validate(layers: list[Layer], index: int) -> None:
    """G divides the input and output channels, and padding is below the kernel."""
    layer = layers[index]
    where = f"layer {layer.name}"
    if layer.in_shape[0] % layer.groups or layer.out_shape[0] % layer.groups:
        raise ModelError(
            f"{where}: groups {layer.groups} does not divide its {layer.in_shape[0]} input and "
            f"{layer.out_shape[0]} output channels"
        )
    if layer.padding >= layer.kernel:
        raise ModelError(f"{where}: padding must be smaller than the kernel")
    check_square_window(layer)


def grouped_conv2d_sum(
    weight: np.ndarray, x: np.ndarray, groups: int, stride: int, padding: int
) -> np.ndarray:
    """Bias-free grouped convolution of a batch x (C, N, H, W) with weight (O, C/G, K, K): float64
    (O, N, H', W')."""
    out_channels, group_channels, kernel, _ = weight.shape
    _, batch, height, width = x.shape
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    per_group = out_channels // groups
    pads = ((0, 0), (0, 0), (padding, padding), (padding, padding))
    padded = np.pad(x.astype(np.float64, copy=False), pads)
    grouped = weight.reshape(groups, per_group, group_channels, kernel, kernel)
    acc = np.zeros((groups, per_group, batch * out_h * out_w), dtype=np.float64)
    for u in range(kernel):
        for v in range(kernel):
            rows = slice(u, u + stride * (out_h - 1) + 1, stride)
            cols = slice(v, v + stride * (out_w - 1) + 1, stride)
            window = padded[:, :, rows, cols].reshape(groups, group_channels, -1)
            tap = np.asarray(grouped[:, :, :, u, v], dtype=np.float64)  # one tap at a time
            if group_channels == 1:
                acc += tap[:, :, 0, None] * window
            else:
                acc += np.matmul(tap, window)
    return acc.reshape(out_channels, batch, out_h, out_w)


def evaluate(layer: Layer, weight: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The bias-free grouped convolution of a batch x (C, N, H, W), exact in float64."""
    return grouped_conv2d_sum(weight, x, layer.groups, layer.stride, layer.padding)


sign_sums = row_sign_sums


def scale_bits(layer: Layer) -> int:
    """0: the weights' fraction bits carry the scale."""
    return 0


def channel_split(layer: Layer) -> str:
    """ "channels" for a depthwise convolution (one group per input and output channel); any other grouping
    reads a group's channels for several outputs, and is not split."""
    c_in, c_out = layer.in_shape[0], layer.out_shape[0]
    return "channels" if layer.groups == c_in == c_out else "none"
