"""Global average pool: the sum over all H x W positions of each channel (division by H*W in the shift).

The average pool's window sum with the window covering the whole input (see ``avgpool``).  Model side: no
weights and no window, out_shape (C, 1, 1), and H*W a power of two (the division is a shift).
"""

from __future__ import annotations

import numpy as np

from edgeprove.layers import avgpool
from edgeprove.model.bounds import window_sign_sums
from edgeprove.model.ir import Layer, ModelError, Shape, check_no_window, is_pow2


def _window(layer: Layer) -> tuple[int, int]:
    return layer.in_shape[1], layer.in_shape[2]


def g_table(layer: Layer, weight: None, rho: np.ndarray) -> np.ndarray:
    """The prover's G on the padded input grid (a pool has no weight)."""
    return avgpool.window_g_table(layer, _window(layer), rho)


def g_eval(layer: Layer, weight: None, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """G~(gamma), separable per axis."""
    return avgpool.window_g_eval(layer, _window(layer), rho, gamma)


working_bytes = avgpool.working_bytes
inference_bytes = avgpool.inference_bytes
weight_shape = avgpool.weight_shape


def out_shape(layer: Layer) -> Shape:
    """(C, 1, 1): one value per channel."""
    return (layer.in_shape[0], 1, 1)


def validate(layers: list[Layer], index: int) -> None:
    """A power-of-two number of positions (its division is a shift) and no kernel, stride or padding."""
    layer = layers[index]
    if not is_pow2(layer.in_shape[1] * layer.in_shape[2]):
        raise ModelError(
            f"layer {layer.name}: global_avgpool over {layer.in_shape[1]}x{layer.in_shape[2]} positions; "
            "H*W must be a power of two (its division must be a shift)"
        )
    check_no_window(layer)


def evaluate(layer: Layer, weight: None, x: np.ndarray) -> np.ndarray:
    """Each channel's sum over all positions of a batch x (C, N, H, W), in float64."""
    return x.astype(np.float64, copy=False).sum(axis=(2, 3), keepdims=True)


def sign_sums(layer: Layer, weight: None) -> tuple[np.ndarray, np.ndarray]:
    """Every output sums H*W inputs with coefficient 1."""
    return window_sign_sums(layer, layer.in_shape[1] * layer.in_shape[2])


def scale_bits(layer: Layer) -> int:
    """log2(H*W): the sum is the mean times H*W."""
    return (layer.in_shape[1] * layer.in_shape[2]).bit_length() - 1
