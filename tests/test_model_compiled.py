"""Compiled model folders: round trip, digest stability, memory mapping and tamper detection."""

from __future__ import annotations

import io
import json
import os
import shutil
import tracemalloc
from pathlib import Path

import modelfiles
import numpy as np
import pytest

from edgeprove.model import compiled, ops, zoo
from edgeprove.model.bounds import check_model
from edgeprove.model.ir import MAX_MANIFEST_BYTES, Layer, Model, ModelError


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


def test_a_boolean_dimension_in_a_weight_header_is_refused(tmp_path):
    """(2, True, 3, 3) equals the manifest's (2, 1, 3, 3) in Python and the digest covers the same bytes, but
    numpy cannot read such a file: the header is refused in one line before anything is mapped."""
    folder = compiled.save(fixed_model(), tmp_path / "m")
    path = folder / "w0000_conv1.npy"
    body = b"{'descr': '|i1', 'fortran_order': False, 'shape': (2, True, 3, 3), }\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body + path.read_bytes()[-18:])
    with pytest.raises(ModelError, match=r"w0000_conv1.npy: not a valid .npy file \(a dimension that is not"):
        compiled.load(folder)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (Path.unlink, "No such file or directory"),
        (lambda path: path.write_bytes(b""), "No data left in file"),
        (lambda path: path.write_bytes(path.read_bytes()[:-1]), "mmap length is greater than file size"),
    ],
)
def test_a_weight_file_damaged_after_loading_is_one_line(saved, damage, reason):
    model = compiled.load(saved)
    index = next(i for i, layer in enumerate(model.layers) if layer.has_weights)
    damage(model.weights[index])
    with pytest.raises(
        ModelError, match=rf"layer {model.layers[index].name}: cannot read its weight file .*{reason}"
    ):
        model.weight(index)


def test_a_new_folder_name_too_long_is_one_line(tmp_path):
    target = tmp_path / ("a" * 300)
    for call in (
        lambda: compiled.check_new_folder(target),
        lambda: compiled.create_folder(target, lambda staging: None),
    ):
        with pytest.raises(
            ModelError, match=r"cannot write the compiled model to .*a{300} \(File name too long\)$"
        ):
            call()
    assert list(tmp_path.iterdir()) == []


def test_a_new_folder_of_the_longest_name_is_written(tmp_path):
    """The staging folder beside it shortens the name, so any name the target may have fits."""
    target = tmp_path / ("b" * 255)
    compiled.create_folder(target, lambda staging: (staging / "notes.txt").write_text("x"))
    assert list(tmp_path.iterdir()) == [target] and (target / "notes.txt").read_text() == "x"


# ----- hostile folders: a recomputed (valid) digest, so only the ceilings and file checks stand in the way


def gap_model(folder: Path, shape) -> Path:
    """A one-layer global average pool over ``shape``: no weight files at all."""
    c, h, w = shape
    return modelfiles.write_folder(
        folder, shape, [modelfiles.layer("gap", "global_avgpool", -1, shape, (c, 1, 1))]
    )


def dense_pair(folder: Path, **changes) -> Path:
    """Two dense layers (4 -> 4 -> 2) with their weight files; ``changes`` edit the second layer's entry."""
    first = modelfiles.layer("a", "dense", -1, (4, 1, 1), (4, 1, 1), shift=3, activation="clamp")
    second = modelfiles.layer("b", "dense", 0, (4, 1, 1), (2, 1, 1)) | changes
    arrays = {
        0: (np.ones((4, 4), np.int8), np.zeros(4, np.int64)),
        1: (np.ones((2, 4), np.int8), np.zeros(2, np.int64)),
    }
    return modelfiles.write_folder(folder, (4, 1, 1), [first, second], arrays)


def test_hand_written_folder_loads(tmp_path):
    model = compiled.load(dense_pair(tmp_path / "m"))
    assert [layer.name for layer in model.layers] == ["a", "b"]


@pytest.mark.parametrize(
    "shape, message",
    [
        ((64, 8192, 8192), r"the model input: shape \(64, 8192, 8192\) has 4,294,967,296 values .* ceiling"),
        ((10**30, 1, 1), "the model input: shape .* above the ceiling of 67,108,864"),
        ((65, 1024, 1024), "values on its padded grid"),
    ],
)
def test_huge_shapes_are_refused_before_anything_is_allocated(tmp_path, shape, message):
    folder = gap_model(tmp_path / "m", shape)
    tracemalloc.start()
    try:
        with pytest.raises(ModelError, match=message):
            compiled.load(folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_the_target_input_size_is_within_the_ceilings(tmp_path):
    compiled.check(gap_model(tmp_path / "m", (64, 512, 1024)))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"in_shape": [1 << 20, 1, 1]}, "in_shape differs|in_shape"),
        ({"shift": 10**9, "activation": "clamp"}, "shift 1000000000 is above the ceiling of 32"),
        ({"residual": 0, "residual_shift": 70}, "residual_shift 70 is above the ceiling of 32"),
        ({"out_frac": -(10**6)}, r"out_frac -1000000 is outside \[-256, 256\]"),
        ({"weight_frac": 257}, "weight_frac 257 is outside"),
        ({"name": "../../etc"}, "layer name '../../etc' must be 1-128 characters"),
        ({"name": "x" * 10**5}, "layer name 'xxx.*… must be"),
        ({"kind": "[/bold]"}, r"unknown kind '\[/bold\]'"),
        ({"kind": "k" * 10**5}, "unknown kind 'kkk.*…"),
    ],
)
def test_hostile_layer_fields_are_refused_with_one_line(tmp_path, changes, message):
    with pytest.raises(ModelError, match=message) as caught:
        compiled.load(dense_pair(tmp_path / "m", **changes))
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def test_huge_dense_layer_is_refused_before_its_file_is_opened(tmp_path):
    entry = modelfiles.layer("fc", "dense", -1, (1 << 20, 1, 1), (1 << 20, 1, 1))
    folder = modelfiles.write_folder(tmp_path / "m", (1 << 20, 1, 1), [entry])
    with pytest.raises(ModelError, match="1,099,511,627,776 weights, above the ceiling of 67,108,864"):
        compiled.load(folder)


def test_too_many_parameters_in_all_are_refused(tmp_path):
    layers = [
        modelfiles.layer(f"fc{i}", "dense", i - 1, (8192, 1, 1), (8192, 1, 1), activation="clamp")
        for i in range(5)
    ]
    layers[-1]["activation"] = "none"
    folder = modelfiles.write_folder(tmp_path / "m", (8192, 1, 1), layers)
    with pytest.raises(ModelError, match=r"parameters, above the ceiling of 268,435,456 \(2\^28\)"):
        compiled.load(folder)


def test_too_many_layers_are_refused(tmp_path):
    layers = [
        modelfiles.layer(f"p{i}", "avgpool", i - 1, (1, 1, 1), (1, 1, 1), activation="clamp")
        for i in range(4097)
    ]
    folder = modelfiles.write_folder(tmp_path / "m", (1, 1, 1), layers)
    with pytest.raises(ModelError, match="4,097 layers, above the ceiling of 4096"):
        compiled.load(folder)


def test_a_bias_near_the_int64_limit_cannot_wrap_the_bound_check(tmp_path):
    first = modelfiles.layer("a", "dense", -1, (4, 1, 1), (4, 1, 1), shift=3, activation="clamp")
    second = modelfiles.layer("b", "dense", 0, (4, 1, 1), (2, 1, 1))
    arrays = {
        0: (np.full((4, 4), 127, np.int8), np.full(4, 2**63 - 1, np.int64)),
        1: (np.ones((2, 4), np.int8), np.zeros(2, np.int64)),
    }
    model = compiled.load(modelfiles.write_folder(tmp_path / "m", (4, 1, 1), [first, second], arrays))
    with pytest.raises(ModelError, match="layer a: a bias beyond 2.62"):
        check_model(model)


def weight_file(folder: Path) -> Path:
    return folder / "w0.npy"


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"weight file .*w0.npy: not a valid .npy file \(the file is empty\); expected int8\[4, 4\]"),
        (bytes(range(256)) * 3, r"not a valid .npy file \(no .npy signature\)"),
        (b"\x93NUMPY\x01\x00\xff", r"header of 255 bytes|truncated"),
        (
            b"\x93NUMPY\x02\x00\xff\xff\xff\xff",
            r"a header of 4,294,967,295 bytes, above the ceiling of 4,096",
        ),
        (b"\x93NUMPY\x03\x00\x10\x00\x00\x00{}", r"unsupported .npy version 3.0"),
        (npy_bytes(np.ones((4, 4), np.int8))[:-3], r"16 bytes of data, but the file holds 13"),
        (npy_bytes(np.ones((4, 4), np.int8)) + b"trailing", r"16 bytes of data, but the file holds 24"),
        (
            npy_bytes(np.ones((4, 4), np.int16)),
            r"holds int16\[4, 4\], the manifest says int8\[4, 4\] in C order",
        ),
        (npy_bytes(np.ones((2, 8), np.int8)), r"holds int8\[2, 8\], the manifest says int8\[4, 4\]"),
        (npy_bytes(np.zeros(0, np.int8)), r"holds int8\[0\], the manifest says int8\[4, 4\]"),
        (npy_bytes(np.asfortranarray(np.ones((4, 4), np.int8))), r"int8\[4, 4\] in Fortran order"),
        (
            npy_bytes(np.zeros(4, dtype=[("a", "i1"), ("b", "i1"), ("c", "i1"), ("d", "i1")])),
            "structured dtype",
        ),
    ],
)
def test_malformed_weight_files_are_refused(tmp_path, content, message):
    folder = dense_pair(tmp_path / "m")
    weight_file(folder).write_bytes(content)
    with pytest.raises(ModelError, match=message) as caught:
        compiled.load(folder)
    assert "\n" not in str(caught.value) and "allow_pickle" not in str(caught.value)


def test_pickled_bias_is_refused_without_the_numpy_hint(tmp_path):
    folder = dense_pair(tmp_path / "m")
    np.save(folder / "b0.npy", np.array([object()] * 4, dtype=object), allow_pickle=True)
    with pytest.raises(ModelError, match="it holds pickled Python objects") as caught:
        compiled.load(folder)
    assert "allow_pickle" not in str(caught.value)


def test_big_endian_bias_is_refused(tmp_path):
    folder = dense_pair(tmp_path / "m")
    np.save(folder / "b0.npy", np.zeros(4, ">i8"))
    with pytest.raises(ModelError, match=r"holds >i8\[4\], the manifest says int64\[4\]"):
        compiled.load(folder)


def test_a_huge_sparse_weight_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    folder = dense_pair(tmp_path / "m")
    with weight_file(folder).open("r+b") as handle:
        handle.truncate(8 << 30)
    monkeypatch.setattr(Model, "digest", property(lambda self: pytest.fail("the weights were hashed")))
    with pytest.raises(ModelError, match="16 bytes of data, but the file holds 8,589,934,4"):
        compiled.load(folder)


def test_symbolic_links_out_of_the_folder_are_refused(tmp_path):
    folder = dense_pair(tmp_path / "m")
    outside = tmp_path / "outside.npy"
    weight_file(folder).rename(outside)
    weight_file(folder).symlink_to(outside)
    with pytest.raises(ModelError, match="weight file is a symbolic link out of the model folder"):
        compiled.load(folder)
    weight_file(folder).unlink()
    weight_file(folder).symlink_to("/dev/zero")
    with pytest.raises(ModelError, match="symbolic link out of the model folder"):
        compiled.load(folder)


def test_a_symbolic_link_loop_is_one_line(tmp_path):
    folder = dense_pair(tmp_path / "m")
    weight_file(folder).unlink()
    weight_file(folder).symlink_to("loop.npy")
    (folder / "loop.npy").symlink_to("w0.npy")
    with pytest.raises(ModelError, match="w0.npy: cannot read it .Too many levels of symbolic links."):
        compiled.load(folder)


def test_symbolic_links_inside_the_folder_are_followed(tmp_path):
    folder = dense_pair(tmp_path / "m")
    (folder / "sub").mkdir()
    weight_file(folder).rename(folder / "sub" / "real.npy")
    weight_file(folder).symlink_to(Path("sub") / "real.npy")
    compiled.load(folder)
    weight_file(folder).unlink()
    weight_file(folder).symlink_to("sub")
    with pytest.raises(ModelError, match="is a directory"):
        compiled.load(folder)


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "../w0.npy", "sub/w0.npy", ".", "..", "w0.npy\x00", "w0", 7, None]
)
def test_weight_file_names_must_stay_in_the_folder(tmp_path, name):
    folder = dense_pair(tmp_path / "m")
    edit_manifest(folder, lambda m: m["files"]["0"].update(weight=name))
    with pytest.raises(ModelError, match="manifest lists no valid weight file for layer 0"):
        compiled.load(folder)


def test_special_files_are_refused_without_blocking(tmp_path):
    folder = dense_pair(tmp_path / "m")
    weight_file(folder).unlink()
    os.mkfifo(weight_file(folder))
    with pytest.raises(ModelError, match="not a regular file"):
        compiled.load(folder)
    (folder / compiled.MANIFEST).unlink()
    os.mkfifo(folder / compiled.MANIFEST)
    with pytest.raises(ModelError, match="manifest .*manifest.json: not a regular file"):
        compiled.load(folder)


@pytest.mark.parametrize(
    "text, message",
    [
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b"[" * 2000 + b"]" * 2000, "nested too deeply"),
        (b"[" * 300_000 + b"]" * 300_000, "holds more JSON values than a 4096-layer model needs"),
        (b"[" + b"0," * 300_000 + b"0]", "holds more JSON values than a 4096-layer model needs"),
        (b'{"format": "edgeprove-model", "version": ' + b"9" * 5000 + b"}", "not JSON: 'Exceeds the limit"),
        (b'{"format": "edgeprove-model", "version": NaN}', "not JSON: 'NaN is not JSON'"),
        (b'{"format": "edgeprove-model", "version": true}', "format version True is not supported"),
        (b'{"format": "edgeprove-model", "version": "' + b"v" * 10**5 + b'"}', "format version 'vvv.*…"),
    ],
)
def test_hostile_manifest_text_is_refused(tmp_path, text, message):
    folder = dense_pair(tmp_path / "m")
    (folder / compiled.MANIFEST).write_bytes(text)
    with pytest.raises(ModelError, match=message) as caught:
        compiled.load(folder)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def test_a_manifest_above_the_ceiling_is_not_read(tmp_path):
    folder = dense_pair(tmp_path / "m")
    with (folder / compiled.MANIFEST).open("r+b") as handle:
        handle.truncate(MAX_MANIFEST_BYTES + 1)
    with pytest.raises(ModelError, match="larger than the ceiling of 8 MiB"):
        compiled.load(folder)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.update(input_frac=True), "field 'input_frac' is missing or malformed"),
        (lambda m: m.update(input_frac=10**6), r"input_frac 1000000 is outside \[-256, 256\]"),
        (lambda m: m.update(input_shape=[4.0, 1, 1]), "shape .* is not three positive integers"),
        (lambda m: m.update(input_shape=["4", 1, 1]), "shape .* is not three positive integers"),
        (lambda m: m.update(name="a b"), "model name 'a b' must be"),
        (lambda m: m.update(digest="../" * 30), "field 'digest' is not 64 hex digits"),
        (lambda m: m.update(layers=[{}] * 5000), "5,000 layers, above the ceiling of 4096"),
        (
            lambda m: m["layers"][0].update({f"k{i}": 0 for i in range(100)}),
            "unknown field.s. 'k0', .* and 95 more",
        ),
    ],
)
def test_malformed_manifest_fields_are_refused(tmp_path, change, message):
    folder = dense_pair(tmp_path / "m")
    edit_manifest(folder, change)
    with pytest.raises(ModelError, match=message):
        compiled.load(folder)


def test_check_reads_no_weights(tmp_path, monkeypatch):
    folder = dense_pair(tmp_path / "m")
    monkeypatch.setattr(np, "load", lambda *args, **kwargs: pytest.fail("a weight file was loaded"))
    compiled.check(folder)
    flip_data_byte(weight_file(folder))
    compiled.check(folder)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"kernel_w": -5}, "kernel_w and stride_w of at least 1"),
        ({"kernel_w": 10**9}, "kernel_w 1000000000 is above the ceiling of 64"),
        ({"stride_w": 0}, "kernel_w and stride_w of at least 1"),
        ({"border_h": "x" * 10**5}, "border_h must be one of zeros, wrap, clip"),
        ({"border_w": 7}, "bad value for border_w"),
        ({"border_w": "wrap", "kernel_w": 63}, "at least as long as the kernel"),
    ],
)
def test_hostile_probe_fields_are_refused_with_one_line(tmp_path, changes, message):
    entry = modelfiles.layer("p", "probe_conv2d", -1, (1, 8, 9), (2, 4, 5)) | {
        "kernel": 3,
        "kernel_w": 3,
        "stride": 2,
        "stride_w": 2,
        "border_h": "clip",
    }
    arrays = {0: (np.ones((2, 1, 3, 3), np.int8), np.zeros(2, np.int64))}
    folder = modelfiles.write_folder(tmp_path / "m", (1, 8, 9), [entry | changes], arrays)
    with pytest.raises(ModelError, match=message) as caught:
        compiled.load(folder)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300
    compiled.load(modelfiles.write_folder(tmp_path / "ok", (1, 8, 9), [entry], arrays))


SIGMOID_FIELDS = {"activation": "sigmoid", "shift": 1, "weight_frac": 5, "out_frac": 7, "q_frac": 4}
"""A sigmoid on dense_pair's second layer: q's scale is 0 (input) + 5 (weights) - 1 (shift) = 4 bits."""


def test_a_sigmoid_layer_loads_with_q_frac_in_its_manifest(tmp_path):
    model = compiled.load(dense_pair(tmp_path / "m", **SIGMOID_FIELDS))
    assert model.layers[1].to_dict()["q_frac"] == 4 and "act_max" not in model.layers[1].to_dict()
    assert np.array_equal(ops.run(model, np.full((4, 1, 1), 100)), np.full((2, 1, 1), 127))
    assert np.array_equal(ops.run(model, np.full((4, 1, 1), -100)), np.zeros((2, 1, 1)))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"act_max": 100}, "sigmoid at out_frac 7 needs act_max 127, got 100"),
        ({"out_frac": 6}, "sigmoid at out_frac 6 needs act_max 64, got 127"),
        ({"out_frac": 8, "act_max": 127}, r"sigmoid needs out_frac in \[0, 7\], got 8"),
        ({"out_frac": -(10**6)}, r"out_frac -1000000 is outside \[-256, 256\]"),
        ({"q_frac": 17}, r"sigmoid q_frac 17 is outside \[0, 16\]"),
        ({"q_frac": -(10**40)}, r"sigmoid q_frac -1000000000.*… is outside"),
        ({"q_frac": 3}, "sigmoid q_frac 3 differs from its accumulator's fraction less the shift, 4"),
        ({"q_frac": "4"}, "bad value for q_frac"),
        ({"q_frac": True}, "bad value for q_frac"),
        ({"activation": "relu"}, "activation 'relu' takes no q_frac"),
        ({"activation": "Sigmoid"}, "unknown activation 'Sigmoid'"),
        (
            {"activation": "sigmoid", "shift": 0, "q_frac": 5, "act_max": -3},
            r"act_max -3 is outside \[0, 127\]",
        ),
    ],
)
def test_hostile_sigmoid_fields_are_refused_with_one_line(tmp_path, changes, message):
    folder = dense_pair(tmp_path / "m", **(SIGMOID_FIELDS | changes))
    for read in (compiled.load, compiled.check):
        with pytest.raises(ModelError, match=message) as caught:
            read(folder)
        assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def test_a_max_pool_cannot_apply_a_sigmoid(tmp_path):
    conv = modelfiles.layer("c", "conv2d", -1, (1, 4, 4), (1, 4, 4)) | {
        "kernel": 1,
        "activation": "sigmoid",
        "out_frac": 7,
    }
    pool = modelfiles.layer("p", "maxpool", 0, (1, 4, 4), (1, 2, 2)) | {"kernel": 2, "stride": 2}
    arrays = {0: (np.ones((1, 1, 1, 1), np.int8), np.zeros(1, np.int64))}
    for activation, message in (("sigmoid", "maxpool needs activation relu or clamp"), ("relu", None)):
        folder = modelfiles.write_folder(
            tmp_path / activation, (1, 4, 4), [conv, pool | {"activation": activation}], arrays
        )
        if message is None:
            assert compiled.load(folder).layers[1].activation == "relu"
            continue
        with pytest.raises(ModelError, match=message):
            compiled.load(folder)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"extra_sources": [5]}, "layer b: source 5 is not an earlier layer or the input"),
        ({"extra_sources": [1]}, "layer b: source 1 is not an earlier layer or the input"),
        ({"extra_sources": [-7]}, "layer b: source -7 is not an earlier layer or the input"),
        ({"extra_sources": "0"}, "layer b: bad value for extra_sources"),
        ({"extra_sources": [0.5]}, "layer b: bad value for extra_sources"),
        ({"extra_sources": [0] * 10**4}, "layer b: bad value for extra_sources"),
        ({"upsample": [3]}, "layer b: upsample factor 3 is not 1 or 2"),
        ({"upsample": [10**30]}, "layer b: upsample factor 1000000000000000000000000000000 is not 1"),
        ({"upsample": [True]}, "layer b: bad value for upsample"),
        ({"upsample": [2]}, r"layer b: in_shape \(4, 1, 1\) differs from its source's \(4, 2, 2\)"),
        (
            {"extra_sources": [-1], "upsample": [1, 2], "in_shape": [8, 1, 1]},
            "source the input is 2x2 as read, not 1x1: concatenated sources must agree in H and W",
        ),
        ({"extra_sources": [-1]}, r"in_shape \(4, 1, 1\) differs from its sources' concatenation \(8"),
    ],
)
def test_hostile_source_fields_are_refused_with_one_line(tmp_path, changes, message):
    with pytest.raises(ModelError, match=message) as caught:
        compiled.load(dense_pair(tmp_path / "m", **changes))
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def test_a_model_over_several_sources_round_trips_with_its_digest(tmp_path):
    entry = modelfiles.layer("b", "dense", 0, (8, 1, 1), (2, 1, 1), extra_sources=[-1])
    first = modelfiles.layer("a", "dense", -1, (4, 1, 1), (4, 1, 1), shift=3, activation="clamp")
    arrays = {
        0: (np.ones((4, 4), np.int8), np.zeros(4, np.int64)),
        1: (np.arange(16, dtype=np.int8).reshape(2, 8), np.zeros(2, np.int64)),
    }
    model = compiled.load(modelfiles.write_folder(tmp_path / "m", (4, 1, 1), [first, entry], arrays))
    assert model.layers[1].sources == (0, -1)
    again = compiled.load(compiled.save(model, tmp_path / "again"))
    assert again.digest == model.digest and again.layers == model.layers
    x = np.arange(-2, 2).reshape(4, 1, 1)
    a = np.ones((4, 4), np.int64) @ x.reshape(4)
    y = np.clip((a + 4) >> 3, -128, 127)
    expected = np.arange(16).reshape(2, 8) @ np.concatenate([y, x.reshape(4)])
    np.testing.assert_array_equal(ops.run(model, x).reshape(2), expected)


@pytest.mark.parametrize(
    "gates, message",
    [
        (
            [-1],
            r"layer g: gate the input has shape \(2, 1, 1\), neither|gate the input is not a relu or sigmoid",
        ),
        ([0], "layer g: gate a is not a relu or sigmoid layer"),
        ([], "layer g: gated_mul needs at least one gate"),
        ([7], "layer g: source 7 is not an earlier layer"),
    ],
)
def test_hostile_gated_products_are_refused_with_one_line(tmp_path, gates, message):
    first = modelfiles.layer("a", "dense", -1, (2, 1, 1), (2, 1, 1), shift=3, activation="clamp")
    gated = modelfiles.layer("g", "gated_mul", 0, (2, 1, 1), (2, 1, 1), extra_sources=gates)
    arrays = {0: (np.ones((2, 2), np.int8), np.zeros(2, np.int64))}
    folder = modelfiles.write_folder(tmp_path / "m", (2, 1, 1), [first, gated], arrays)
    with pytest.raises(ModelError, match=message) as caught:
        compiled.load(folder)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300
