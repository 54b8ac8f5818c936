"""2-D convolution a[o,i,j] = sum_{c,u,v} W[o,c,u,v] x[c, s*i+u-p, s*j+v-p] + b[o] (stride s, padding p).

From the claim a~(rho_o, rho_i, rho_j): W_rho[c,u,v] = sum_o eq(rho_o, o) W[o,c,u,v], and the separable
shift tables Eh_u[h] = sum_{i valid, s*i+u-p = h} eq(rho_i, i) (likewise Ew_v) give
G[c,h,w] = sum_{u,v} W_rho[c,u,v] Eh_u[h] Ew_v[w]; then a~(rho) - bias = sum_x x(x) G(x) (one sumcheck,
no im2col).  With public weights the verifier evaluates G~(gamma) in O(weights + K (H + W)).

Model side: weights (O, C, K, K), out_shape (O, H', W') with H' = (H + 2p - K) // s + 1, padding below K;
the integer map is the sum over the K*K kernel offsets of a GEMM of W[:, :, u, v] (O x C) with the strided,
shifted input slice (no im2col matrix is ever built either).
"""

from __future__ import annotations

import numpy as np

from edgeprove import field as F
from edgeprove import poly
from edgeprove.layers.common import Grid, channel_part, fold_rows, prefix_eq, separable_linear_bytes
from edgeprove.model.bounds import row_sign_sums
from edgeprove.model.ir import Layer, ModelError, Shape, check_no_groups, check_square_window, conv_out_size


def shift_tables(
    rho_axis: np.ndarray, out_len: int, in_len: int, kernel: int, stride: int, padding: int
) -> np.ndarray:
    """E[u, h] = sum over valid output positions i with stride*i + u - padding == h of eq(rho, i).

    Shape (4, kernel, in_len padded to a power of two); positions falling into the zero padding vanish.
    """
    eq = prefix_eq(rho_axis, out_len)
    table = F.ext_zeros((kernel, poly.next_pow2(in_len)))
    i = np.arange(out_len)
    for u in range(kernel):
        h = stride * i + u - padding
        ok = (h >= 0) & (h < in_len)
        table[:, u, h[ok]] = eq[:, ok]  # distinct i map to distinct h for a fixed u
    return table


def _kernel_fold(layer: Layer, weight: np.ndarray, rho: np.ndarray):
    rho_c, _, _ = Grid(layer.out_shape).split(rho)
    o, c, k, _ = weight.shape
    w_rho = fold_rows(prefix_eq(rho_c, o), weight.reshape(o, c * k * k)).reshape(F.EXT_DEGREE, c, k, k)
    return (w_rho, *window_shift_tables(layer, rho))


def window_shift_tables(layer: Layer, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eh and Ew of a K x K window with the layer's stride and padding at the output point rho."""
    _, rho_h, rho_w = Grid(layer.out_shape).split(rho)
    (_, in_h, in_w), (_, out_h, out_w) = layer.in_shape, layer.out_shape
    k = layer.kernel
    eh = shift_tables(rho_h, out_h, in_h, k, layer.stride, layer.padding)
    ew = shift_tables(rho_w, out_w, in_w, k, layer.stride, layer.padding)
    return eh, ew


def window_factors(
    layer: Layer, w_rho: np.ndarray, eh: np.ndarray, ew: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """G's factors G[c,h,w] = sum_v A[c,v,h] Ew[v,w] with A[c,v,h] = sum_u W_rho[c,u,v] Eh[u,h], from the
    per-input-channel kernel fold W_rho (4, C, K, K): A (4, C, K, H_p) and Ew, in O(C K^2 H')."""
    a = F.ext_zeros((w_rho.shape[1], w_rho.shape[3], eh.shape[2]))
    for u in range(w_rho.shape[2]):
        a = F.ext_add(a, F.ext_mul(w_rho[:, :, u, :, None], eh[:, None, u, None, :]))
    return a, ew


def folded_g_eval(
    layer: Layer, w_rho: np.ndarray, eh: np.ndarray, ew: np.ndarray, gamma: np.ndarray
) -> np.ndarray:
    """G~(gamma) = sum_{u,v} (sum_c eq(gamma_c, c) W_rho[c,u,v]) Eh_u~(gamma_h) Ew_v~(gamma_w)."""
    g_c, g_h, g_w = Grid(layer.in_shape).split(gamma)
    eq_c = prefix_eq(g_c, w_rho.shape[1])
    w_g = F.ext_sum(F.ext_mul(w_rho, eq_c[:, :, None, None]), axis=0)  # (4, K, K)
    eh_g = F.ext_sum(F.ext_mul(eh, poly.eq_table(g_h)[:, None, :]), axis=1)  # (4, K)
    ew_g = F.ext_sum(F.ext_mul(ew, poly.eq_table(g_w)[:, None, :]), axis=1)  # (4, K)
    return F.ext_sum(F.ext_sum(F.ext_mul(F.ext_mul(w_g, eh_g[:, :, None]), ew_g[:, None, :]), axis=1), axis=0)


def g_factors(layer: Layer, weight: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prover's G as its factors A and Ew (``window_factors``): G itself is never built."""
    return window_factors(layer, *_kernel_fold(layer, weight, rho))


def g_eval(layer: Layer, weight: np.ndarray, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """G~(gamma) from the public weights, in O(weights + K (H + W))."""
    return folded_g_eval(layer, *_kernel_fold(layer, weight, rho), gamma)


def source_part(layer: Layer, weight: np.ndarray, lo: int, hi: int) -> tuple[Layer, np.ndarray]:
    """The convolution over input channels [lo, hi) alone: its layer and its weights W[:, lo:hi]."""
    return channel_part(layer, lo, hi), weight[:, lo:hi]


def working_bytes(layer: Layer) -> int:
    """The separable linear sumcheck's tables (``common.separable_linear_bytes``)."""
    return separable_linear_bytes(Grid(layer.in_shape), layer.kernel)


def inference_bytes(layer: Layer) -> int:
    """The float64 sum (its output) and one block of input channels, padded, with one tap's window."""
    c, h, w = layer.in_shape
    o, out_h, out_w = layer.out_shape
    plane = (h + 2 * layer.padding) * (w + 2 * layer.padding)
    return 8 * (o * out_h * out_w + _channel_step(c, plane) * (plane + out_h * out_w))


def weight_shape(layer: Layer) -> tuple[int, int, int, int]:
    """(O, C, K, K): one kernel per output and input channel."""
    return (layer.out_shape[0], layer.in_shape[0], layer.kernel, layer.kernel)


def out_shape(layer: Layer) -> Shape:
    """(O, H', W') with H' = (H + 2 padding - K) // stride + 1."""
    _, h, w = layer.in_shape
    return (
        layer.out_shape[0],
        conv_out_size(h, layer.kernel, layer.stride, layer.padding),
        conv_out_size(w, layer.kernel, layer.stride, layer.padding),
    )


def validate(layers: list[Layer], index: int) -> None:
    """Padding below the kernel, so that every output reads at least one input value; no groups."""
    layer = layers[index]
    if layer.padding >= layer.kernel:
        raise ModelError(f"layer {layer.name}: padding must be smaller than the kernel")
    check_no_groups(layer)
    check_square_window(layer)


INPUT_CHUNK_VALUES = 1 << 22
"""Padded input values (float64: 32 MiB) a convolution converts at a time: its transients are bounded by
this and its output, not by its input (a block of a tiled layer reads the whole input for a few of its
output channels)."""


def conv2d_sum(weight: np.ndarray, x: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """Bias-free convolution of a batch x (C, N, H, W) with weight (O, C, K, K): float64 (O, N, H', W'),
    summed over blocks of input channels, each converted and padded only for its own taps."""
    out_channels, channels, kernel, _ = weight.shape
    _, batch, height, width = x.shape
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    pads = ((0, 0), (0, 0), (padding, padding), (padding, padding))
    acc = np.zeros((out_channels, batch * out_h * out_w), dtype=np.float64)
    step = _channel_step(channels, batch * (height + 2 * padding) * (width + 2 * padding))
    for start in range(0, channels, step):
        part = slice(start, min(start + step, channels))
        padded = np.pad(np.asarray(x[part], dtype=np.float64), pads)
        for u in range(kernel):
            for v in range(kernel):
                rows = slice(u, u + stride * (out_h - 1) + 1, stride)
                cols = slice(v, v + stride * (out_w - 1) + 1, stride)
                window = padded[:, :, rows, cols]
                tap = np.asarray(weight[:, part, u, v], dtype=np.float64)  # one tap at a time
                acc += tap @ window.reshape(padded.shape[0], -1)
        del padded
    return acc.reshape(out_channels, batch, out_h, out_w)


def _channel_step(channels: int, plane: int) -> int:
    """Input channels converted at a time: as many padded planes as INPUT_CHUNK_VALUES holds, at least one."""
    return max(1, min(channels, INPUT_CHUNK_VALUES // max(plane, 1)))


def evaluate(layer: Layer, weight: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The bias-free convolution of a batch x (C, N, H, W), exact in float64."""
    return conv2d_sum(weight, x, layer.stride, layer.padding)


sign_sums = row_sign_sums


def scale_bits(layer: Layer) -> int:
    """0: the weights' fraction bits carry the scale."""
    return 0


def channel_split(layer: Layer) -> str:
    """ "rows": a block of output channels is the convolution by those rows of the weights."""
    return "rows"
