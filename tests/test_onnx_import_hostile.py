"""ONNX files, calibration inputs and `import --out` folders as hostile input: bounded before anything is
loaded, one line and exit 2 for every refusal, and an output folder that appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import require
from onnx import TensorProto, helper, numpy_helper
from test_onnx_import import build, const, conv_bn_relu_cnn, mlp, node, residual_block
from test_process_atomic import dead_owner
from typer.testing import CliRunner

from edgeprove.cli import full_app
from edgeprove.model import compiled
from edgeprove.model.ir import ModelError
from edgeprove.model.onnx_import import (
    MAX_ONNX_NODES,
    check_onnx_file,
    compile_onnx,
    import_onnx,
    load_onnx,
    read_calibration,
    source_digest,
)
from edgeprove.process.atomic import temp_owner
from edgeprove.process.lifetime import current_owner


def invoke(*args: str):
    return CliRunner().invoke(full_app(), list(args))


def one_line_exit_2(result, message: str) -> None:
    """The CLI refused with exit 2 and one line on stderr containing ``message``."""
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output


def unchecked(nodes, inits, input_dims, output_dims, path: Path, opset: int = 13) -> Path:
    """Save a graph x -> y without the ONNX checker (which would refuse the malformed ones)."""
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_dims))]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(output_dims))]
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    path.write_bytes(model.SerializeToString())
    return path


def external(tmp_path: Path, dims, location: str = "w.bin", **entries) -> Path:
    """A MatMul model whose weight ``w`` has ``dims`` and lives in external data at ``location``."""
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=list(dims))
    weight.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, **entries}.items():
        weight.external_data.add(key=key, value=str(value))
    nodes = [node("MatMul", ["x", "w"], "y")]
    return unchecked(nodes, [weight], (1, dims[0]), (1, dims[1]), tmp_path / "model.onnx")


def test_huge_graph_input_is_refused_before_calibration_inputs_are_made(tmp_path):
    path = build(
        [node("GlobalAveragePool", ["x"], "y")], [], (1, 64, 8192, 8192), (1, 64, 1, 1), tmp_path / "g.onnx"
    )
    tracemalloc.start()
    try:
        with pytest.raises(ModelError, match=r"input 'x': shape \(64, 8192, 8192\) has 4,294,967,296 values"):
            import_onnx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_external_tensor_beyond_the_ceiling_is_refused_before_loading(tmp_path):
    path = external(tmp_path, (1 << 15, 1 << 15))
    (tmp_path / "w.bin").write_bytes(b"\0" * 64)
    with pytest.raises(
        ModelError, match="tensor 'w' has 1,073,741,824 values, above the ceiling of 67,108,864"
    ):
        check_onnx_file(path)


@pytest.mark.parametrize(
    "location, entries, make, message",
    [
        ("w.bin", {}, None, "external data 'w.bin' of tensor 'w': no such file"),
        ("../w.bin", {}, "../w.bin", "the location must be a file beside the model"),
        ("/etc/passwd", {}, None, "the location must be a file beside the model"),
        ("link.bin", {}, "link", "a symbolic link out of the model's folder"),
        ("w.bin", {}, 4 * 12 + 1, r"48 bytes expected at offset 0"),
        ("w.bin", {"length": 4}, 48, r"48 bytes expected at offset 0"),
        ("w.bin", {"offset": 8}, 48, r"48 bytes expected at offset 8"),
        ("w.bin", {"offset": "x"}, 48, "malformed offset or length"),
        ("w.bin", {}, 8 << 30, "the file is above the ceiling of"),
        ("sub", {}, "dir", "not a regular file"),
        ("loop.bin", {}, "loop", "not a regular file"),
        ("a" * 300, {}, None, "File name too long"),
        ("d" * 300 + "/w.bin", {}, None, "File name too long"),
        ("w\x00.bin", {}, None, "embedded null byte"),
    ],
)
def test_bad_external_data_is_refused(tmp_path, location, entries, make, message):
    (tmp_path / "model").mkdir()
    folder = tmp_path / "model"
    path = external(folder, (3, 4), location, **entries)
    if isinstance(make, int):
        with (folder / location).open("wb") as handle:
            handle.truncate(make)
    elif make == "../w.bin":
        (tmp_path / "w.bin").write_bytes(b"\0" * 48)
    elif make == "link":
        (tmp_path / "outside.bin").write_bytes(b"\0" * 48)
        (folder / location).symlink_to(tmp_path / "outside.bin")
    elif make == "dir":
        (folder / location).mkdir()
    elif make == "loop":
        (folder / location).symlink_to("loop2.bin")
        (folder / "loop2.bin").symlink_to(location)
    with pytest.raises(ModelError, match=message) as caught:
        import_onnx(path)
    assert "not a readable ONNX model" in str(caught.value) or "ceiling" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_exact_external_data_loads(tmp_path):
    path = external(tmp_path, (3, 4), length=48)
    (tmp_path / "w.bin").write_bytes(
        np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32).tobytes()
    )
    assert import_onnx(path).model.layers[0].kind == "dense"


def test_external_data_entries_of_an_inline_tensor_are_ignored(tmp_path):
    """Entries naming a location on a tensor whose data is inline (the loader ignores them) are never
    opened, even when the name could not be a path at all."""
    weight = numpy_helper.from_array(np.ones((3, 4), np.float32), "w")
    weight.external_data.add(key="location", value="w\x00.bin")
    path = unchecked([node("MatMul", ["x", "w"], "y")], [weight], (1, 3), (1, 4), tmp_path / "m.onnx")
    assert len(source_digest(path)) == 64
    assert import_onnx(path).model.layers[0].kind == "dense"


def test_inline_tensor_whose_data_does_not_match_its_shape(tmp_path):
    weight = numpy_helper.from_array(np.ones((3, 4), np.float32), "w")
    weight.raw_data = weight.raw_data[:20]
    path = unchecked([node("MatMul", ["x", "w"], "y")], [weight], (1, 3), (1, 4), tmp_path / "m.onnx")
    with pytest.raises(ModelError, match="tensor 'w': malformed data"):
        import_onnx(path)


def test_tiny_calibration_values_are_refused_without_overflow(tmp_path):
    path = mlp(tmp_path / "mlp.onnx")
    with pytest.raises(ModelError, match="cannot quantize a tensor whose largest magnitude is 1e-307"):
        import_onnx(path, np.full((2, 6), 1e-307))


WEIGHT = np.ones((2, 1, 3, 3))
BN = ["s", "b", "m", "v"]


def bn_constants(variance: float = 1.0, scale: float = 1.0) -> list:
    values = [np.full(2, scale), np.zeros(2), np.zeros(2), np.full(2, variance)]
    return [const(name, value) for name, value in zip(BN, values)]


def typed_attribute(name: str, attribute_type: int):
    """A Conv whose attribute ``name`` declares ``attribute_type`` (0: undefined, as a file's unknown type
    number also parses)."""
    conv = node("Conv", ["x", "w"], "y")
    attribute = conv.attribute.add()
    attribute.name, attribute.type = name, attribute_type
    return conv


def twice_strided():
    """A Conv naming its strides twice."""
    conv = node("Conv", ["x", "w"], "y", strides=[1, 1])
    conv.attribute.append(helper.make_attribute("strides", [2, 2]))
    return conv


@pytest.mark.parametrize(
    "nodes, inits, message",
    [
        ([node("Conv", ["x", "w"], "y", strides=[0, 0])], [const("w", WEIGHT)], "stride 0 is not positive"),
        ([node("MaxPool", ["x"], "y", kernel_shape=[2, 2], strides=[0, 0])], [], "stride 0 is not positive"),
        ([node("MaxPool", ["x"], "y", kernel_shape=[0, 0])], [], r"kernel \[0, 0\] is not positive"),
        (
            [node("Conv", ["x", "w"], "y", strides=[2**62, 2**62])],
            [const("w", WEIGHT)],
            "above the ceiling of 64",
        ),
        (
            [node("Conv", ["x", "w"], "c"), node("BatchNormalization", ["c", *BN], "y", epsilon=-10.0)],
            [const("w", WEIGHT), *bn_constants()],
            "variance . epsilon is not positive for every channel",
        ),
        (
            [node("Conv", ["x", "w"], "c"), node("BatchNormalization", ["c", *BN], "y")],
            [const("w", WEIGHT), *bn_constants(scale=np.nan)],
            "cannot quantize a tensor whose largest magnitude is nan",
        ),
        (
            [node("Conv", ["x", "w"], "y")],
            [const("w", np.full((2, 1, 3, 3), np.inf))],
            "largest magnitude is inf",
        ),
        ([node("Conv", ["x", "w"], "y", strides=2)], [const("w", WEIGHT)], "strides must be of type INTS"),
        ([node("Conv", ["x", "w"], "y", group=[1])], [const("w", WEIGHT)], "group must be of type INT"),
        ([node("Conv", ["x", "w"], "y", colour=1)], [const("w", WEIGHT)], "Conv has no attribute 'colour'"),
        ([typed_attribute("strides", 0)], [const("w", WEIGHT)], "strides must be of type INTS"),
        ([twice_strided()], [const("w", WEIGHT)], "attribute strides is given twice"),
        (
            [node("Conv", ["x", "w"], "c"), node("BatchNormalization", ["c", *BN], "y", epsilon=[1e-5])],
            [const("w", WEIGHT), *bn_constants()],
            "epsilon must be of type FLOAT",
        ),
        (
            [node("Conv", ["x", "w"], "c"), node("Reshape", ["c", "inf"], "y")],
            [const("w", WEIGHT), const("inf", np.array([np.inf, 1]))],
            "malformed node",
        ),
    ],
)
def test_attributes_and_constants_beyond_reason_are_one_line_errors(tmp_path, nodes, inits, message):
    path = unchecked(nodes, inits, (1, 1, 6, 6), (1, 2, 4, 4), tmp_path / "m.onnx")
    with pytest.raises(ModelError, match=message):
        import_onnx(path)


def test_float_trouble_prints_no_numpy_warning(tmp_path):
    """alpha = inf times a zero weight is NaN: refused in one line, without numpy's RuntimeWarning lines."""
    nodes = [node("Flatten", ["x"], "f"), node("Gemm", ["f", "m"], "y", alpha=float("inf"))]
    path = unchecked(nodes, [const("m", np.eye(36, 2))], (1, 1, 6, 6), (1, 2), tmp_path / "m.onnx")
    code = "import sys; from edgeprove.cli import main; sys.argv = ['edgeprove', *sys.argv[1:]]; main()"
    argv = [sys.executable, "-W", "default", "-c", code, "import", str(path), "--out", str(tmp_path / "o")]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "cannot quantize a tensor whose largest magnitude is" in done.stderr


def test_long_and_odd_node_names_give_short_messages_and_valid_layer_names(tmp_path):
    long = "n\n" * 5000
    weight = const("w", np.random.default_rng(1).normal(size=(3, 4)))
    path = build(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name=long)],
        [weight],
        (1, 3),
        (1, 4),
        tmp_path / "m.onnx",
    )
    model = import_onnx(path).model
    assert len(model.layers[0].name) <= 128
    bad = build(
        [helper.make_node("Tanh", ["x"], ["y"], name=long) for _ in range(1)],
        [],
        (1, 3),
        (1, 3),
        tmp_path / "bad.onnx",
    )
    with pytest.raises(ModelError) as caught:
        import_onnx(bad)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


def test_many_unsupported_nodes_are_counted_not_all_listed(tmp_path):
    nodes = [node("Tanh", ["x" if i == 0 else f"t{i - 1}"], f"t{i}") for i in range(99)]
    nodes.append(node("Tanh", ["t98"], "y"))
    path = build(nodes, [], (1, 3), (1, 3), tmp_path / "m.onnx")
    with pytest.raises(ModelError, match=r"Tanh \(node 't19_node'\) and 80 more$"):
        import_onnx(path)


def test_paths_that_are_not_onnx_files(tmp_path):
    one_line_exit_2(
        invoke("import", str(tmp_path), "--out", str(tmp_path / "o")), "is a directory, not an ONNX file"
    )
    os.mkfifo(tmp_path / "pipe.onnx")
    one_line_exit_2(
        invoke("import", str(tmp_path / "pipe.onnx"), "--out", str(tmp_path / "o")), "not a regular file"
    )
    (tmp_path / "big.onnx").write_bytes(b"")
    with (tmp_path / "big.onnx").open("r+b") as handle:
        handle.truncate(2 << 30)
    one_line_exit_2(
        invoke("import", str(tmp_path / "big.onnx"), "--out", str(tmp_path / "o")), "above the ceiling"
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda p: p.write_bytes(b"\x00garbage" * 10),
            "calibration inputs .*: not a valid .npy file (no .npy signature)",
        ),
        (lambda p: p.write_bytes(b""), "not a valid .npy file (the file is empty)"),
        (lambda p: np.save(p, np.array([1, 2], dtype=object), allow_pickle=True), "pickled Python objects"),
        (lambda p: np.save(p, np.ones((2, 6), complex)), "hold complex128 values"),
        (lambda p: np.save(p, np.full((2, 6), np.inf)), "NaN or infinite values"),
        (lambda p: np.save(p, np.zeros((0, 6))), "calibration inputs must have shape (N, 6), got (0, 6)"),
    ],
)
def test_bad_calibration_files_are_one_line_errors(tmp_path, make, message):
    make(tmp_path / "c.npy")
    model = mlp(tmp_path / "mlp.onnx")
    result = invoke(
        "import", str(model), "--out", str(tmp_path / "o"), "--calibration", str(tmp_path / "c.npy")
    )
    one_line_exit_2(result, message.split(" .*")[-1])
    assert not (tmp_path / "o").exists()


def test_calibration_beyond_the_ceiling_is_not_read(tmp_path):
    path = tmp_path / "c.npy"
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<f8", "fortran_order": False, "shape": (1 << 24, 6)}
        )
        handle.truncate(handle.tell() + (8 << 24) * 6)
    with pytest.raises(ModelError, match="100,663,296 values, above the ceiling of 67,108,864"):
        read_calibration(path)


# ----- `import --out`: a new folder, written beside the target and renamed into place when complete


def staging_folders(parent: Path) -> list[Path]:
    return [p for p in parent.iterdir() if temp_owner(p) is not None]


def test_import_into_a_non_empty_folder_is_refused_and_leaves_it_untouched(tmp_path):
    model = conv_bn_relu_cnn(tmp_path / "cnn.onnx")
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("the user's own file")
    result = invoke("import", str(model), "--out", str(target))
    one_line_exit_2(result, "the folder is not empty; choose a new folder or empty this one")
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "the user's own file" and not staging_folders(tmp_path)
    (tmp_path / "file").write_text("x")
    one_line_exit_2(invoke("import", str(model), "--out", str(tmp_path / "file")), "is a file, not a folder")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    one_line_exit_2(invoke("import", str(model), "--out", str(tmp_path / "link")), "is a symbolic link")


def test_import_into_an_empty_or_new_folder(tmp_path):
    model = conv_bn_relu_cnn(tmp_path / "cnn.onnx")
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "new" / "nested"):
        result = invoke("import", str(model), "--out", str(target))
        assert result.exit_code == 0, result.output
        assert compiled.load(target).name == "cnn" and (target / "import.json").is_file()
    assert not staging_folders(tmp_path) and not staging_folders(tmp_path / "new")


def test_a_staging_folder_left_by_a_killed_import_is_reaped_by_the_next_one(tmp_path):
    """A staging folder carries its owner (pid, start time, pid namespace); the next import into the same
    folder removes those whose owner is gone and keeps a live one's."""
    model = conv_bn_relu_cnn(tmp_path / "cnn.onnx")
    out = tmp_path / "models"
    out.mkdir()
    stale = out / f".first.tmp-{dead_owner().token}-0123abcd"
    (stale / "sub").mkdir(parents=True)
    (stale / "w0000_partial.npy").write_bytes(b"half")
    live = out / f".other.tmp-{current_owner().token}-89abcdef"
    live.mkdir()
    result = invoke("import", str(model), "--out", str(out / "second"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted([live.name, "second"])


def test_a_failed_write_removes_the_staging_folder(tmp_path, monkeypatch):
    model = conv_bn_relu_cnn(tmp_path / "cnn.onnx")

    def half_written(model, folder):
        (folder / "w0000_partial.npy").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(compiled, "save", half_written)
    with pytest.raises(
        ModelError, match=r"cannot write the compiled model to .*out \(No space left on device\)"
    ):
        compile_onnx(model, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.onnx"]


def test_an_interrupted_write_removes_the_staging_folder(tmp_path, monkeypatch):
    model = conv_bn_relu_cnn(tmp_path / "cnn.onnx")

    def interrupted(model, folder):
        (folder / "w0000_partial.npy").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(compiled, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        compile_onnx(model, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.onnx"]


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str):
    """A tmpfs of ``size`` mounted at ``folder`` for the duration (needs root)."""
    folder.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "none", str(folder)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    require(mounted, "mounting a tmpfs needs root and mount")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_import_onto_a_full_disk_leaves_nothing_behind(tmp_path):
    model = mlp(tmp_path / "mlp.onnx", features=256, hidden=512)
    with small_tmpfs(tmp_path / "disk", "96k") as disk:
        old = disk / "old"
        old.mkdir()
        (old / "keep.bin").write_bytes(b"\x07" * 4096)
        result = invoke("import", str(model), "--out", str(disk / "new"))
        one_line_exit_2(result, "cannot write the compiled model to")
        assert "No space left on device" in result.output
        assert sorted(p.name for p in disk.iterdir()) == ["old"]
        assert [p.name for p in old.iterdir()] == ["keep.bin"] and (
            old / "keep.bin"
        ).read_bytes() == b"\x07" * 4096
        used = os.statvfs(disk)
        assert (used.f_blocks - used.f_bfree) * used.f_frsize <= 16 << 10


def test_the_command_line_prints_no_traceback(tmp_path):
    """The real entry point, in a fresh interpreter: one line on stderr, exit 2."""
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("x")
    model = conv_bn_relu_cnn(tmp_path / "cnn.onnx")
    for args, message in [
        ([str(tmp_path), "--out", str(tmp_path / "o")], "is a directory, not an ONNX file"),
        ([str(model), "--out", str(target)], "the folder is not empty"),
    ]:
        code = "import sys; from edgeprove.cli import main; sys.argv = ['edgeprove', *sys.argv[1:]]; main()"
        done = subprocess.run([sys.executable, "-c", code, "import", *args], capture_output=True, text=True)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def joined_graph(
    tmp_path: Path, middle: list, conv_input: str = "j", group: int = 1, opset: int = 13
) -> Path:
    """x -> r = Relu(Conv 1x1) -> ``middle`` nodes -> Conv 1x1 over ``conv_input``."""
    inits = [
        numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float32), "w"),
        numpy_helper.from_array(np.ones((2, 4 // group, 1, 1), np.float32), "w2"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
        numpy_helper.from_array(np.array([1, 1, 3, 3], np.float32), "scales3"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("Relu", ["c"], ["r"]),
        *middle,
        helper.make_node("Conv", [conv_input, "w2"], ["y"], group=group),
    ]
    return unchecked(nodes, inits, (1, 2, 4, 4), (1, 2, 8, 8), tmp_path / "m.onnx", opset)


def resize(inputs: list[str], output: str, **attrs):
    attrs = {
        "mode": "nearest",
        "coordinate_transformation_mode": "asymmetric",
        "nearest_mode": "floor",
    } | attrs
    return helper.make_node("Resize", inputs, [output], **attrs)


@pytest.mark.parametrize(
    "middle, kwargs, message",
    [
        (
            [resize(["r", "", "scales3"], "u"), helper.make_node("Concat", ["u", "u"], ["j"], axis=1)],
            {},
            "only a 2x",
        ),
        ([resize(["r", ""], "j")], {}, "only a 2x upsampling of H and W"),
        ([resize(["r", "", "scales"], "j", mode="linear")], {}, "only nearest upsampling .*mode 'linear'"),
        (
            [resize(["r", "", "scales"], "j", coordinate_transformation_mode="align_corners")],
            {},
            "coordinate_transformation_mode 'align_corners'",
        ),
        ([resize(["r", "", "scales"], "j", nearest_mode="ceil")], {}, "nearest_mode 'ceil'"),
        (  # antialias exists from opset 18
            [resize(["r", "", "scales"], "j", antialias=1)],
            {"opset": 18},
            "antialias and axes are not supported",
        ),
        (
            [resize(["r", "", "scales"], "u"), resize(["u", "", "scales"], "j")],
            {},
            "upsamples an upsampled tensor",
        ),
        (
            [helper.make_node("Concat", ["r", "r"], ["j"], axis=2)],
            {},
            "only concatenation along the channels",
        ),
        (
            [resize(["r", "", "scales"], "u"), helper.make_node("Concat", ["u", "r"], ["j"], axis=1)],
            {},
            r"operands of shapes \(1, 2, 8, 8\), \(1, 2, 4, 4\) differ in H or W",
        ),
        (
            [
                helper.make_node("Concat", ["r", "r"], ["cat"], axis=1),
                helper.make_node("Relu", ["cat"], ["j"]),
            ],
            {},
            "Relu node .* reads the output of a Concat or Resize, which only a Conv",
        ),
        (
            [helper.make_node("Concat", ["r", "r"], ["j"], axis=1)],
            {"group": 2},
            "a Conv reading a Concat or Resize must be ungrouped",
        ),
        (
            [helper.make_node("Concat", ["r"] * 17, ["j"], axis=1)],
            {},
            "joins 17 tensors, above the ceiling of 16",
        ),
    ],
)
def test_hostile_concat_and_resize_nodes_are_one_line_errors(tmp_path, middle, kwargs, message):
    with pytest.raises(ModelError, match=message) as caught:
        import_onnx(joined_graph(tmp_path, middle, **kwargs))
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def mul_graph(tmp_path: Path, mul_inputs: list[str], extra: list | None = None) -> Path:
    """x -> r = Relu(Conv 1x1) (1, 2, 4, 4); p = Relu(GlobalAveragePool(r)) (1, 2, 1, 1); c = Conv 1x1 of r,
    not activated (1, 1, 4, 4); then Mul of ``mul_inputs``."""
    inits = [
        numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float32), "w"),
        numpy_helper.from_array(np.ones((1, 2, 1, 1), np.float32), "w1"),
        numpy_helper.from_array(np.ones((1, 2, 4, 4), np.float32), "k"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["cr"]),
        helper.make_node("Relu", ["cr"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["gp"]),
        helper.make_node("Relu", ["gp"], ["p"]),
        helper.make_node("Conv", ["r", "w1"], ["c"]),
        *(extra or []),
        helper.make_node("Mul", mul_inputs, ["y"]),
    ]
    return unchecked(nodes, inits, (1, 2, 4, 4), (1, 2, 4, 4), tmp_path / "m.onnx")


@pytest.mark.parametrize(
    "mul_inputs, extra, message",
    [
        (["r", "k"], None, "products with a constant are not supported"),
        (["r", "r"], None, r"operands of shapes \(1, 2, 4, 4\) and \(1, 2, 4, 4\): only a tensor times a"),
        (["p", "p"], None, r"operands of shapes \(1, 2, 1, 1\) and \(1, 2, 1, 1\)"),
        (["r", "c"], None, "gate conv2d2 is not a relu or sigmoid layer"),
        (
            ["r", "t"],
            [helper.make_node("Transpose", ["c"], ["t"], perm=[0, 1, 3, 2])],
            "Transpose",
        ),
    ],
)
def test_hostile_mul_nodes_are_one_line_errors(tmp_path, mul_inputs, extra, message):
    with pytest.raises(ModelError, match=message) as caught:
        import_onnx(mul_graph(tmp_path, mul_inputs, extra))
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def test_initializers_no_node_reads_are_never_loaded(tmp_path):
    """A tiny file may name gigabytes of external tensors it does not use: they are dropped before loading
    (here 2^24 values in a sparse file), and the import sees only what its nodes read."""
    path = external(tmp_path, (3, 4), length=48)
    (tmp_path / "w.bin").write_bytes(np.ones((3, 4), np.float32).tobytes())
    model = onnx.load(str(path), load_external_data=False)
    unused = TensorProto(name="unused", data_type=TensorProto.FLOAT, dims=[1 << 12, 1 << 12])
    unused.data_location = TensorProto.EXTERNAL
    unused.external_data.add(key="location", value="big.bin")
    model.graph.initializer.append(unused)
    with (tmp_path / "big.bin").open("wb") as handle:
        handle.truncate(4 << 24)
    path.write_bytes(model.SerializeToString())
    assert [init.name for init in load_onnx(path).graph.initializer] == ["w"]
    assert import_onnx(path).model.layers[0].kind == "dense"


def if_node():
    """An If node whose branches are graphs (control flow)."""
    out = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 2])
    branch = helper.make_graph([node("Relu", ["x"], "z")], "b", [], [out])
    return helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)


def rename(path: Path, old: bytes, new: bytes) -> Path:
    """The saved model with one byte string replaced (here: a name made invalid UTF-8)."""
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new))
    return path


@pytest.mark.parametrize("case", ["function", "subgraph", "too-many-nodes", "repeated-entry", "not-utf8"])
def test_graphs_beyond_the_import_are_refused_before_loading(tmp_path, case):
    """Local functions (whose tensors the loader would fill too), control flow, more nodes than the ceiling,
    a repeated external-data entry (the first location hashed, the last one checked) and names protobuf
    cannot decode are each one line."""
    message = {
        "function": "model-local functions are not supported",
        "subgraph": "holds a subgraph; control flow is not supported",
        "too-many-nodes": f"above the ceiling of {MAX_ONNX_NODES:,}",
        "repeated-entry": "an external data entry is repeated",
        "not-utf8": "names are not UTF-8 text",
    }[case]
    if case == "repeated-entry":
        path = external(tmp_path, (3, 4), "/dev/zero")
        model = onnx.load(str(path), load_external_data=False)
        model.graph.initializer[0].external_data.add(key="location", value="w.bin")
        (tmp_path / "w.bin").write_bytes(b"\0" * 48)
        path.write_bytes(model.SerializeToString())
    elif case == "subgraph":
        path = unchecked([if_node()], [], (1, 2), (1, 2), tmp_path / "m.onnx")
    elif case == "too-many-nodes":
        relus = [node("Relu", [f"r{i}"], f"r{i + 1}") for i in range(MAX_ONNX_NODES)]
        relus = [node("Relu", ["x"], "r0"), *relus[:-1], node("Relu", [f"r{MAX_ONNX_NODES - 1}"], "y")]
        path = unchecked(relus, [], (1, 2), (1, 2), tmp_path / "m.onnx")
    else:
        relu = helper.make_node("Relu", ["x"], ["y"], name="NAMEX")
        path = unchecked([relu], [], (1, 2), (1, 2), tmp_path / "m.onnx")
        if case == "function":
            model = onnx.load(str(path))
            model.functions.append(helper.make_function("local", "f", ["a"], ["b"], [], []))
            path.write_bytes(model.SerializeToString())
        else:
            rename(path, b"NAMEX", b"\xffAMEX")
    with pytest.raises(ModelError, match=message) as caught:
        check_onnx_file(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("weight, value, message", [("w3", -1e38, "exceeds"), ("w0", -2.77e38, "not finite")])
def test_weights_at_the_float_limit_are_one_line_errors(tmp_path, weight, value, message):
    """One weight near float32's largest value: the shifted residual leaves the field's range, or onnxruntime
    overflows to infinity (which would have passed the agreement check, infinity being within any
    tolerance scaled by it)."""
    path = residual_block(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    index = next(i for i, init in enumerate(model.graph.initializer) if init.name == weight)
    array = numpy_helper.to_array(model.graph.initializer[index]).copy()
    array.reshape(-1)[0 if weight == "w3" else 5] = value
    model.graph.initializer[index].CopyFrom(numpy_helper.from_array(array, weight))
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelError, match=message) as caught:
        import_onnx(path)
    assert "\n" not in str(caught.value)


def test_a_string_tensor_is_not_a_weight(tmp_path):
    weight = helper.make_tensor("w", TensorProto.STRING, [2, 1, 3, 3], [b"a"] * 18)
    path = unchecked(
        [node("Conv", ["x", "w"], "y")], [weight], (1, 1, 6, 6), (1, 2, 4, 4), tmp_path / "m.onnx"
    )
    with pytest.raises(ModelError, match="tensor 'w': holds object values, not numbers"):
        import_onnx(path)
