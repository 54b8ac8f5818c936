"""Average pool: M times the window sum over k x k with stride k, the division done by the requant shift.

Dividing by a window of n = k^2 positions is a fixed-point multiply and shift (``window_rescale``): the
integer map is a = M * sum with the public multiplier M = round(2^t / n), so a / 2^t is the mean up to the
relative error |M n / 2^t - 1| <= n / 2^(t+1); the requantization q = (a + 2^(s-1)) >> s that follows rounds
it, and its remainder lookup r in [0, 2^s) proves that rounding (a q off by one needs r outside the range).
A power-of-two window has M = 1 and t = log2(n): the division is the shift alone.

A linear sum with no weights: G[c,h,w] = M eq(rho_c, c) [c < C] * Eh[h] * Ew[w] with Eh[h] = sum_u Eh_u[h]
(the conv shift tables summed over the window), so G~(gamma) is separable and the verifier evaluates it in
O(C + H + W).  ``global_avgpool`` is the same sum with the window covering the whole input.

Model side: no weights, stride equal to the kernel and no padding, out_shape (C, H // k, W // k) (trailing
rows and columns dropped); a window that is not a power of two holds at most MAX_RESCALED_WINDOW positions.
"""

from __future__ import annotations

import numpy as np

from edgeprove import field as F
from edgeprove import poly
from edgeprove.layers.common import Grid, prefix_eq, separable_linear_bytes
from edgeprove.layers.conv2d import shift_tables
from edgeprove.model.bounds import MAX_SHIFT, window_sign_sums
from edgeprove.model.ir import Layer, ModelError, Shape, check_no_groups, check_square_window, is_pow2

RESCALE_BITS = 10
"""M >= 2^RESCALE_BITS for a window that is not a power of two, where the shift allows it: the rescale's
relative error is then at most 2^-(RESCALE_BITS + 1), below float32 import tolerance."""
MIN_RESCALE_BITS = 7
"""Fewest bits M keeps for the largest windows (t capped at the largest requantization shift): a relative
error of at most 2^-8, half an int8 step on the largest mean."""
MAX_RESCALED_WINDOW = 1 << (MAX_SHIFT - MIN_RESCALE_BITS)
"""Most positions a window that is not a power of two may hold (512): t = ceil(log2 n) + MIN_RESCALE_BITS
stays within the largest requantization shift."""


def window_rescale(positions: int) -> tuple[int, int]:
    """(M, t) with M / 2^t approximating 1 / positions: (1, log2 n) for a power of two, else
    t = min(ceil(log2 n) + RESCALE_BITS, MAX_SHIFT) and M = round(2^t / n)."""
    if is_pow2(positions):
        return 1, positions.bit_length() - 1
    bits = min((positions - 1).bit_length() + RESCALE_BITS, MAX_SHIFT)
    return ((1 << bits) + positions // 2) // positions, bits


def mean_window(height: int, width: int, where: str) -> int:
    """The side of the square power-of-two windows a plane's mean first averages over (1: none), so that the
    global pool after them takes a power of two or at most MAX_RESCALED_WINDOW positions (the mean of equal
    windows' means is the plane's mean, and each rescale stays exact to RESCALE_BITS)."""
    window = 1
    while (height * width) // window**2 > MAX_RESCALED_WINDOW and not is_pow2((height * width) // window**2):
        if height % (2 * window) or width % (2 * window):
            raise ModelError(
                f"{where}: cannot average a {height}x{width} plane: a plane that is not a power of two may "
                f"hold at most {MAX_RESCALED_WINDOW} positions, and this one does not split into "
                "power-of-two windows that would"
            )
        window *= 2
    return window


def check_window(layer: Layer, positions: int, what: str) -> None:
    """Refuse a window that is not a power of two and holds more than MAX_RESCALED_WINDOW positions."""
    if not is_pow2(positions) and positions > MAX_RESCALED_WINDOW:
        raise ModelError(
            f"layer {layer.name}: {layer.kind} averages {what} = {positions} positions; a window that is "
            f"not a power of two may hold at most {MAX_RESCALED_WINDOW}"
        )


def _factors(layer: Layer, window: tuple[int, int], rho: np.ndarray):
    out_grid = Grid(layer.out_shape)
    rho_c, rho_h, rho_w = out_grid.split(rho)
    kh, kw = window
    c, in_h, in_w = layer.in_shape
    eh = F.ext_sum(shift_tables(rho_h, out_grid.shape[1], in_h, kh, kh, 0), axis=0)
    ew = F.ext_sum(shift_tables(rho_w, out_grid.shape[2], in_w, kw, kw, 0), axis=0)
    return prefix_eq(rho_c, c), eh, ew


def window_g_factors(
    layer: Layer, window: tuple[int, int], rho: np.ndarray, multiplier: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """G of ``multiplier`` times a (kernel_h, kernel_w) window sum with stride equal to the window, as its
    factors (``common.prove_linear_separable``): A[c, 0, h] = M eq(rho_c, c) Eh[h] and Ew[0, w]."""
    eq_c, eh, ew = _factors(layer, window, rho)
    a = F.ext_mul(F.ext_scale(eq_c, np.uint64(multiplier))[:, :, None], eh[:, None, :])
    return a[:, :, None, :], ew[:, None, :]


def window_g_eval(
    layer: Layer, window: tuple[int, int], rho: np.ndarray, gamma: np.ndarray, multiplier: int = 1
) -> np.ndarray:
    """G~(gamma) of the same scaled window sum, separable per axis."""
    eq_c, eh, ew = _factors(layer, window, rho)
    g_c, g_h, g_w = Grid(layer.in_shape).split(gamma)
    out = F.ext_inner(eq_c, prefix_eq(g_c, eq_c.shape[1]))
    out = F.ext_mul(out, F.ext_inner(eh, poly.eq_table(g_h)))
    return F.ext_scale(F.ext_mul(out, F.ext_inner(ew, poly.eq_table(g_w))), np.uint64(multiplier))


def g_factors(layer: Layer, weight: None, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prover's G as its factors (a pool has no weight): M times the window sum."""
    window = (layer.kernel, layer.kernel)
    return window_g_factors(layer, window, rho, window_rescale(layer.kernel * layer.kernel)[0])


def g_eval(layer: Layer, weight: None, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """G~(gamma), separable per axis."""
    window = (layer.kernel, layer.kernel)
    return window_g_eval(layer, window, rho, gamma, window_rescale(layer.kernel * layer.kernel)[0])


def working_bytes(layer: Layer) -> int:
    """The separable linear sumcheck's tables (``common.separable_linear_bytes``)."""
    return separable_linear_bytes(Grid(layer.in_shape), 1)


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
    """Stride equal to the kernel, no padding, and a window its rescale covers (``check_window``)."""
    layer = layers[index]
    if layer.stride != layer.kernel or layer.padding != 0:
        raise ModelError(f"layer {layer.name}: avgpool needs stride == kernel and padding 0")
    check_no_groups(layer)
    check_square_window(layer)
    check_window(layer, layer.kernel * layer.kernel, f"{layer.kernel}x{layer.kernel}")


def window_sum(x: np.ndarray, kernel: int) -> np.ndarray:
    """Sum over non-overlapping kernel x kernel windows (stride == kernel, trailing rows/columns dropped)."""
    channels, batch, height, width = x.shape
    out_h, out_w = height // kernel, width // kernel
    cropped = x[:, :, : out_h * kernel, : out_w * kernel]
    return cropped.reshape(channels, batch, out_h, kernel, out_w, kernel).sum(axis=(3, 5))


def evaluate(layer: Layer, weight: None, x: np.ndarray) -> np.ndarray:
    """M times the window sums of a batch x (C, N, H, W), in float64."""
    multiplier, _ = window_rescale(layer.kernel * layer.kernel)
    return multiplier * window_sum(x.astype(np.float64, copy=False), layer.kernel)


def sign_sums(layer: Layer, weight: None) -> tuple[np.ndarray, np.ndarray]:
    """Every output sums k^2 inputs with coefficient M."""
    multiplier, _ = window_rescale(layer.kernel * layer.kernel)
    return window_sign_sums(layer, layer.kernel * layer.kernel * multiplier)


def scale_bits(layer: Layer) -> int:
    """t: M times the window sum is the mean times 2^t."""
    return window_rescale(layer.kernel * layer.kernel)[1]


def channel_split(layer: Layer) -> str:
    """ "channels": a pool averages each channel on its own."""
    return "channels"
