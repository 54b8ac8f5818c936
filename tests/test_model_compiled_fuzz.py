"""Structure-aware fuzzing of the compiled-model loader: a valid folder's manifest and weight files are
mutated (wrong types, huge and negative numbers, missing and unknown keys, deep nesting, long and unicode
strings, truncated, padded, rewritten, linked or replaced .npy files), often with the digest recomputed so
the mutation reaches the deeper checks. Every case must give a Model or a one-line ModelError, never another
exception, and load nothing large. Derandomized, so CI runs the same cases every time."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import tracemalloc
from pathlib import Path

import modelfiles
import numpy as np
import pytest
from conftest import small_cnn
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from edgeprove.model import compiled
from edgeprove.model.ir import Model, ModelError

CASES = 500
PEAK_BYTES = 64 << 20
"""Most Python/numpy memory one load may allocate: the weights are a few hundred bytes, and parsing a manifest
within the ceilings a few tens of MiB at worst."""
DUPLICATE_BYTES = 2 << 20
"""What one duplication may add to the manifest (enough to cross the layer and item ceilings)."""
HEADER_KEYS = ("format", "version", "name", "input_shape", "input_frac", "layers")
DEEP = "__deep__"
"""Placeholder replaced by a deeply nested JSON list when the manifest is written."""

BOUNDARY_INTS = [0, 1, -1, 2, 3, 7, 16, 17, 32, 33, 64, 65, 127, 128, 256, 257, 4096, 4097]
BOUNDARY_INTS += [1 << 13, 1 << 26, (1 << 26) + 1, 1 << 28, 1 << 31, 1 << 32, (1 << 63) - 1, 1 << 63, 1 << 64]
BOUNDARY_INTS += [-(1 << 63), 10**30]
STRINGS = ["", "../../etc/passwd", "/dev/zero", "[/bold]", "a\nb", "nul\x00byte", "ü∂€😀", "w0.npy"]
STRINGS += ["conv2d", "dense", "relu", "none", "clamp", "maxpool", "edgeprove-model"]
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(BOUNDARY_INTS),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(4000, 4299).map(lambda digits: 10**digits),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(STRINGS),
    st.integers(1, 100_000).map(lambda length: "x" * length),
    st.text(max_size=40),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
) | st.just(DEEP)
SHAPE_VALUES = st.lists(st.sampled_from(BOUNDARY_INTS), min_size=3, max_size=3) | st.lists(
    st.sampled_from(BOUNDARY_INTS), max_size=4
)
INT_FIELDS = ["kernel", "stride", "padding", "shift", "residual_shift", "weight_frac", "out_frac", "source"]
INT_FIELDS += ["residual", "act_max", "input_frac", "version"]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, list[tuple[np.ndarray, np.ndarray]]]:
    """A valid compiled folder of every layer kind, and its (weight, bias) arrays in layer order."""
    model = small_cnn()
    folder = compiled.save(model, tmp_path_factory.mktemp("fuzz") / "model")
    arrays = [(np.asarray(w), np.asarray(b)) for _, w, b in model.weight_arrays()]
    return folder, arrays


def containers(value, path=()):
    """Every (path, dict or list) inside a JSON value, itself included."""
    if isinstance(value, dict | list):
        yield path, value
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            yield from containers(item, (*path, key))


def mutate_manifest(data: st.DataObject, manifest: dict) -> None:
    """Apply one mutation: an IR field or a shape set to a boundary value (to reach the ceilings), or anywhere
    in the tree a value replaced, a key deleted or added, or a list entry repeated."""
    entries = manifest.get("layers")
    layers = [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []
    action = data.draw(
        st.sampled_from(["field", "shape", "set", "delete", "add", "duplicate"]), label="action"
    )
    if action in ("field", "shape") and layers:
        entry = data.draw(st.sampled_from([manifest, *layers]), label="entry")
        if action == "field":
            key = data.draw(st.sampled_from(INT_FIELDS), label="field")
            entry[key] = data.draw(st.sampled_from(BOUNDARY_INTS) | st.integers(-300, 300), label="int")
        else:
            key = (
                "input_shape" if entry is manifest else data.draw(st.sampled_from(["in_shape", "out_shape"]))
            )
            entry[key] = data.draw(SHAPE_VALUES, label="shape")
        return
    _, target = data.draw(st.sampled_from(list(containers(manifest))), label="container")
    keys = list(target) if isinstance(target, dict) else list(range(len(target)))
    if not keys or action == "add":
        if isinstance(target, dict):
            target[data.draw(st.text(max_size=12), label="new key")] = data.draw(
                JSON_VALUES, label="new value"
            )
        else:
            target.append(data.draw(JSON_VALUES, label="appended"))
        return
    key = data.draw(st.sampled_from(keys), label="key")
    if action == "delete":
        del target[key]
    elif action == "duplicate" and isinstance(target, list):
        copies = data.draw(st.integers(1, 5000), label="copies")
        size = len(json.dumps(target[key]).replace(json.dumps(DEEP), "[]"))
        target.extend([target[key]] * min(copies, DUPLICATE_BYTES // size))
    else:
        target[key] = data.draw(JSON_VALUES, label="value")


def write_manifest(folder: Path, manifest: dict, depth: int) -> None:
    """Write the manifest, with the first DEEP placeholder replaced by a list nested ``depth`` deep (any
    other by an empty list)."""
    text = json.dumps(manifest, allow_nan=False).replace(json.dumps(DEEP), "[" * depth + "]" * depth, 1)
    (folder / compiled.MANIFEST).write_text(text.replace(json.dumps(DEEP), "[]"))


def npy_header(descr: str, shape: tuple, fortran: bool, version: int) -> bytes:
    body = repr({"descr": descr, "fortran_order": fortran, "shape": shape}).encode() + b"\n"
    width = 2 if version == 1 else 4
    return b"\x93NUMPY" + bytes([version, 0]) + len(body).to_bytes(width, "little") + body


def mutate_file(data: st.DataObject, folder: Path, outside: Path) -> None:
    """Damage one small regular .npy file of the folder (one not damaged yet) in one of many ways."""
    candidates = [p for p in sorted(folder.glob("*.npy")) if p.is_file() and not p.is_symlink()]
    candidates = [p for p in candidates if p.stat().st_size < 1 << 20]
    if not candidates:
        return
    path = data.draw(st.sampled_from(candidates), label="file")
    content = path.read_bytes()
    action = data.draw(
        st.sampled_from(
            [
                "truncate",
                "append",
                "random",
                "header",
                "sparse",
                "empty",
                "link_out",
                "link_dir",
                "directory",
                "bitflip",
                "link_loop",
            ]
        ),
        label="file action",
    )
    if action == "truncate":
        path.write_bytes(content[: data.draw(st.integers(0, len(content)), label="length")])
    elif action == "append":
        path.write_bytes(content + data.draw(st.binary(min_size=1, max_size=64), label="tail"))
    elif action == "random":
        path.write_bytes(data.draw(st.binary(max_size=512), label="bytes"))
    elif action == "header":
        descr = data.draw(
            st.sampled_from(["|i1", "<i8", ">i8", "<f8", "|O", "|b1", "<U4", "V8", "<i4", "zz"])
        )
        shape = tuple(data.draw(st.lists(st.sampled_from(BOUNDARY_INTS), max_size=4), label="npy shape"))
        header = npy_header(descr, shape, data.draw(st.booleans()), data.draw(st.sampled_from([1, 2])))
        path.write_bytes(header + data.draw(st.binary(max_size=256), label="data"))
    elif action == "sparse":
        with path.open("r+b") as handle:
            handle.truncate(data.draw(st.sampled_from([1 << 20, 1 << 33]), label="sparse size"))
    elif action == "empty":
        path.write_bytes(b"")
    elif action == "link_out":
        path.unlink()
        path.symlink_to(data.draw(st.sampled_from([outside, Path("/dev/zero"), Path("/proc/self/mem")])))
    elif action == "link_loop":
        path.unlink()
        path.symlink_to(path.name)
    elif action == "link_dir":
        path.unlink()
        path.symlink_to(".")
    elif action == "directory":
        path.unlink()
        path.mkdir()
    elif content:
        flipped = bytearray(content)
        flipped[data.draw(st.integers(0, len(content) - 1), label="byte")] ^= 1 << data.draw(
            st.integers(0, 7)
        )
        path.write_bytes(bytes(flipped))


@settings(
    max_examples=CASES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(data=st.data())
def test_mutated_folders_load_or_fail_with_one_line(template, data):
    source, arrays = template
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "model"
        shutil.copytree(source, folder)
        outside = Path(scratch) / "outside.npy"
        outside.write_bytes((source / "w0000_conv1.npy").read_bytes())
        manifest = json.loads((folder / compiled.MANIFEST).read_text())
        for _ in range(data.draw(st.integers(0, 4), label="manifest mutations")):
            mutate_manifest(data, manifest)
        if data.draw(st.booleans(), label="recompute digest"):
            header = {key: manifest[key] for key in HEADER_KEYS if key in manifest}
            manifest["digest"] = modelfiles.digest_of(header, arrays)
        depth = data.draw(st.sampled_from([1, 50, 5000, 200_000]), label="nesting depth")
        write_manifest(folder, manifest, depth)
        for _ in range(data.draw(st.integers(0, 2), label="file mutations")):
            mutate_file(data, folder, outside)
        tracemalloc.start()
        try:
            model = compiled.load(folder)
        except ModelError as error:
            message = str(error)
            assert message and "\n" not in message and len(message) < 1000, message
            event(re.sub(r"/\S*|'.*?'|\d[\d,]*", "_", message)[:60])  # paths, values and numbers as _
        else:
            assert isinstance(model, Model)
            event("loaded")
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < PEAK_BYTES, f"{peak:,} bytes allocated"


def test_the_template_loads_and_its_digest_is_recomputed_exactly(template):
    """The starting point is valid, so a mutation with a recomputed digest reaches the checks after it."""
    source, arrays = template
    manifest = json.loads((source / compiled.MANIFEST).read_text())
    assert compiled.load(source).digest == manifest["digest"]
    assert modelfiles.digest_of({key: manifest[key] for key in HEADER_KEYS}, arrays) == manifest["digest"]
