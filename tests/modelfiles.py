"""Compiled-model folders written by hand, with a digest recomputed from their contents, so tests can build
hostile folders (huge shapes, odd files) that a ``Model`` would refuse to create."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from edgeprove.model.ir import FORMAT_NAME, FORMAT_VERSION, canonical_json


def digest_of(header: dict, arrays: list[tuple[np.ndarray, np.ndarray]]) -> str:
    """The model digest of a manifest header and its (weight, bias) arrays, as ``Model.digest`` defines it."""
    hasher = hashlib.sha256(b"edgeprove-model\x00")
    for data in [canonical_json(header)] + [
        np.ascontiguousarray(a).tobytes() for pair in arrays for a in pair
    ]:
        hasher.update(len(data).to_bytes(8, "little"))
        hasher.update(data)
    return hasher.hexdigest()


def layer(name: str, kind: str, source: int, in_shape, out_shape, **fields) -> dict:
    """A manifest layer entry with every field (defaults: no shift, activation none, 1x1 window)."""
    entry = {
        "name": name,
        "kind": kind,
        "source": source,
        "in_shape": list(in_shape),
        "out_shape": list(out_shape),
        "shift": 0,
        "activation": "none",
        "kernel": 1,
        "stride": 1,
        "padding": 0,
        "residual": None,
        "residual_shift": 0,
        "weight_frac": 0,
        "out_frac": 0,
    }
    return entry | fields


def header(input_shape, layers: list[dict], name: str = "hostile", input_frac: int = 0) -> dict:
    """The digest-covered part of a manifest."""
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "name": name,
        "input_shape": list(input_shape),
        "input_frac": input_frac,
        "layers": layers,
    }


def write_folder(
    folder: Path,
    input_shape,
    layers: list[dict],
    arrays: dict[int, tuple[np.ndarray, np.ndarray]] | None = None,
    **fields,
) -> Path:
    """Write a folder: the given (weight, bias) arrays of each weighted layer index as w<i>.npy / b<i>.npy and
    a manifest whose digest matches them."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = arrays or {}
    files = {}
    for index, (weight, bias) in arrays.items():
        np.save(folder / f"w{index}.npy", weight)
        np.save(folder / f"b{index}.npy", bias)
        files[str(index)] = {"weight": f"w{index}.npy", "bias": f"b{index}.npy"}
    head = header(input_shape, layers, **fields)
    ordered = [arrays[index] for index in sorted(arrays)]
    manifest = head | {"files": files, "digest": digest_of(head, ordered)}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder
