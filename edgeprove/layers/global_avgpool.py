"""Global average pool: the sum over all H x W positions of each channel (division by H*W in the shift).

The average pool's window sum with the window covering the whole input (see ``avgpool``).
"""

from __future__ import annotations

import numpy as np

from edgeprove.layers import avgpool
from edgeprove.model.ir import Layer


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
