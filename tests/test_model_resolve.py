"""What a user types, resolved: model arguments, seeds and input files, each refused with one clear line."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from edgeprove.model import compiled, resolve, zoo
from edgeprove.model.ir import ModelError


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EDGEPROVE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture()
def model():
    return zoo.get("tiny_mlp")


def test_good_inputs_of_any_integer_dtype_and_order(tmp_path, model):
    x = np.random.default_rng(0).integers(-128, 128, model.input_shape)
    for dtype in (np.int8, np.int16, np.int64):
        np.save(tmp_path / "x.npy", np.asfortranarray(x.astype(dtype)))
        np.testing.assert_array_equal(resolve.read_input(model, tmp_path / "x.npy"), x)
    np.save(tmp_path / "flat.npy", np.full(10, 5, np.uint8))
    np.testing.assert_array_equal(resolve.read_input(model, tmp_path / "flat.npy"), np.full((10, 1, 1), 5))


def test_float_inputs_are_quantized_with_the_model_scale(tmp_path, model):
    rng = np.random.default_rng(1)
    values = rng.uniform(-1.0, 1.0, model.input_shape)
    values[0, 0, 0], values[1, 0, 0] = 1e6, -1e6
    scale = 2.0**model.input_frac
    expected = np.clip(np.rint(values * scale), -128, 127).astype(np.int64)
    for array in (values.astype(np.float32), values[None], values.reshape(-1)):
        np.save(tmp_path / "x.npy", array)
        x, quantization = resolve.load_input(model, tmp_path / "x.npy")
        np.testing.assert_array_equal(
            x, np.clip(np.rint(array.astype(np.float64) * scale), -128, 127).reshape(model.input_shape)
        )
        assert quantization.clamped == 2 and quantization.count == 10
        assert quantization.to_dict()["scale"] == 2.0**-model.input_frac
        assert "2 of 10 values clamped" in quantization.summary()
    np.testing.assert_array_equal(x, expected)
    np.save(tmp_path / "big.npy", np.full(10, np.finfo(np.float64).max))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, quantization = resolve.load_input(model, tmp_path / "big.npy")
    assert (x == 127).all() and quantization.clamped == 10
    np.save(tmp_path / "ints.npy", expected.astype(np.int8))
    assert resolve.load_input(model, tmp_path / "ints.npy")[1] is None


def test_an_input_header_is_checked_without_the_model(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 4, 4), np.float32))
    resolve.check_input_header(tmp_path / "x.npy", (3, 4, 4))
    resolve.check_input_header(tmp_path / "x.npy", None)
    with pytest.raises(ModelError, match=r"the model takes \(3, 4, 5\), 60 values"):
        resolve.check_input_header(tmp_path / "x.npy", (3, 4, 5))
    np.save(tmp_path / "b.npy", np.zeros(3, bool))
    with pytest.raises(ModelError, match="holds bool values"):
        resolve.check_input_header(tmp_path / "b.npy", None)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda p: p.write_bytes(b""),
            r"not a valid .npy file \(the file is empty\); expected 10 values of shape \(10, 1, 1\)",
        ),
        (lambda p: p.write_bytes(os.urandom(300).replace(b"\x93", b"-")), r"\(no .npy signature\)"),
        (
            lambda p: np.save(p, np.zeros(0, np.int8)),
            r"holds int8\[0\], 0 values; the model takes \(10, 1, 1\)",
        ),
        (lambda p: np.save(p, np.zeros((2, 2), np.int8)), r"holds int8\[2, 2\], 4 values"),
        (lambda p: np.save(p, np.full(10, np.nan)), "holds NaN or infinite values"),
        (lambda p: np.save(p, np.full((1, 10, 1, 1), -np.inf, np.float32)), "holds NaN or infinite values"),
        (lambda p: np.save(p, np.ones(11)), r"holds float64\[11\], 11 values; the model takes"),
        (lambda p: np.save(p, np.ones(10, bool)), "holds bool values; expected integers"),
        (lambda p: np.save(p, np.ones(10, complex)), "holds complex128 values"),
        (lambda p: np.save(p, np.ones(10, "U1")), "holds <U1 values"),
        (lambda p: np.save(p, np.array([1] * 10, dtype=object), allow_pickle=True), "pickled Python objects"),
        (lambda p: np.save(p, np.zeros(10, dtype=[("a", "i1")])), "structured dtype"),
        (lambda p: np.save(p, np.full(10, 2**64 - 1, np.uint64)), r"values outside int8 \[-128, 127\]"),
        (lambda p: np.save(p, np.full(10, 128, np.int16)), r"values outside int8 \[-128, 127\]"),
        (lambda p: np.save(p, np.full(10, -129)), r"values outside int8 \[-128, 127\]"),
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, model, make, message):
    path = tmp_path / "x.npy"
    make(path)
    with pytest.raises(ModelError, match=message) as caught:
        resolve.read_input(model, path)
    assert str(caught.value).startswith(f"input {path}: ")
    assert "\n" not in str(caught.value) and "allow_pickle" not in str(caught.value)


def test_an_input_declaring_64_gib_is_refused_before_reading(tmp_path, model):
    path = tmp_path / "huge.npy"
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<i8", "fortran_order": False, "shape": (1 << 33,)}
        )
        handle.truncate(1 << 20)
    with pytest.raises(ModelError, match="68,719,476,736 bytes of data, but the file holds"):
        resolve.read_input(model, path)


def test_input_paths_that_are_not_files(tmp_path, model):
    with pytest.raises(ModelError, match="no such file$"):
        resolve.read_input(model, tmp_path / "missing.npy")
    with pytest.raises(ModelError, match="is a directory, not a .npy file$"):
        resolve.read_input(model, tmp_path)


@pytest.mark.parametrize("seed", [-1, 2**63, 10**30])
def test_seeds_outside_int64_are_refused(model, seed):
    with pytest.raises(ModelError, match=rf"seed {seed} is outside 0 .. 2\^63 - 1"):
        resolve.seeded_input(model, seed)


def test_seed_limits_are_accepted(model):
    assert resolve.seeded_input(model, 0).shape == resolve.seeded_input(model, 2**63 - 1).shape


def test_model_arguments_that_name_nothing(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"")
    cases = [
        ("", "empty model name; MODEL is a zoo name"),
        ("   ", "empty model name"),
        (str(tmp_path / "missing"), "missing: no such file or folder; MODEL is"),
        ("./wc50", "no such file or folder"),
        (str(tmp_path / "x.npy"), "x.npy: not a compiled model folder or an .onnx file"),
        ("/dev/null", "not a compiled model folder or an .onnx file"),
        ("no_such_model", "unknown model 'no_such_model'"),
        (str(tmp_path), "not a compiled model folder .no manifest.json."),
        (str(tmp_path / "m.onnx"), "no such ONNX file"),
    ]
    for spec, message in cases:
        with pytest.raises(ModelError, match=message):
            resolve.load_model(spec)
        with pytest.raises(ModelError, match=message):
            resolve.check_model_spec(spec)


def test_a_file_named_like_a_zoo_model_does_not_hide_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny_mlp").write_bytes(b"a proof written with --out tiny_mlp")
    assert resolve.load_model("tiny_mlp").name == "tiny_mlp"
    resolve.check_model_spec("tiny_mlp")


def test_check_model_spec_builds_and_reads_nothing(tmp_path, monkeypatch):
    folder = compiled.save(zoo.get("tiny_mlp"), tmp_path / "m")
    monkeypatch.setattr(zoo, "get", lambda name: pytest.fail("a zoo model was built"))
    monkeypatch.setattr(np, "load", lambda *args, **kwargs: pytest.fail("a weight file was loaded"))
    resolve.check_model_spec("wc50")
    resolve.check_model_spec(str(folder))
