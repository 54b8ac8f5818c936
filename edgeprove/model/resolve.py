"""Turn what a user typed (a zoo name, a compiled-model folder or an ONNX file) into a Model, and make
inputs.  All of it is hostile input: paths, seeds and input files are checked before anything is sized
from them.

A zoo name always means the zoo's model (pinned by its digest), even when a folder of that name exists in
the working directory: ``lenet5`` is the zoo model, ``./lenet5`` the folder.  Anything that is not a zoo
name is a path."""

from __future__ import annotations

import math
from dataclasses import dataclass
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


@dataclass(frozen=True)
class InputQuantization:
    """How a float input was brought to int8: the model's input scale 2^-input_frac and the values clamped."""

    dtype: str
    input_frac: int
    clamped: int
    count: int

    def summary(self) -> str:
        """One line for people."""
        return (
            f"{self.dtype} input quantized with the model's input scale 2^{-self.input_frac} "
            f"(x * {2.0**self.input_frac:g}, rounded); {self.clamped:,} of {self.count:,} values clamped to "
            "[-128, 127]"
        )

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "dtype": self.dtype,
            "scale": 2.0**-self.input_frac,
            "clamped": self.clamped,
            "values": self.count,
        }


def check_input_header(path: str | Path, input_shape: tuple[int, ...] | None) -> None:
    """Refuse an input file that is not a .npy array of integers or floats with as many values as
    ``input_shape`` (a leading batch axis of 1 included; any count when the shape is not known), from its
    header alone."""
    path = Path(path)
    if input_shape is None:
        header = npy.read_header(path, "input", "a .npy array of int8 values or floats")
        if header.dtype.kind not in "iuf":
            raise ModelError(
                f"input {path}: holds {header.dtype} values; expected integers (int8 values) or floats"
            )
        return
    input_header(path, math.prod(input_shape), tuple(input_shape))


def input_header(path: Path, count: int, shape: tuple[int, ...]) -> npy.NpyHeader:
    """The checked header of an input file (see ``check_input_header``)."""
    expected = (
        f"{count} values of shape {shape}, int8 values or floats at the model's input scale (with or "
        "without a batch axis)"
    )
    header = npy.read_header(path, "input", expected)
    if header.dtype.kind not in "iuf":
        raise ModelError(
            f"input {path}: holds {header.dtype} values; expected integers (int8 values) or floats"
        )
    if header.count != count:
        raise ModelError(
            f"input {path}: holds {header.describe()}, {header.count:,} values; the model takes "
            f"{shape}, {count:,} values"
        )
    return header


def load_input(model: Model, path: str | Path) -> tuple[np.ndarray, InputQuantization | None]:
    """An input tensor from a .npy file, as many values as the model's input shape (so with or without a
    batch axis of 1, C or Fortran order), its header and size checked before the data is read.

    Integers are int8 values as they are (refused outside [-128, 127]); floats are quantized with the
    model's own input scale, round(x * 2^input_frac) clamped to int8, and the quantization says how many
    values were clamped.  NaN and infinities are refused."""
    path = Path(path)
    count = math.prod(model.input_shape)
    header = input_header(path, count, tuple(model.input_shape))
    arr = npy.load(path, "input")
    if header.dtype.kind == "f":
        values = np.asarray(arr, dtype=np.float64).reshape(model.input_shape)
        if not np.all(np.isfinite(values)):
            raise ModelError(f"input {path}: holds NaN or infinite values")
        with np.errstate(over="ignore"):  # a huge finite value scales to +-inf, then clamps like any other
            scaled = np.rint(values * 2.0**model.input_frac)
        clamped = int(np.count_nonzero((scaled < INPUT_RANGE[0]) | (scaled > INPUT_RANGE[1])))
        x = np.clip(scaled, *INPUT_RANGE).astype(np.int64)
        return x, InputQuantization(str(header.dtype), model.input_frac, clamped, count)
    if int(arr.min()) < INPUT_RANGE[0] or int(arr.max()) > INPUT_RANGE[1]:
        raise ModelError(f"input {path}: values outside int8 [-128, 127]")
    return arr.astype(np.int64).reshape(model.input_shape), None


def read_input(model: Model, path: str | Path) -> np.ndarray:
    """The int8 input tensor ``load_input`` reads (floats quantized with the model's input scale)."""
    return load_input(model, path)[0]
