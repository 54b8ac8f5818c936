"""A 2-D correlation sampled on a probe grid: a[o,i,j] = sum_{c,u,v} W[o,c,u,v] x[c, h(i,u), w(j,v)] + b[o].

The kernel is Kh x Kw (both odd, possibly different), centred on the probe (stride_h * i, stride_w * j), so
the output is (O, ceil(H / stride_h), ceil(W / stride_w)): only the probe points are computed, never the
dense convolution they would be sampled from.  Each axis has its own border rule for a window reaching past
the image:

- ``zeros``: positions outside the image read 0 (a convolution with padding K // 2, as ONNX's Conv);
- ``wrap``: the axis is periodic, positions wrap around (the angle of a polar image);
- ``clip``: open-iris's rule (``conv_filter_bank.py``): the window is clipped to the image and the kernel
  cropped to the same number of rows around its centre row, so near an edge kernel row u meets image row
  top + u - ktop with top = max(0, r - K//2), height = min(r + K//2 + 1, H) - top, ktop = K//2 - height//2.

Every rule is an index map h(i, u) (or none), so the proof is conv2d's: from the claim a~(rho), the fold
W_rho[c,u,v] = sum_o eq(rho_o, o) W[o,c,u,v] and the shift tables E_u[h] = sum_{i: h(i,u) = h} eq(rho_i, i)
(likewise along w) give G[c,h,w] = sum_{u,v} W_rho[c,u,v] Eh_u[h] Ew_v[w], one sumcheck against the input,
and the verifier evaluates G~(gamma) from the public weights in O(weights + Kh H + Kw W).

Fields: ``kernel`` / ``kernel_w`` (Kh, Kw), ``stride`` / ``stride_w``, ``border_h`` / ``border_w``;
``padding`` stays 0 (windows are centred) and there are no groups.  Several sources are read concatenated
along channels, the map splitting into one per source (``source_part``), as a convolution's does.
"""

from __future__ import annotations

import numpy as np

from edgeprove import field as F
from edgeprove import poly
from edgeprove.layers import conv2d
from edgeprove.layers.common import Grid, fold_rows, prefix_eq, separable_linear_bytes
from edgeprove.model.bounds import row_sign_sums
from edgeprove.model.ir import Layer, ModelError, Shape, check_no_groups

BORDERS = ("zeros", "wrap", "clip")
"""What a window does past the image's edge along one axis (module docstring)."""


def probe_count(size: int, stride: int) -> int:
    """Probes along an axis of ``size`` positions: at 0, stride, 2 stride, ... below size."""
    return (size - 1) // stride + 1


def probe_sources(size: int, kernel: int, stride: int, border: str) -> np.ndarray:
    """h(i, u): the input position kernel offset u of probe i reads along one axis, -1 where it reads
    nothing; shape (probes, kernel)."""
    half = kernel // 2
    centre = stride * np.arange(probe_count(size, stride))[:, None]
    offset = np.arange(kernel)[None, :]
    if border == "wrap":
        return (centre + offset - half) % size
    if border == "zeros":
        source = centre + offset - half
        return np.where((source >= 0) & (source < size), source, -1)
    top = np.maximum(centre - half, 0)
    height = np.minimum(centre + half + 1, size) - top
    ktop = half - height // 2
    inside = (offset >= ktop) & (offset < ktop + height)
    return np.where(inside, top + offset - ktop, -1)


def axis_sources(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """The row map h(i, u) and the column map w(j, v) of the layer's probes."""
    _, height, width = layer.in_shape
    rows = probe_sources(height, layer.kernel, layer.stride, layer.border_h)
    cols = probe_sources(width, layer.kernel_w, layer.stride_w, layer.border_w)
    return rows, cols


def shift_table(rho_axis: np.ndarray, sources: np.ndarray, in_len: int) -> np.ndarray:
    """E[u, h] = sum over probes i with sources[i, u] == h of eq(rho, i): shape (4, kernel, in_len padded).

    Entries are added, not assigned, so a rule under which two probes read the same position with the same
    offset (``clip`` with stride 1 near an edge) is represented exactly."""
    probes, kernel = sources.shape
    eq = prefix_eq(rho_axis, probes)
    table = np.zeros((F.EXT_DEGREE, kernel, poly.next_pow2(in_len)), dtype=np.uint64)
    for u in range(kernel):
        valid = sources[:, u] >= 0
        for limb in range(F.EXT_DEGREE):
            np.add.at(table[limb, u], sources[valid, u], eq[limb, valid])
    return table % np.uint64(F.P)


def _kernel_fold(layer: Layer, weight: np.ndarray, rho: np.ndarray):
    rho_c, rho_h, rho_w = Grid(layer.out_shape).split(rho)
    o, c, kh, kw = weight.shape
    w_rho = fold_rows(prefix_eq(rho_c, o), weight.reshape(o, c * kh * kw)).reshape(F.EXT_DEGREE, c, kh, kw)
    rows, cols = axis_sources(layer)
    _, height, width = layer.in_shape
    return w_rho, shift_table(rho_h, rows, height), shift_table(rho_w, cols, width)


def g_factors(layer: Layer, weight: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prover's G as its factors (``conv2d.window_factors``): G itself is never built."""
    return conv2d.window_factors(layer, *_kernel_fold(layer, weight, rho))


def g_eval(layer: Layer, weight: np.ndarray, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """G~(gamma) from the public weights, in O(weights + Kh H + Kw W)."""
    return conv2d.folded_g_eval(layer, *_kernel_fold(layer, weight, rho), gamma)


def source_part(layer: Layer, weight: np.ndarray, lo: int, hi: int) -> tuple[Layer, np.ndarray]:
    """The probe map over input channels [lo, hi) alone (``conv2d.source_part``: the same window fields)."""
    return conv2d.source_part(layer, weight, lo, hi)


def working_bytes(layer: Layer) -> int:
    """The separable linear sumcheck's tables (``common.separable_linear_bytes``)."""
    return separable_linear_bytes(Grid(layer.in_shape), layer.kernel_w)


def inference_bytes(layer: Layer) -> int:
    """The input with a zero border, one kernel row's gathered rows and one offset's window (float64)."""
    c, h, w = layer.in_shape
    _, out_h, out_w = layer.out_shape
    return 8 * c * ((h + 1) * (w + 1) + out_h * (w + 1) + out_h * out_w)


def weight_shape(layer: Layer) -> tuple[int, int, int, int]:
    """(O, C, Kh, Kw)."""
    return (layer.out_shape[0], layer.in_shape[0], layer.kernel, layer.kernel_w)


def out_shape(layer: Layer) -> Shape:
    """(O, ceil(H / stride), ceil(W / stride_w)): one output per probe."""
    _, h, w = layer.in_shape
    return (layer.out_shape[0], probe_count(h, layer.stride), probe_count(w, max(layer.stride_w, 1)))


def validate(layers: list[Layer], index: int) -> None:
    """Odd kernels with a width and column stride of their own, known border rules, a wrapped axis at least
    as long as its kernel, no padding (windows are centred) and no groups."""
    layer = layers[index]
    where = f"layer {layer.name}"
    if layer.kernel_w < 1 or layer.stride_w < 1:
        raise ModelError(f"{where}: probe_conv2d needs kernel_w and stride_w of at least 1")
    if layer.kernel % 2 == 0 or layer.kernel_w % 2 == 0:
        raise ModelError(f"{where}: probe_conv2d kernels are centred on the probe, so both sides are odd")
    if layer.padding != 0:
        raise ModelError(f"{where}: probe_conv2d takes no padding (its border rules say what an edge does)")
    check_no_groups(layer)
    for name, kernel, size in (
        ("border_h", layer.kernel, layer.in_shape[1]),
        ("border_w", layer.kernel_w, layer.in_shape[2]),
    ):
        border = getattr(layer, name)
        if border not in BORDERS:
            raise ModelError(f"{where}: {name} must be one of {', '.join(BORDERS)}")
        if border == "wrap" and kernel > size:
            raise ModelError(f"{where}: a wrapped axis ({name}) must be at least as long as the kernel")


def probe_sum(weight: np.ndarray, x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bias-free sum of a batch x (C, N, H, W) with weight (O, C, Kh, Kw) over the probe maps: float64
    (O, N, probes_h, probes_w).  One GEMM per kernel offset on gathered probe windows (no im2col)."""
    out_channels, channels, kh, kw = weight.shape
    _, batch, height, width = x.shape
    framed = np.zeros((channels, batch, height + 1, width + 1), dtype=np.float64)
    framed[:, :, :height, :width] = x  # index -1 reads the zero row and column
    weight64 = np.asarray(weight, dtype=np.float64)
    acc = np.zeros((out_channels, batch * rows.shape[0] * cols.shape[0]), dtype=np.float64)
    for u in range(kh):
        band = framed[:, :, rows[:, u], :]
        for v in range(kw):
            window = band[:, :, :, cols[:, v]]
            acc += weight64[:, :, u, v] @ window.reshape(channels, -1)
    return acc.reshape(out_channels, batch, rows.shape[0], cols.shape[0])


def evaluate(layer: Layer, weight: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The bias-free probe sums of a batch x (C, N, H, W), exact in float64."""
    return probe_sum(weight, x, *axis_sources(layer))


sign_sums = row_sign_sums


def scale_bits(layer: Layer) -> int:
    """0: the weights' fraction bits carry the scale."""
    return 0


def channel_split(layer: Layer) -> str:
    """ "none": the iris code's probe grid is small and read as one tensor."""
    return "none"
