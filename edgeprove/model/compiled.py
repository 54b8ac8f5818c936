"""Compiled model folders: ``manifest.json`` plus one ``.npy`` file per weight and per bias.

The manifest holds the format name and version, the model name, input shape and fraction bits, the layers
(every IR field), the weight/bias file names of each weighted layer and the model digest.  Loading opens the
weights memory-mapped, recomputes the digest from the files and refuses a folder that does not match.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgeprove.model.ir import FORMAT_NAME, FORMAT_VERSION, Layer, Model, ModelError

MANIFEST = "manifest.json"


def file_names(index: int, layer: Layer) -> tuple[str, str]:
    """The weight and bias file names of a weighted layer inside a compiled folder."""
    return f"w{index:04d}_{layer.name}.npy", f"b{index:04d}_{layer.name}.npy"


def save(model: Model, folder: str | Path) -> Path:
    """Write ``model`` as a compiled folder (created if missing), weights one layer at a time; return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for index, weight, bias in model.weight_arrays():
        weight_name, bias_name = file_names(index, model.layers[index])
        np.save(folder / weight_name, np.ascontiguousarray(weight, dtype=np.int8))
        np.save(folder / bias_name, np.ascontiguousarray(bias, dtype="<i8"))
        files[str(index)] = {"weight": weight_name, "bias": bias_name}
    manifest = model.header() | {"files": files, "digest": model.digest}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return folder


def _read_manifest(folder: Path) -> dict:
    """Parse and sanity-check manifest.json, raising ModelError with a one-line reason."""
    if not folder.is_dir():
        raise ModelError(f"{folder}: not a compiled model folder (no such directory)")
    path = folder / MANIFEST
    if not path.is_file():
        raise ModelError(f"{folder}: not a compiled model folder (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable manifest ({exc.__class__.__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ModelError(f"{path}: not an {FORMAT_NAME} manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise ModelError(
            f"{path}: format version {manifest.get('version')!r} is not supported "
            f"(this build reads version {FORMAT_VERSION})"
        )
    for key, kind in (
        ("name", str),
        ("input_shape", list),
        ("input_frac", int),
        ("layers", list),
        ("files", dict),
        ("digest", str),
    ):
        if not isinstance(manifest.get(key), kind):
            raise ModelError(f"{path}: field {key!r} is missing or malformed")
    return manifest


def _data_file(folder: Path, files: dict, index: int, role: str) -> Path:
    """The path of a layer's weight or bias file, refusing names that leave the folder or do not exist."""
    entry = files.get(str(index))
    name = entry.get(role) if isinstance(entry, dict) else None
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(".npy"):
        raise ModelError(f"{folder}: manifest lists no valid {role} file for layer {index}")
    if not (folder / name).is_file():
        raise ModelError(f"{folder}: missing {role} file {name}")
    return folder / name


def _open_npy(path: Path) -> np.ndarray:
    """Open a .npy file memory-mapped, turning any parse failure into ModelError."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a valid .npy array ({exc})") from None


def load(folder: str | Path) -> Model:
    """Load a compiled folder (weights memory-mapped), verifying every file against the manifest digest."""
    folder = Path(folder)
    manifest = _read_manifest(folder)
    layers = [Layer.from_dict(entry) for entry in manifest["layers"]]
    try:
        input_shape = tuple(int(v) for v in manifest["input_shape"])
    except (TypeError, ValueError):
        raise ModelError(f"{folder}: malformed input_shape") from None
    weights: list = [None] * len(layers)
    biases: list = [None] * len(layers)
    for index, layer in enumerate(layers):
        if not layer.has_weights:
            continue
        weight_path = _data_file(folder, manifest["files"], index, "weight")
        weight = _open_npy(weight_path)
        if weight.dtype != np.int8 or tuple(weight.shape) != layer.weight_shape:
            raise ModelError(
                f"{weight_path}: holds {weight.dtype}{list(weight.shape)}, the manifest says "
                f"int8{list(layer.weight_shape)}"
            )
        del weight
        weights[index] = weight_path
        bias = _open_npy(_data_file(folder, manifest["files"], index, "bias"))
        biases[index] = np.array(bias, dtype=bias.dtype) if bias.dtype == np.int64 else bias
    model = Model(manifest["name"], input_shape, manifest["input_frac"], layers, weights, biases)
    if model.digest != manifest["digest"]:
        raise ModelError(f"{folder}: the weight/bias files or manifest do not match the manifest's digest")
    return model


def cached(folder: Path, write: Callable[[Path], None]) -> Model:
    """Load the compiled model cached at ``folder``, or build it with ``write(staging)`` and publish it.

    A stale or corrupt cache folder is rebuilt; the new folder appears atomically (rename of a staging
    folder beside it), so a concurrent or interrupted build never leaves a half-written model behind.
    """
    if folder.exists():
        if (folder / MANIFEST).is_file():
            try:
                return load(folder)
            except ModelError:
                pass
        shutil.rmtree(folder, ignore_errors=True)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    except OSError as exc:
        raise ModelError(
            f"cannot write the model cache {folder.parent} ({exc.strerror}); "
            "set EDGEPROVE_CACHE to a writable folder"
        ) from None
    try:
        write(staging)
        try:
            staging.rename(folder)
        except OSError:
            if not (folder / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load(folder)
