"""Compiled model folders: ``manifest.json`` plus one ``.npy`` file per weight and per bias.

The manifest holds the format name and version, the model name, input shape and fraction bits, the layers
(every IR field), the weight/bias file names of each weighted layer and the model digest.  A folder is hostile
input: loading checks the manifest against the IR's ceilings (``edgeprove.model.ir``), keeps every file inside
the folder and checks each .npy header and file size against the manifest before opening the weights
memory-mapped; it then recomputes the digest from the files and refuses a folder that does not match.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgeprove.model import npy
from edgeprove.model.ir import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_LAYERS,
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_ITEMS,
    Layer,
    Model,
    ModelError,
    check_frac,
    check_name,
    check_shape,
    check_sigmoid_scales,
    short,
    validate_layers,
)
from edgeprove.process.atomic import reap_stale_temps, remove_path, temp_path

MANIFEST = "manifest.json"
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}\.npy")
"""A weight or bias file name a manifest may list: a plain name inside the folder (no separators)."""
DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}")


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
        _write_npy(folder / weight_name, np.ascontiguousarray(weight, dtype=np.int8))
        _write_npy(folder / bias_name, np.ascontiguousarray(bias, dtype="<i8"))
        files[str(index)] = {"weight": weight_name, "bias": bias_name}
    manifest = model.header() | {"files": files, "digest": model.digest}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return folder


def _write_npy(path: Path, array: np.ndarray) -> None:
    """Write a C-order array as a .npy file (the bytes ``np.save`` writes) with plain file writes, so that a
    full disk is an OSError carrying its errno (numpy's own writer drops it)."""
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, np.lib.format.header_data_from_array_1_0(array))
        handle.write(array.reshape(-1).view(np.uint8).data)


def real_path(path: Path) -> Path:
    """The path with every symbolic link resolved; unlike Path.resolve, a link loop is not an error (the
    file checks that follow report it)."""
    return Path(os.path.realpath(path))


def _inside(folder: Path, name: str, what: str) -> Path:
    """``folder / name``, refusing a missing entry and a symbolic link that leads out of the folder."""
    path = folder / name
    if not path.is_symlink() and not path.exists():
        raise ModelError(f"{folder}: missing {what} {name}")
    if path.is_symlink() and not real_path(path).is_relative_to(real_path(folder)):
        raise ModelError(f"{path}: {what} is a symbolic link out of the model folder")
    return path


def _no_constant(name: str):
    """json.loads hook refusing NaN and Infinity, which are not JSON."""
    raise ValueError(f"{name} is not JSON")


def _read_manifest(folder: Path) -> dict:
    """Parse and sanity-check manifest.json (at most MAX_MANIFEST_BYTES), raising ModelError with one line."""
    if not folder.is_dir():
        raise ModelError(f"{folder}: not a compiled model folder (no such directory)")
    if not (folder / MANIFEST).is_symlink() and not (folder / MANIFEST).exists():
        raise ModelError(f"{folder}: not a compiled model folder (no {MANIFEST})")
    path = _inside(folder, MANIFEST, "manifest")
    npy.regular_file(path, "manifest", "JSON file")
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise ModelError(
                f"{path}: the manifest is larger than the ceiling of {MAX_MANIFEST_BYTES >> 20} MiB"
            )
        with path.open("rb") as handle:
            raw = handle.read(size)
    except OSError as exc:
        raise ModelError(f"{path}: unreadable manifest ({exc.strerror})") from None
    if raw.count(b"{") + raw.count(b"[") > MAX_MANIFEST_ITEMS or raw.count(b",") > MAX_MANIFEST_ITEMS:
        raise ModelError(f"{path}: the manifest holds more JSON values than a {MAX_LAYERS}-layer model needs")
    try:
        manifest = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ModelError(f"{path}: unreadable manifest (not UTF-8 text)") from None
    except RecursionError:
        raise ModelError(f"{path}: unreadable manifest (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, integers of more than 4300 digits
        raise ModelError(f"{path}: unreadable manifest (not JSON: {short(str(exc), 80)})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ModelError(f"{path}: not an {FORMAT_NAME} manifest")
    version = manifest.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise ModelError(
            f"{path}: format version {short(version)} is not supported "
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
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise ModelError(f"{path}: field {key!r} is missing or malformed")
    check_name("model", manifest["name"])
    check_shape("the model input", manifest["input_shape"])
    check_frac("input_frac", manifest["input_frac"])
    if len(manifest["layers"]) > MAX_LAYERS:
        raise ModelError(f"{path}: {len(manifest['layers']):,} layers, above the ceiling of {MAX_LAYERS}")
    if not DIGEST_PATTERN.fullmatch(manifest["digest"]):
        raise ModelError(f"{path}: field 'digest' is not 64 hex digits")
    return manifest


def _data_file(folder: Path, files: dict, index: int, role: str, dtype: str, shape: tuple[int, ...]) -> Path:
    """The path of a layer's weight or bias file, after checking its name stays in the folder and its header
    and size declare exactly ``dtype`` and ``shape`` in C order (nothing but the header is read)."""
    entry = files.get(str(index))
    name = entry.get(role) if isinstance(entry, dict) else None
    if not isinstance(name, str) or not FILE_NAME.fullmatch(name):
        raise ModelError(f"{folder}: manifest lists no valid {role} file for layer {index}")
    path = _inside(folder, name, f"{role} file")
    expected = f"{np.dtype(dtype)}{list(shape)} in C order"
    header = npy.read_header(path, f"{role} file", expected)
    if header.dtype != np.dtype(dtype) or header.shape != tuple(shape) or header.fortran_order:
        order = " in Fortran order" if header.fortran_order else ""
        raise ModelError(f"{path}: holds {header.describe()}{order}, the manifest says {expected}")
    return path


def _checked(folder: Path) -> tuple[dict, list[Layer], dict[int, tuple[Path, Path]]]:
    """The manifest, the layers and each weighted layer's (weight, bias) paths, after every check that reads
    no more than the manifest and the .npy headers."""
    manifest = _read_manifest(folder)
    layers = [Layer.from_dict(entry) for entry in manifest["layers"]]
    validate_layers(tuple(manifest["input_shape"]), layers)
    check_sigmoid_scales(manifest["input_frac"], layers)
    paths = {}
    for index, layer in enumerate(layers):
        if layer.has_weights:
            paths[index] = (
                _data_file(folder, manifest["files"], index, "weight", "|i1", layer.weight_shape),
                _data_file(folder, manifest["files"], index, "bias", "<i8", (layer.out_shape[0],)),
            )
    return manifest, layers, paths


def check(folder: str | Path) -> None:
    """Check a compiled folder as ``load`` does, except the digest: the manifest against the ceilings, and
    every weight file's name, header and size (no weights are read)."""
    _checked(Path(folder))


def load(folder: str | Path) -> Model:
    """Load a compiled folder (weights memory-mapped), verifying every file against the manifest digest.

    The manifest is checked against the IR's ceilings and every weight file's header and size against the
    manifest before anything large is read, mapped or hashed.
    """
    folder = Path(folder)
    manifest, layers, paths = _checked(folder)
    weights: list = [None] * len(layers)
    biases: list = [None] * len(layers)
    for index, (weight_path, bias_path) in paths.items():
        weights[index] = weight_path
        biases[index] = npy.load(bias_path, "bias file")
    model = Model(
        manifest["name"], tuple(manifest["input_shape"]), manifest["input_frac"], layers, weights, biases
    )
    if model.digest != manifest["digest"]:
        raise ModelError(f"{folder}: the weight/bias files or manifest do not match the manifest's digest")
    return model


def discard(folder: Path) -> None:
    """Remove a cache folder (stale or corrupt); a concurrent reader keeps its open memory maps."""
    shutil.rmtree(folder, ignore_errors=True)


def check_new_folder(target: Path) -> None:
    """Refuse a target for a new folder that is a file, a non-empty folder or an unusable path (a name too
    long, a parent that is a file: ModelError, one line)."""
    try:
        if target.is_symlink():
            raise ModelError(f"{target}: is a symbolic link; choose a new folder")
        if target.exists() and not target.is_dir():
            raise ModelError(f"{target}: is a file, not a folder; choose a new folder")
        if target.is_dir() and any(target.iterdir()):
            raise ModelError(f"{target}: the folder is not empty; choose a new folder or empty this one")
    except OSError as exc:
        raise ModelError(f"cannot write the compiled model to {target} ({exc.strerror or exc})") from None


def create_folder(target: Path, write: Callable[[Path], None]) -> None:
    """Create the new folder ``target`` (absent or empty): ``write(staging)`` fills a staging folder beside it
    (same parent, so the rename is atomic), which is synced and renamed into place only once complete.

    A non-empty target is refused; on any failure (a full disk, an interruption) the staging folder is
    removed and the target is left as it was.  The staging folder is named as ``atomic.temp_path`` names
    temporaries (``.<target name>.tmp-<owner>-<random>``), so one left by a killed process is removed by a
    later call in the same folder once that process is gone.
    """
    check_new_folder(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        reap_stale_temps(target.parent)
        staging = temp_path(target)  # within NAME_MAX for any valid target name
        staging.mkdir()
    except OSError as exc:
        raise ModelError(f"cannot write the compiled model to {target} ({exc.strerror})") from None
    try:
        write(staging)
        _sync_tree(staging)
        staging.rename(target)
        _sync(target.parent)
    except OSError as exc:
        if target.is_dir() and any(target.iterdir()) and exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise ModelError(
                f"{target}: the folder is not empty; choose a new folder or empty this one"
            ) from None
        raise ModelError(f"cannot write the compiled model to {target} ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sync(path: Path) -> None:
    """fsync a file or folder, so a rename that publishes it follows its contents to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sync_tree(folder: Path) -> None:
    """fsync every file of a folder and then the folder itself."""
    for path in folder.iterdir():
        _sync(path)
    _sync(folder)


def cached(folder: Path, write: Callable[[Path], None]) -> Model:
    """Load the compiled model cached at ``folder``, or build it with ``write(staging)`` and publish it.

    A stale or corrupt cache folder is rebuilt; the new folder appears atomically (rename of a staging
    folder beside it), so a concurrent or interrupted build never leaves a half-written model behind.  The
    staging folder is named as ``edgeprove.process.atomic.temp_path`` names temporaries (owner pid, start
    time, pid namespace): it is removed on any error or interruption, and one left by a killed process is
    removed by a later call once that process is gone.  A cache that cannot be written (a full disk, a name
    too long) is one ModelError line naming the folder.
    """
    try:
        return _load_or_build(folder, write)
    except OSError as exc:
        raise ModelError(
            f"cannot write the model cache {folder} ({exc.strerror or exc}); "
            "set EDGEPROVE_CACHE to a writable folder"
        ) from None


def _load_or_build(folder: Path, write: Callable[[Path], None]) -> Model:
    """``cached`` without the translation of OSError into ModelError."""
    reap_stale_temps(folder.parent)
    if folder.exists():
        if (folder / MANIFEST).is_file():
            try:
                return load(folder)
            except ModelError:
                pass
        discard(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = temp_path(folder)  # named before the try, so the cleanup covers every moment it may exist
    try:
        staging.mkdir()
        write(staging)
        try:
            staging.rename(folder)
        except OSError:
            if not (folder / MANIFEST).is_file():
                raise
    finally:
        remove_path(staging)
    return load(folder)
