"""Turn what a user typed (a zoo name, a compiled-model folder or an ONNX file) into a Model, and make
inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeprove.model import compiled, zoo
from edgeprove.model.ir import Model, ModelError


def load_model(spec: str) -> Model:
    """A zoo model by name, a compiled model folder by path, or an ONNX file (compiled once into the cache
    ``$EDGEPROVE_CACHE/onnx/<sha256>``); ModelError with one line otherwise."""
    path = Path(spec)
    if path.is_dir():
        return compiled.load(path)
    if path.suffix == ".onnx":
        from edgeprove.model.onnx_import import cached_import

        return cached_import(path)
    return zoo.get(spec)


def seeded_input(model: Model, seed: int) -> np.ndarray:
    """A reproducible int8 input for ``model`` (uniform in [-128, 127])."""
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=model.input_shape, dtype=np.int64)


def read_input(model: Model, path: str | Path) -> np.ndarray:
    """An int8 input tensor from a .npy file, checked against the model's input shape and range."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read input {path}: {exc}") from None
    if arr.dtype.kind not in "iu":
        raise ModelError(f"input {path}: expected integers (int8 values), got {arr.dtype}")
    if arr.size != int(np.prod(model.input_shape)):
        raise ModelError(f"input {path}: {arr.size} values, the model takes {tuple(model.input_shape)}")
    arr = arr.astype(np.int64).reshape(model.input_shape)
    if arr.min() < -128 or arr.max() > 127:
        raise ModelError(f"input {path}: values outside int8 [-128, 127]")
    return arr
