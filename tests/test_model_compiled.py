"""Compiled model folders: round trip, digest stability, memory mapping and tamper detection."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeprove.model import compiled, ops, zoo
from edgeprove.model.ir import Layer, Model, ModelError


@pytest.fixture(scope="module")
def tiny_cnn() -> Model:
    return zoo.build("tiny_cnn").model


@pytest.fixture()
def saved(tiny_cnn, tmp_path) -> Path:
    return compiled.save(tiny_cnn, tmp_path / "tiny_cnn")


def fixed_model(shift: int = 2, weight_delta: int = 0) -> Model:
    """A hand-written two-layer model whose digest is pinned below."""
    layers = [
        Layer("conv1", "conv2d", -1, (1, 3, 3), (2, 3, 3), shift, "relu", 3, 1, 1, weight_frac=5, out_frac=3),
        Layer("fc", "dense", 0, (2, 3, 3), (2, 1, 1), 0, "none", weight_frac=4, out_frac=7),
    ]
    weights = [
        np.arange(-9, 9, dtype=np.int8).reshape(2, 1, 3, 3),
        np.arange(36, dtype=np.int8).reshape(2, 18) + np.int8(weight_delta),
    ]
    biases = [np.array([5, -5], dtype=np.int64), np.array([100, -100], dtype=np.int64)]
    return Model("fixed", (1, 3, 3), 7, layers, weights, biases)


def test_round_trip_preserves_everything(tiny_cnn, saved):
    loaded = compiled.load(saved)
    assert loaded.name == tiny_cnn.name and loaded.input_shape == tiny_cnn.input_shape
    assert loaded.input_frac == tiny_cnn.input_frac and loaded.layers == tiny_cnn.layers
    assert loaded.digest == tiny_cnn.digest
    for index, layer in enumerate(loaded.layers):
        if layer.has_weights:
            assert isinstance(loaded.weight(index), np.memmap)
            np.testing.assert_array_equal(loaded.weight(index), tiny_cnn.weight(index))
            np.testing.assert_array_equal(loaded.bias(index), tiny_cnn.bias(index))
    x = np.random.default_rng(0).integers(-128, 128, tiny_cnn.input_shape)
    np.testing.assert_array_equal(ops.run(loaded, x), ops.run(tiny_cnn, x))


def test_digest_is_stable(tmp_path):
    model = fixed_model()
    first = compiled.load(compiled.save(model, tmp_path / "a"))
    second = compiled.load(compiled.save(first, tmp_path / "b"))
    assert model.digest == first.digest == second.digest
    assert model.digest == "a56952726fa043dee40ad77508463862d724ee2030a605a4fccc4e76e1bb6cec"


def test_digest_covers_weights_and_architecture():
    digests = {fixed_model().digest, fixed_model(shift=3).digest, fixed_model(weight_delta=1).digest}
    assert len(digests) == 3


def flip_data_byte(path: Path) -> None:
    """Change the last byte of a .npy file (inside its data section)."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def test_tampered_weight_file_is_refused(saved):
    flip_data_byte(next(saved.glob("w0002_*.npy")))
    with pytest.raises(ModelError, match="do not match the manifest's digest"):
        compiled.load(saved)


def test_tampered_bias_file_is_refused(saved):
    flip_data_byte(next(saved.glob("b0000_*.npy")))
    with pytest.raises(ModelError, match="digest"):
        compiled.load(saved)


def edit_manifest(folder: Path, change) -> None:
    manifest = json.loads((folder / compiled.MANIFEST).read_text())
    change(manifest)
    (folder / compiled.MANIFEST).write_text(json.dumps(manifest))


def test_tampered_manifest_layer_is_refused(saved):
    edit_manifest(saved, lambda m: m["layers"][1].update(shift=m["layers"][1]["shift"] + 1))
    with pytest.raises(ModelError, match="digest"):
        compiled.load(saved)


def test_tampered_manifest_digest_is_refused(saved):
    edit_manifest(saved, lambda m: m.update(digest="0" * 64))
    with pytest.raises(ModelError, match="digest"):
        compiled.load(saved)


def test_weight_file_of_wrong_shape_is_refused(saved, tiny_cnn):
    path = next(saved.glob("w0000_*.npy"))
    np.save(path, np.zeros((1, 2), dtype=np.int8))
    with pytest.raises(ModelError, match="the manifest says"):
        compiled.load(saved)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.update(version=99), "version 99"),
        (lambda m: m.update(format="other"), "not an edgeprove-model manifest"),
        (lambda m: m.pop("layers"), "'layers'"),
        (lambda m: m["files"]["0"].update(weight="../escape.npy"), "no valid weight file"),
        (lambda m: m["files"]["0"].update(weight="missing.npy"), "missing weight file"),
        (lambda m: m["layers"][0].update(colour="blue"), "unknown field"),
        (lambda m: m["layers"][0].update(kernel="3"), "bad value for kernel"),
        (lambda m: m["layers"][0].pop("shift"), "missing field.s. shift"),
        (lambda m: m["layers"][0].update(in_shape=[3, 9]), "bad value for shape"),
        (lambda m: m["layers"][0].update(kind="softmax"), "unknown kind"),
    ],
)
def test_malformed_manifest_is_refused(saved, change, message):
    edit_manifest(saved, change)
    with pytest.raises(ModelError, match=message):
        compiled.load(saved)


def test_not_a_model_folder(tmp_path):
    with pytest.raises(ModelError, match="no such directory"):
        compiled.load(tmp_path / "nothing")
    with pytest.raises(ModelError, match="no manifest.json"):
        compiled.load(tmp_path)
    (tmp_path / compiled.MANIFEST).write_text("{not json")
    with pytest.raises(ModelError, match="unreadable manifest"):
        compiled.load(tmp_path)


def test_corrupt_npy_is_refused(saved):
    next(saved.glob("w0000_*.npy")).write_bytes(b"garbage")
    with pytest.raises(ModelError, match="not a valid .npy"):
        compiled.load(saved)


def test_copied_folder_loads_with_same_digest(saved, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    assert compiled.load(copy).digest == compiled.load(saved).digest
