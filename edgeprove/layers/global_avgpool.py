"""Global average pool: M times the sum over all H x W positions of each channel, divided by the shift.

The average pool's rescaled window sum with the window covering the whole input (see ``avgpool``: M = 1 and
the shift alone for H*W a power of two, else a fixed-point multiplier whose rounding the requantization
proves).  Model side: no weights and no window, out_shape (C, 1, 1), H*W a window the rescale covers.
"""

from __future__ import annotations

import numpy as np

from edgeprove.layers import avgpool
from edgeprove.model.bounds import window_sign_sums
from edgeprove.model.ir import Layer, Shape, check_no_window


def _window(layer: Layer) -> tuple[int, int]:
    return layer.in_shape[1], layer.in_shape[2]


def g_factors(layer: Layer, weight: None, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prover's G as its factors (a pool has no weight): M times the sum."""
    return avgpool.window_g_factors(layer, _window(layer), rho, _rescale(layer)[0])


def g_eval(layer: Layer, weight: None, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """G~(gamma), separable per axis."""
    return avgpool.window_g_eval(layer, _window(layer), rho, gamma, _rescale(layer)[0])


working_bytes = avgpool.working_bytes
inference_bytes = avgpool.inference_bytes
weight_shape = avgpool.weight_shape


def out_shape(layer: Layer) -> Shape:
    """(C, 1, 1): one value per channel."""
    return (layer.in_shape[0], 1, 1)


def validate(layers: list[Layer], index: int) -> None:
    """A window its rescale covers (``avgpool.check_window``) and no kernel, stride or padding."""
    layer = layers[index]
    _, h, w = layer.in_shape
    avgpool.check_window(layer, h * w, f"{h}x{w}")
    check_no_window(layer)


def _rescale(layer: Layer) -> tuple[int, int]:
    return avgpool.window_rescale(layer.in_shape[1] * layer.in_shape[2])


def evaluate(layer: Layer, weight: None, x: np.ndarray) -> np.ndarray:
    """M times each channel's sum over all positions of a batch x (C, N, H, W), in float64."""
    return _rescale(layer)[0] * x.astype(np.float64, copy=False).sum(axis=(2, 3), keepdims=True)


def sign_sums(layer: Layer, weight: None) -> tuple[np.ndarray, np.ndarray]:
    """Every output sums H*W inputs with coefficient M."""
    return window_sign_sums(layer, layer.in_shape[1] * layer.in_shape[2] * _rescale(layer)[0])


def scale_bits(layer: Layer) -> int:
    """t: M times the sum is the mean times 2^t."""
    return _rescale(layer)[1]


def channel_split(layer: Layer) -> str:
    """ "channels": each channel's mean is its own."""
    return "channels"
