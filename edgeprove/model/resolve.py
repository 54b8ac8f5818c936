"""Turn what a user typed (a zoo name, a compiled-model folder or an ONNX file) into a Model, and make
inputs.

A zoo name always means the zoo's model (pinned by its digest), even when a folder of that name exists in
the working directory: ``lenet5`` is the zoo model, ``./lenet5`` the folder.  Anything that is not a zoo
name is a path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeprove.model import compiled, zoo
from edgeprove.model.ir import Model, ModelError

MAX_SPEC_LENGTH = 4096
"""Longest model name or path accepted (the OS's own PATH_MAX)."""


def load_model(spec: str) -> Model:
    """A zoo model by name, else a compiled model folder or an ONNX file by path (compiled once into the
    cache ``$EDGEPROVE_CACHE/onnx/<sha256>``); ModelError with one line otherwise."""
    if not spec or len(spec) > MAX_SPEC_LENGTH or "\x00" in spec:
        raise ModelError(f"model {spec[:60]!r}: not a zoo name or a usable path")
    if spec in zoo.names():
        return zoo.get(spec)
    path = Path(spec)
    try:
        is_dir = path.is_dir()
    except OSError as exc:
        raise ModelError(f"model {spec[:60]!r}: {exc.strerror}") from None
    if is_dir:
        return compiled.load(path)
    if path.suffix == ".onnx":
        from edgeprove.model.onnx_import import cached_import

        return cached_import(path)
    if "/" in spec or path.exists():
        raise ModelError(f"{spec}: not a compiled-model folder or an .onnx file")
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
