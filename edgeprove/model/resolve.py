"""Turn what a user typed (a zoo name, a compiled-model folder or an ONNX file) into a Model, and make
inputs.  All of it is hostile input: paths, seeds and input files are checked before anything is sized
from them.

A zoo name always means the zoo's model (pinned by its digest), even when a folder of that name exists in
the working directory: ``lenet5`` is the zoo model, ``./lenet5`` the folder.  Anything that is not a zoo
name is a path."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgeprove.model import compiled, npy, zoo
from edgeprove.model.ir import INPUT_RANGE, Model, ModelError, short

MAX_SEED = (1 << 63) - 1
"""Seeds of the random input are 0 .. 2^63 - 1 (numpy takes any non-negative int; we keep them int64)."""

MAX_SPEC_LENGTH = 4096
"""Longest model name or path accepted (the OS's own PATH_MAX)."""


def load_model(spec: str) -> Model:
    """A zoo model by name, else a compiled model folder or an ONNX file by path (compiled once into the
    cache ``$EDGEPROVE_CACHE/onnx/<sha256>``); ModelError with one line otherwise."""
    path = _model_path(spec)
    if path is None:
        return zoo.get(spec)
    if path.is_dir():
        return compiled.load(path)
    from edgeprove.model.onnx_import import cached_import

    return cached_import(path)


def _model_path(spec: str) -> Path | None:
    """The path ``spec`` names (a folder or an .onnx file), or None for a zoo name; ModelError when it names
    neither (an empty name, a missing path, a file that is not .onnx)."""
    hint = "MODEL is a zoo name (see `edgeprove models`), a compiled model folder or an .onnx file"
    if not spec.strip():
        raise ModelError(f"empty model name; {hint}")
    if len(spec) > MAX_SPEC_LENGTH or "\x00" in spec:
        raise ModelError(f"model {short(spec)}: not a zoo name or a usable path; {hint}")
    if spec in zoo.names():
        return None  # a zoo name always wins over a file or folder of that name
    path = Path(spec)
    try:
        if path.is_dir() or path.suffix == ".onnx":
            return path
        if path.exists() or path.is_symlink():
            raise ModelError(f"{path}: not a compiled model folder or an .onnx file; {hint}")
    except OSError as exc:
        raise ModelError(f"model {short(spec)}: {exc.strerror}; {hint}") from None
    if "/" in spec or spec.startswith("."):
        raise ModelError(f"{path}: no such file or folder; {hint}")
    return None


def check_model_spec(spec: str) -> None:
    """Refuse a model argument that cannot name a model, without building or compiling anything: an empty
    name, a missing path, an unknown zoo name, a folder without a valid manifest, a missing .onnx file."""
    path = _model_path(spec)
    if path is None:
        zoo.summary(spec)
    elif path.is_dir():
        compiled.check(path)
    else:
        from edgeprove.model.onnx_import import check_onnx_file

        check_onnx_file(path)


def check_seed(seed: int) -> None:
    """Refuse a seed outside 0 .. 2^63 - 1."""
    if not 0 <= seed <= MAX_SEED:
        raise ModelError(f"seed {short(seed)} is outside 0 .. 2^63 - 1")


def seeded_input(model: Model, seed: int) -> np.ndarray:
    """A reproducible int8 input for ``model`` (uniform in [-128, 127])."""
    check_seed(seed)
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=model.input_shape, dtype=np.int64)


def read_input(model: Model, path: str | Path) -> np.ndarray:
    """An int8 input tensor from a .npy file: any integer dtype, C or Fortran order, as many values as the
    model's input shape; its header and size are checked before the data is read."""
    path = Path(path)
    count = math.prod(model.input_shape)
    expected = f"{count} integer values in [-128, 127] (shape {tuple(model.input_shape)})"
    header = npy.read_header(path, "input", expected)
    if header.dtype.kind not in "iu":
        raise ModelError(f"input {path}: holds {header.dtype} values; expected integers (int8 values)")
    if header.count != count:
        raise ModelError(
            f"input {path}: holds {header.describe()}, {header.count:,} values; the model takes "
            f"{tuple(model.input_shape)}, {count:,} values"
        )
    arr = npy.load(path, "input")
    if int(arr.min()) < INPUT_RANGE[0] or int(arr.max()) > INPUT_RANGE[1]:
        raise ModelError(f"input {path}: values outside int8 [-128, 127]")
    return arr.astype(np.int64).reshape(model.input_shape)
