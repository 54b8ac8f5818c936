"""ONNX import: small models built with the onnx helper API, compiled and compared with onnxruntime; the IR
additions it needs (act_max, maxpool); every refusal and the `edgeprove import` command."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from edgeprove.cli import full_app
from edgeprove.layers import conv2d
from edgeprove.model import compiled, ops, zoo
from edgeprove.model.bounds import layer_bounds
from edgeprove.model.ir import Layer, Model, ModelError
from edgeprove.model.onnx_import import compile_onnx, import_onnx, onnxruntime_outputs, source_digest
from edgeprove.model.quantize import FloatModel, frac_for, quantize, quantize_array
from edgeprove.model.resolve import load_model

runner = CliRunner()


def const(name: str, array) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def node(op: str, inputs: list[str], output: str, **attrs) -> onnx.NodeProto:
    return helper.make_node(op, inputs, [output], name=f"{output}_node", **attrs)


def build(nodes, inits, input_dims, output_dims, path: Path, opset: int = 13, **save) -> Path:
    """Save a model graph x -> y built from ``nodes`` and ``inits``."""
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_dims))]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(output_dims))]
    graph = helper.make_graph(nodes, "test_model", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save_model(model, str(path), **save)
    return path


def bn_inits(rng, prefix: str, channels: int) -> tuple[list[str], list]:
    names = [f"{prefix}_{k}" for k in ("scale", "bias", "mean", "var")]
    arrays = [
        rng.uniform(0.5, 1.5, channels),
        rng.normal(0, 0.1, channels),
        rng.normal(0, 0.1, channels),
        rng.uniform(0.5, 2.0, channels),
    ]
    return names, [const(n, a) for n, a in zip(names, arrays)]


def conv_bn_relu_cnn(
    path: Path,
    seed: int = 0,
    channels: int = 2,
    size: int = 8,
    out_channels: int = 4,
    stride: int = 1,
    padding: int = 1,
    kernel: int = 3,
    classes: int = 5,
    opset: int = 13,
    **save,
) -> Path:
    """Conv -> BatchNorm -> Relu -> MaxPool(2) -> Flatten -> Gemm(transB)."""
    rng = np.random.default_rng(seed)
    conv_size = (size + 2 * padding - kernel) // stride + 1
    pooled = conv_size // 2
    bn_names, bn = bn_inits(rng, "bn", out_channels)
    nodes = [
        node(
            "Conv",
            ["x", "w1", "b1"],
            "c1",
            pads=[padding] * 4,
            strides=[stride, stride],
            kernel_shape=[kernel, kernel],
        ),
        node("BatchNormalization", ["c1", *bn_names], "n1"),
        node("Relu", ["n1"], "r1"),
        node("MaxPool", ["r1"], "p1", kernel_shape=[2, 2], strides=[2, 2]),
        node("Flatten", ["p1"], "f1"),
        node("Gemm", ["f1", "w2", "b2"], "y", transB=1),
    ]
    inits = [
        const("w1", rng.normal(0, 0.3, (out_channels, channels, kernel, kernel))),
        const("b1", rng.normal(0, 0.1, out_channels)),
        *bn,
        const("w2", rng.normal(0, 0.3, (classes, out_channels * pooled * pooled))),
        const("b2", rng.normal(0, 0.1, classes)),
    ]
    return build(nodes, inits, (1, channels, size, size), (1, classes), path, opset, **save)


def mlp(
    path: Path, seed: int = 1, features: int = 6, hidden: int = 8, classes: int = 3, batch: int | str = 1
) -> Path:
    """Reshape -> MatMul + Add -> Relu -> Dropout -> MatMul + Add (MLP on a (1, features) vector)."""
    rng = np.random.default_rng(seed)
    nodes = [
        node("Reshape", ["x", "shape"], "v"),
        node("MatMul", ["v", "w1"], "m1"),
        node("Add", ["m1", "b1"], "a1"),
        node("Relu", ["a1"], "r1"),
        node("Dropout", ["r1"], "d1"),
        node("MatMul", ["d1", "w2"], "m2"),
        node("Add", ["b2", "m2"], "y"),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "shape"),
        const("w1", rng.normal(0, 0.5, (features, hidden))),
        const("b1", rng.normal(0, 0.1, hidden)),
        const("w2", rng.normal(0, 0.5, (hidden, classes))),
        const("b2", rng.normal(0, 0.1, (1, classes))),
    ]
    return build(nodes, inits, (batch, features), (batch, classes), path)


def residual_block(path: Path, seed: int = 2, channels: int = 3, size: int = 4) -> Path:
    """conv-bn-relu, conv-bn, Add(skip), Relu, a downsampling block whose both Add operands are convs,
    GlobalAveragePool, Flatten, Gemm."""
    rng = np.random.default_rng(seed)
    bn1, bn1_inits = bn_inits(rng, "bn1", channels)
    bn2, bn2_inits = bn_inits(rng, "bn2", channels)
    nodes = [
        node("Conv", ["x", "w0"], "c0", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        node("Relu", ["c0"], "r0"),
        node("Conv", ["r0", "w1"], "c1", pads=[1, 1, 1, 1]),
        node("BatchNormalization", ["c1", *bn1], "n1"),
        node("Relu", ["n1"], "r1"),
        node("Conv", ["r1", "w2"], "c2", pads=[1, 1, 1, 1]),
        node("BatchNormalization", ["c2", *bn2], "n2"),
        node("Add", ["n2", "r0"], "s2"),
        node("Relu", ["s2"], "r2"),
        node("Conv", ["r2", "w3"], "c3", pads=[1, 1, 1, 1], strides=[2, 2]),
        node("Conv", ["r2", "w4"], "c4", strides=[2, 2]),
        node("Add", ["c4", "c3"], "s3"),
        node("Identity", ["s3"], "i3"),
        node("Relu", ["i3"], "r3"),
        node("GlobalAveragePool", ["r3"], "g"),
        node("Flatten", ["g"], "f"),
        node("Gemm", ["f", "w5", "b5"], "y", transB=1),
    ]
    inits = [
        const("w0", rng.normal(0, 0.3, (channels, channels, 3, 3))),
        const("w1", rng.normal(0, 0.3, (channels, channels, 3, 3))),
        const("w2", rng.normal(0, 0.3, (channels, channels, 3, 3))),
        *bn1_inits,
        *bn2_inits,
        const("w3", rng.normal(0, 0.3, (4, channels, 3, 3))),
        const("w4", rng.normal(0, 0.3, (4, channels, 1, 1))),
        const("w5", rng.normal(0, 0.5, (2, 4))),
        const("b5", rng.normal(0, 0.1, 2)),
    ]
    return build(nodes, inits, (1, channels, size, size), (1, 2), path)


def relu6_pools(path: Path, seed: int = 3) -> Path:
    """MaxPool on the raw input, Conv -> Clip(0, 6) -> MaxPool(3, stride 2) -> AveragePool(2) -> Conv 1x1."""
    rng = np.random.default_rng(seed)
    nodes = [
        node("MaxPool", ["x"], "p0", kernel_shape=[2, 2], strides=[1, 1]),
        node("Conv", ["p0", "w1", "b1"], "c1", pads=[1, 1, 1, 1]),
        helper.make_node(
            "Constant",
            [],
            ["six"],
            name="six_node",
            value=numpy_helper.from_array(np.array(6.0, dtype=np.float32)),
        ),
        node("Clip", ["c1", "zero", "six"], "r1"),
        node("MaxPool", ["r1"], "p1", kernel_shape=[3, 3], strides=[2, 2]),
        node("AveragePool", ["p1"], "a1", kernel_shape=[2, 2], strides=[2, 2]),
        node("Conv", ["a1", "w2"], "y"),
    ]
    inits = [
        const("w1", rng.normal(0, 2.0, (3, 2, 3, 3))),
        const("b1", rng.normal(1.0, 1.0, 3)),
        const("zero", np.array(0.0)),
        const("w2", rng.normal(0, 0.5, (2, 3, 1, 1))),
    ]
    return build(nodes, inits, (1, 2, 10, 10), (1, 2, 2, 2), path)


def check_against_onnxruntime(
    path: Path,
    result,
    calibration: np.ndarray | None = None,
    float_tolerance: float = 1e-4,
    relative_error: float = 0.2,
) -> np.ndarray:
    """Recompute the compiled model's dequantized outputs and onnxruntime's; check the report says exactly
    that error and that it is within ``relative_error`` of the largest output, the quantization error
    expected of int8 scales (and the float interpretation within ``float_tolerance`` of onnxruntime)."""
    model = result.model
    if calibration is None:
        rng = np.random.default_rng(0)
        calibration = rng.uniform(-1.0, 1.0, size=(16, *model.input_shape))
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    sample = [d.dim_value for d in dims[1:]]
    reference = onnxruntime_outputs(path, calibration.reshape(len(calibration), *sample))
    ints = quantize_array(calibration.reshape(len(calibration), *model.input_shape), model.input_frac)
    ours = ops.dequantize(model, ops.run_batch(model, ints)).reshape(len(calibration), -1)
    error = float(np.max(np.abs(ours - reference)))
    assert result.report.max_abs_error == pytest.approx(error, rel=1e-9, abs=1e-12)
    assert result.report.max_abs_output == pytest.approx(float(np.max(np.abs(reference))))
    assert error <= relative_error * result.report.max_abs_output
    assert result.report.float_max_abs_diff < float_tolerance
    channels, height, width = model.layers[-1].out_shape
    if channels > 1 and height * width > 1:  # a class decision per pixel
        shape = (len(calibration), channels, height * width)
        top1 = float(np.mean(ours.reshape(shape).argmax(axis=1) == reference.reshape(shape).argmax(axis=1)))
        assert result.report.agreement_per == "pixel"
    else:
        top1 = float(np.mean(ours.argmax(axis=1) == reference.argmax(axis=1)))
        assert result.report.agreement_per == "input"
    assert result.report.top1_agreement == top1
    return reference


def test_conv_bn_relu_pool_gemm_matches_onnxruntime(tmp_path):
    path = conv_bn_relu_cnn(tmp_path / "cnn.onnx")
    result = import_onnx(path)
    assert [layer.kind for layer in result.model.layers] == ["conv2d", "maxpool", "dense"]
    assert [layer.activation for layer in result.model.layers] == ["relu", "relu", "none"]
    assert "seeded random" in result.report.calibration
    reference = check_against_onnxruntime(path, result)
    assert result.report.top1_agreement >= 0.75
    model = result.model
    calibration = np.random.default_rng(0).uniform(-1.0, 1.0, size=(16, *model.input_shape))
    ours = ops.dequantize(model, ops.run_batch(model, quantize_array(calibration, model.input_frac)))
    centred = [a.reshape(16, -1) - a.reshape(16, -1).mean(axis=0) for a in (ours, reference)]
    expected = float(np.corrcoef(centred[0].ravel(), centred[1].ravel())[0, 1])
    assert result.report.logit_correlation == pytest.approx(expected) and expected > 0.9
    assert f"correlation {expected:.4f}" in result.report.summary()


@pytest.mark.parametrize(
    "seed, channels, size, out_channels, stride, padding, kernel",
    [
        (10, 1, 2, 1, 1, 0, 1),
        (11, 3, 7, 2, 2, 1, 3),
        (12, 2, 9, 3, 3, 2, 5),
        (13, 1, 5, 1, 1, 0, 2),
    ],
)
def test_random_conv_shapes_match_onnxruntime(
    tmp_path, seed, channels, size, out_channels, stride, padding, kernel
):
    path = conv_bn_relu_cnn(
        tmp_path / "cnn.onnx",
        seed,
        channels,
        size,
        out_channels,
        stride,
        padding,
        kernel,
        classes=3,
        opset=13 + seed % 6,
    )
    result = import_onnx(path)
    conv = result.model.layers[0]
    assert (conv.kernel, conv.stride, conv.padding) == (kernel, stride, padding)
    check_against_onnxruntime(path, result)


@pytest.mark.parametrize("batch", [1, "N"])
def test_mlp_with_matmul_add_reshape_and_dropout(tmp_path, batch):
    path = mlp(tmp_path / "mlp.onnx", batch=batch)
    calibration = np.random.default_rng(5).normal(0, 1, (12, 6))
    result = import_onnx(path, calibration, "normal draws")
    assert result.model.input_shape == (6, 1, 1)
    assert [(layer.kind, layer.activation) for layer in result.model.layers] == [
        ("dense", "relu"),
        ("dense", "none"),
    ]
    assert result.report.calibration == "12 inputs from normal draws" and result.report.num_inputs == 12
    check_against_onnxruntime(path, result, calibration)


def test_residual_adds_fold_into_the_layer(tmp_path):
    path = residual_block(tmp_path / "res.onnx")
    result = import_onnx(path)
    layers = result.model.layers
    names = [layer.name for layer in layers]
    second = layers[names.index("c2_node")]
    assert second.residual == names.index("c0_node") and second.activation == "relu"
    down_main, down_skip = layers[names.index("c3_node")], layers[names.index("c4_node")]
    assert down_skip.residual == names.index("c3_node") and down_skip.activation == "relu"
    assert down_main.activation == "clamp"
    assert all(layer.residual_shift >= 0 for layer in layers)
    check_against_onnxruntime(path, result)


def test_relu6_and_pools(tmp_path):
    path = relu6_pools(tmp_path / "relu6.onnx")
    calibration = np.random.default_rng(7).uniform(-2, 2, (8, 2, 10, 10))
    result = import_onnx(path, calibration)
    kinds = [(layer.kind, layer.activation) for layer in result.model.layers]
    assert kinds == [
        ("maxpool", "clamp"),
        ("conv2d", "relu"),
        ("maxpool", "relu"),
        ("avgpool", "relu"),
        ("conv2d", "none"),
    ]
    conv, pool = result.model.layers[1], result.model.layers[2]
    assert conv.out_frac <= 4 and conv.act_max == round(6 * 2**conv.out_frac) <= 127
    assert (pool.act_max, pool.out_frac, pool.shift) == (conv.act_max, conv.out_frac, 0)
    ints = quantize_array(calibration, result.model.input_frac)
    ys = {index: y for index, _, _, _, y in ops.forward_batch(result.model, np.moveaxis(ints, 0, 1))}
    assert ys[1].max() == conv.act_max
    check_against_onnxruntime(path, result, calibration)


def test_external_data_and_compiled_folder(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    path = conv_bn_relu_cnn(
        folder / "cnn.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    assert (folder / "weights.bin").stat().st_size > 1000 and path.stat().st_size < 1000
    result = compile_onnx(path, tmp_path / "out")
    inline = import_onnx(conv_bn_relu_cnn(tmp_path / "cnn.onnx"))
    assert result.model.name == "cnn" and result.model.digest == inline.model.digest
    loaded = compiled.load(tmp_path / "out")
    assert loaded.digest == result.model.digest
    report = json.loads((tmp_path / "out" / "import.json").read_text())
    assert report["digest"] == loaded.digest and report["num_inputs"] == 16
    key = source_digest(path)
    data = bytearray((folder / "weights.bin").read_bytes())
    data[0] ^= 1
    (folder / "weights.bin").write_bytes(bytes(data))
    assert source_digest(path) != key
    (folder / "weights.bin").unlink()
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        import_onnx(path)


def test_unsupported_ops_are_all_listed(tmp_path):
    rng = np.random.default_rng(0)
    nodes = [
        node("Conv", ["x", "w"], "c"),
        node("Tanh", ["c"], "s"),
        node("Sub", ["s", "c"], "m"),
        node("Flatten", ["m"], "f"),
        node("Softmax", ["f"], "y"),
    ]
    path = build(
        nodes, [const("w", rng.normal(0, 1, (2, 1, 1, 1)))], (1, 1, 2, 2), (1, 8), tmp_path / "bad.onnx"
    )
    with pytest.raises(ModelError) as caught:
        import_onnx(path)
    message = str(caught.value)
    assert "\n" not in message
    for expected in ("Tanh (node 's_node')", "Sub (node 'm_node')", "Softmax (node 'y_node')"):
        assert expected in message
    assert "Conv" not in message and "Flatten" not in message


@pytest.mark.parametrize("opset", [12, 19])
def test_opsets_outside_13_to_18_are_refused(tmp_path, opset):
    path = conv_bn_relu_cnn(tmp_path / "cnn.onnx", opset=opset)
    with pytest.raises(ModelError, match=f"opset {opset} is not supported .opsets 13-18."):
        import_onnx(path)


@pytest.mark.parametrize("content", [b"", b"\x08\x07garbage\xff\xfe" * 20, b"not a model at all"])
def test_malformed_file_is_one_line_error(tmp_path, content):
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError) as caught:
        import_onnx(path)
    assert "\n" not in str(caught.value) and "broken.onnx" in str(caught.value)


def single_conv(tmp_path, **attrs) -> Path:
    weight = np.ones(attrs.pop("weight_shape", (2, 1, 3, 3)))
    return build(
        [node("Conv", ["x", "w"], "y", **attrs)],
        [const("w", weight)],
        (1, 1, 6, 6),
        (1, 2, 4, 4),
        tmp_path / "conv.onnx",
    )


@pytest.mark.parametrize(
    "attrs, message",
    [
        ({"pads": [1, 0, 1, 0]}, "asymmetric pads"),
        ({"strides": [1, 2]}, r"3x3 kernel with strides \[1, 2\] is supported with odd sides and pads"),
        ({"weight_shape": (2, 1, 3, 1)}, r"pads \[1, 0, 1, 0\] \(windows centred"),
        ({"weight_shape": (2, 1, 3, 2), "pads": [1, 1, 1, 1]}, "with odd sides"),
        ({"weight_shape": (2, 1, 3, 1), "pads": [1, 0, 1, 0], "auto_pad": "SAME_UPPER"}, "with odd sides"),
        ({"dilations": [2, 2]}, "dilated convolutions"),
        ({"auto_pad": "SAME_UPPER"}, "auto_pad SAME_UPPER"),
    ],
)
def test_conv_outside_the_ir_is_refused(tmp_path, attrs, message):
    with pytest.raises(ModelError, match=message):
        import_onnx(single_conv(tmp_path, **attrs))


@pytest.mark.parametrize(
    "kernel, strides", [((3, 5), [1, 1]), ((1, 3), [2, 1]), ((5, 3), [2, 3]), ((3, 3), [1, 2])]
)
def test_non_square_and_per_axis_strided_convs_match_onnxruntime(tmp_path, kernel, strides):
    """A Conv with a non-square kernel or a stride per axis (pads K // 2) imports as a probe_conv2d layer
    with zero borders, and its integer model follows onnxruntime within int8 quantization."""
    rng = np.random.default_rng(sum(kernel) + sum(strides))
    kh, kw = kernel
    size = (9, 11)
    out = (3, (size[0] - 1) // strides[0] + 1, (size[1] - 1) // strides[1] + 1)
    path = build(
        [
            node("Conv", ["x", "w", "b"], "c", pads=[kh // 2, kw // 2] * 2, strides=strides),
            node("Relu", ["c"], "y"),
        ],
        [const("w", rng.normal(0, 0.5, (3, 2, kh, kw))), const("b", rng.normal(0, 0.1, 3))],
        (1, 2, *size),
        (1, *out),
        tmp_path / "probe.onnx",
    )
    result = import_onnx(path)
    (layer,) = result.model.layers
    assert (layer.kind, layer.kernel, layer.kernel_w, layer.stride, layer.stride_w) == (
        "probe_conv2d",
        kh,
        kw,
        *strides,
    )
    assert (layer.border_h, layer.border_w, layer.out_shape) == ("zeros", "zeros", out)
    check_against_onnxruntime(path, result)


def inverted_residual(path: Path, seed: int = 9) -> Path:
    """A MobileNetV2-style block: stem Conv -> Relu; Conv 1x1 -> BN -> Clip(0, 6); depthwise Conv 3x3 ->
    BN -> Clip(0, 6); Conv 1x1 -> BN; Add to the stem; grouped Conv 5x5 stride 2 (group 2) -> Relu;
    GlobalAveragePool -> Flatten -> Gemm."""
    rng = np.random.default_rng(seed)
    bn1, bn1_inits = bn_inits(rng, "bn1", 8)
    bn2, bn2_inits = bn_inits(rng, "bn2", 8)
    bn3, bn3_inits = bn_inits(rng, "bn3", 4)
    nodes = [
        node("Conv", ["x", "w0"], "c0", pads=[1, 1, 1, 1]),
        node("Relu", ["c0"], "r0"),
        node("Conv", ["r0", "w1"], "c1"),
        node("BatchNormalization", ["c1", *bn1], "n1"),
        node("Clip", ["n1", "zero", "six"], "r1"),
        node("Conv", ["r1", "w2"], "c2", pads=[1, 1, 1, 1], group=8),
        node("BatchNormalization", ["c2", *bn2], "n2"),
        node("Clip", ["n2", "zero", "six"], "r2"),
        node("Conv", ["r2", "w3"], "c3"),
        node("BatchNormalization", ["c3", *bn3], "n3"),
        node("Add", ["n3", "r0"], "s"),
        node("Conv", ["s", "w4", "b4"], "c4", pads=[2, 2, 2, 2], strides=[2, 2], group=2),
        node("Relu", ["c4"], "r4"),
        node("GlobalAveragePool", ["r4"], "g"),
        node("Flatten", ["g"], "f"),
        node("Gemm", ["f", "w5"], "y", transB=1),
    ]
    inits = [
        const("w0", rng.normal(0, 0.5, (4, 2, 3, 3))),
        const("w1", rng.normal(0, 0.5, (8, 4, 1, 1))),
        *bn1_inits,
        const("zero", np.array(0.0)),
        const("six", np.array(6.0)),
        const("w2", rng.normal(0, 0.5, (8, 1, 3, 3))),
        *bn2_inits,
        const("w3", rng.normal(0, 0.5, (4, 8, 1, 1))),
        *bn3_inits,
        const("w4", rng.normal(0, 0.3, (6, 2, 5, 5))),
        const("b4", rng.normal(0, 0.1, 6)),
        const("w5", rng.normal(0, 0.5, (3, 6))),
    ]
    return build(nodes, inits, (1, 2, 8, 8), (1, 3), path)


def resnet_stem(path: Path, seed: int = 10) -> Path:
    """ResNet's stem on a small image: Conv 7x7 stride 2 pad 3 -> BN -> Relu -> MaxPool 3x3 stride 2 pad 1,
    then Conv 1x1 -> GlobalAveragePool -> Flatten -> Gemm."""
    rng = np.random.default_rng(seed)
    bn, bn_arrays = bn_inits(rng, "bn", 4)
    nodes = [
        node("Conv", ["x", "w0"], "c0", pads=[3, 3, 3, 3], strides=[2, 2], kernel_shape=[7, 7]),
        node("BatchNormalization", ["c0", *bn], "n0"),
        node("Relu", ["n0"], "r0"),
        node("MaxPool", ["r0"], "p0", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        node("Conv", ["p0", "w1"], "c1"),
        node("GlobalAveragePool", ["c1"], "g"),
        node("Flatten", ["g"], "f"),
        node("Gemm", ["f", "w2"], "y", transB=1),
    ]
    inits = [
        const("w0", rng.normal(0, 0.2, (4, 3, 7, 7))),
        *bn_arrays,
        const("w1", rng.normal(0, 0.5, (4, 4, 1, 1))),
        const("w2", rng.normal(0, 0.5, (3, 4))),
    ]
    return build(nodes, inits, (1, 3, 16, 16), (1, 3), path)


def test_padded_max_pooling_matches_onnxruntime(tmp_path):
    path = resnet_stem(tmp_path / "stem.onnx")
    result = import_onnx(path)
    pool = result.model.layers[1]
    assert (pool.kind, pool.kernel, pool.stride, pool.padding) == ("maxpool", 3, 2, 1)
    assert pool.out_shape == (4, 4, 4)
    check_against_onnxruntime(path, result)


def average_pools(path: Path, seed: int = 11) -> Path:
    """Conv -> Relu -> AveragePool 3x3 (stride 3) -> Conv -> GlobalAveragePool over 7x7 -> Flatten -> Gemm:
    both divisions need the fixed-point rescale."""
    rng = np.random.default_rng(seed)
    nodes = [
        node("Conv", ["x", "w0"], "c0", pads=[1, 1, 1, 1]),
        node("Relu", ["c0"], "r0"),
        node("AveragePool", ["r0"], "a0", kernel_shape=[3, 3], strides=[3, 3]),
        node("Conv", ["a0", "w1"], "c1", pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], "r1"),
        node("GlobalAveragePool", ["r1"], "g"),
        node("Flatten", ["g"], "f"),
        node("Gemm", ["f", "w2"], "y", transB=1),
    ]
    inits = [
        const("w0", rng.normal(0, 0.5, (3, 2, 3, 3))),
        const("w1", rng.normal(0, 0.5, (4, 3, 3, 3))),
        const("w2", rng.normal(0, 0.5, (3, 4))),
    ]
    return build(nodes, inits, (1, 2, 21, 21), (1, 3), path)


def test_averages_over_windows_that_are_not_powers_of_two_match_onnxruntime(tmp_path):
    path = average_pools(tmp_path / "avg.onnx")
    result = import_onnx(path)
    pool, gap = result.model.layers[1], result.model.layers[3]
    assert (pool.kind, pool.kernel, pool.out_shape) == ("avgpool", 3, (3, 7, 7))
    assert (gap.kind, gap.in_shape[1:]) == ("global_avgpool", (7, 7))
    # the float interpretation averages with the rescale M / 2^t, within 2^-11 of 1 / n
    reference = check_against_onnxruntime(path, result, float_tolerance=2.0**-11 * 4)
    assert result.report.float_max_abs_diff <= 2.0**-11 * float(np.max(np.abs(reference))) * 4


def test_depthwise_and_grouped_convs_match_onnxruntime(tmp_path):
    path = inverted_residual(tmp_path / "block.onnx")
    result = import_onnx(path)
    layers = result.model.layers
    assert [(layer.kind, layer.groups) for layer in layers] == [
        ("conv2d", 1),
        ("conv2d", 1),
        ("grouped_conv2d", 8),
        ("conv2d", 1),
        ("grouped_conv2d", 2),
        ("global_avgpool", 1),
        ("dense", 1),
    ]
    assert layers[2].weight_shape == (8, 1, 3, 3) and layers[4].weight_shape == (6, 2, 5, 5)
    assert layers[3].residual == 0
    check_against_onnxruntime(path, result)


@pytest.mark.parametrize(
    "group, weight_shape, message",
    [
        (3, (3, 1, 3, 3), "group 3 is not in \\[1, 2\\]"),
        (2, (3, 1, 3, 3), "does not divide the 2 input and 3 output channels"),
        (2, (2, 2, 3, 3), "weight has 2 input channels per group, the input has 2 in 2 group"),
        (0, (2, 1, 3, 3), "group 0 is not in"),
    ],
)
def test_bad_group_counts_are_refused(tmp_path, group, weight_shape, message):
    proto = graph_case(
        [node("Conv", ["x", "w"], "y", group=group)],
        [const("w", np.ones(weight_shape))],
        input_dims=(1, 2, 6, 6),
        output_dims=(1, 2, 4, 4),
    )
    path = tmp_path / "conv.onnx"
    onnx.save_model(proto, str(path))
    with pytest.raises(ModelError, match=message):
        import_onnx(path)


def test_unfoldable_patterns_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    bn, bn_arrays = bn_inits(rng, "bn", 1)
    cases = [
        (
            [node("Relu", ["x"], "r"), node("BatchNormalization", ["r", *bn], "y")],
            bn_arrays,
            "batch normalization must directly follow a Conv or Gemm",
        ),
        (
            [node("Conv", ["x", "w"], "c"), node("Add", ["c", "x"], "y")],
            [const("w", np.ones((1, 1, 1, 1)))],
            "the model input cannot be a residual operand",
        ),
        (
            [node("Clip", ["x", "lo", "hi"], "y")],
            [const("lo", np.array(-1.0)), const("hi", np.array(1.0))],
            "only Clip.min=0, max>0.",
        ),
        (
            [node("AveragePool", ["x"], "y", kernel_shape=[2, 2], strides=[1, 1])],
            [],
            "needs stride == kernel",
        ),
        (
            [node("AveragePool", ["x"], "y", kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1])],
            [],
            "padded average pooling",
        ),
        (
            [node("MaxPool", ["x"], "y", kernel_shape=[2, 2], pads=[2, 2, 2, 2])],
            [],
            "padding 2 is not smaller",
        ),
        (
            [node("MaxPool", ["x"], "y", kernel_shape=[2, 2], storage_order=1)],
            [],
            "storage_order 1 is not supported",
        ),
        (
            [node("Conv", ["x", "w"], "c"), node("Relu", ["c"], "r"), node("Conv", ["c", "w"], "y")],
            [const("w", np.ones((1, 1, 1, 1)))],
            "before a later operation was folded into it",
        ),
        (
            [node("Conv", ["x", "w"], "c"), node("Relu", ["c"], "r"), node("Add", ["c", "r"], "y")],
            [const("w", np.ones((1, 1, 1, 1)))],
            "adds a layer's output to itself",
        ),
        (
            [node("Reshape", ["x", "s"], "y")],
            [numpy_helper.from_array(np.array([1, 2, 8]), "s")],
            "reshape .* is not supported",
        ),
    ]
    for nodes, inits, message in cases:
        path = build(nodes, inits, (1, 1, 4, 4), (1, 1, 4, 4), tmp_path / "case.onnx")
        with pytest.raises(ModelError, match=message):
            import_onnx(path)


def test_bad_calibration_is_refused(tmp_path):
    path = mlp(tmp_path / "mlp.onnx")
    with pytest.raises(ModelError, match=r"calibration inputs must have shape \(N, 6\)"):
        import_onnx(path, np.zeros((3, 5)))
    with pytest.raises(ModelError, match="NaN or infinite"):
        import_onnx(path, np.full((2, 6), np.nan))


def test_load_model_compiles_an_onnx_file_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPROVE_CACHE", str(tmp_path / "cache"))
    path = mlp(tmp_path / "mlp.onnx")
    model = load_model(str(path))
    folder = tmp_path / "cache" / "onnx" / source_digest(path)
    assert (folder / "manifest.json").is_file() and (folder / "import.json").is_file()
    assert folder.name == hashlib.sha256(path.read_bytes()).hexdigest()

    def refuse(*args, **kwargs):
        raise AssertionError("the cached model should have been reused")

    monkeypatch.setattr("edgeprove.model.onnx_import.compile_onnx", refuse)
    assert load_model(str(path)).digest == model.digest
    with pytest.raises(ModelError, match="no such ONNX file"):
        load_model(str(tmp_path / "missing.onnx"))


def invoke(*args: str):
    return runner.invoke(full_app(), list(args))


def test_cli_import_text_json_and_calibration(tmp_path):
    path = conv_bn_relu_cnn(tmp_path / "cnn.onnx")
    text = invoke("import", str(path), "--out", str(tmp_path / "a"))
    assert text.exit_code == 0, text.output
    assert "top-1 agreement" in text.output and "seeded random inputs" in text.output
    calibration = np.random.default_rng(3).uniform(-1, 1, (5, 2, 8, 8)).astype(np.float32)
    np.save(tmp_path / "calib.npy", calibration)
    out = invoke(
        "import",
        str(path),
        "--out",
        str(tmp_path / "b"),
        "--calibration",
        str(tmp_path / "calib.npy"),
        "--json",
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["num_inputs"] == 5 and data["calibration"] == "5 inputs from calib.npy"
    assert 0.0 <= data["top1_agreement"] <= 1.0 and data["max_abs_error"] >= 0
    assert compiled.load(tmp_path / "b").digest == data["digest"]


def test_cli_import_errors_exit_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    nodes = [node("Tanh", ["x"], "t"), node("Softmax", ["t"], "y")]
    unsupported = build(nodes, [], (1, 4), (1, 4), tmp_path / "u.onnx")
    np.save(tmp_path / "wrong.npy", np.zeros((2, 3)))
    for args, message in [
        ((str(bad),), "not a readable ONNX model"),
        ((str(unsupported),), "Tanh (node 't_node'), Softmax (node 'y_node')"),
        ((str(tmp_path / "missing.onnx"),), "no such ONNX file"),
        ((str(mlp(tmp_path / "mlp.onnx")), "--calibration", str(tmp_path / "wrong.npy")), "calibration"),
    ]:
        result = invoke("import", *args, "--out", str(tmp_path / "o"))
        assert result.exit_code == 2
        assert message in result.output and len(result.output.strip().splitlines()) == 1
        assert "Traceback" not in result.output


def maxpool_model(activation: str = "relu", act_max: int = 100, kernel: int = 3, stride: int = 2) -> Model:
    """conv (relu, act_max) -> maxpool -> dense."""
    rng = np.random.default_rng(4)
    conv = Layer(
        "conv",
        "conv2d",
        -1,
        (2, 7, 6),
        (3, 7, 6),
        shift=4,
        activation=activation,
        kernel=3,
        padding=1,
        act_max=act_max,
    )
    out = ((7 - kernel) // stride + 1, (6 - kernel) // stride + 1)
    pool = Layer(
        "pool",
        "maxpool",
        0,
        (3, 7, 6),
        (3, *out),
        shift=0,
        activation=activation,
        kernel=kernel,
        stride=stride,
        act_max=act_max,
    )
    fc = Layer("fc", "dense", 1, pool.out_shape, (2, 1, 1), shift=0, activation="none")
    weights = [
        rng.integers(-50, 50, (3, 2, 3, 3)).astype(np.int8),
        None,
        rng.integers(-50, 50, (2, int(np.prod(pool.out_shape)))).astype(np.int8),
    ]
    biases = [rng.integers(-20, 20, 3), None, rng.integers(-20, 20, 2)]
    return Model("pooled", (2, 7, 6), 0, [conv, pool, fc], weights, biases)


@pytest.mark.parametrize(
    "activation, act_max, kernel, stride",
    [("relu", 100, 3, 2), ("clamp", 127, 2, 2), ("relu", 0, 1, 1), ("clamp", 5, 3, 1)],
)
def test_maxpool_and_act_max_semantics(activation, act_max, kernel, stride):
    model = maxpool_model(activation, act_max, kernel, stride)
    x = np.random.default_rng(1).integers(-128, 128, model.input_shape)
    outputs = {index: (a, q, r, y) for index, a, q, r, y in ops.forward(model, x)}
    conv_y = outputs[0][3]
    lo = 0 if activation == "relu" else -128
    assert conv_y.min() >= lo and conv_y.max() <= act_max
    np.testing.assert_array_equal(conv_y, np.clip(outputs[0][1], lo, act_max))
    a, q, r, y = outputs[1]
    out_h, out_w = model.layers[1].out_shape[1:]
    brute = np.array(
        [
            [
                [
                    conv_y[c, i * stride : i * stride + kernel, j * stride : j * stride + kernel].max()
                    for j in range(out_w)
                ]
                for i in range(out_h)
            ]
            for c in range(3)
        ]
    )
    np.testing.assert_array_equal(a, brute)
    np.testing.assert_array_equal(q, brute)
    np.testing.assert_array_equal(y, brute)
    assert not r.any()
    bounds = layer_bounds(model, 1)
    assert (bounds.acc_min, bounds.acc_max) == (lo, act_max)


def test_maxpool_and_act_max_validation():
    model = maxpool_model()
    layers = model.layers

    def refused(index: int, message: str, **changes) -> None:
        changed = list(layers)
        changed[index] = dataclasses.replace(layers[index], **changes)
        with pytest.raises(ModelError, match=message):
            Model("m", model.input_shape, 0, changed, model.weights, model.biases)

    refused(1, "maxpool range .* differs from its source's", act_max=127)
    refused(1, "maxpool range .* differs from its source's", activation="clamp")
    refused(1, "maxpool takes no shift or residual", shift=1)
    refused(1, "padding must be smaller than the kernel", padding=3)
    refused(1, "does not match the computed", out_shape=(3, 2, 2))
    refused(0, "act_max 128 is outside .0, 127.", act_max=128)
    refused(0, "act_max -1 is outside", act_max=-1)
    refused(2, "activation 'none' takes no act_max", act_max=5)
    first = Layer("pool", "maxpool", -1, (1, 4, 4), (1, 2, 2), shift=0, activation="relu", kernel=2, stride=2)
    with pytest.raises(ModelError, match="differs from its source's .-128, 127."):
        Model("m", (1, 4, 4), 0, [first], [None], [None])


def test_act_max_in_manifest_only_when_set(tmp_path):
    model = maxpool_model(act_max=127)
    assert all("act_max" not in layer.to_dict() for layer in model.layers)
    custom = maxpool_model(act_max=90)
    assert custom.layers[0].to_dict()["act_max"] == 90 and custom.digest != model.digest
    compiled.save(custom, tmp_path / "m")
    loaded = compiled.load(tmp_path / "m")
    assert loaded.layers == custom.layers and loaded.digest == custom.digest


def test_quantizer_carries_scale_through_maxpool_and_clips():
    conv = Layer("conv", "conv2d", -1, (1, 4, 4), (2, 4, 4), shift=0, activation="relu", kernel=3, padding=1)
    pool = Layer("pool", "maxpool", 0, (2, 4, 4), (2, 2, 2), shift=0, activation="relu", kernel=2, stride=2)
    fc = Layer("fc", "dense", 1, (2, 2, 2), (2, 1, 1), shift=0, activation="none")
    rng = np.random.default_rng(0)
    params = {
        0: (rng.normal(0, 3, (2, 1, 3, 3)), rng.normal(2, 1, 2)),
        2: (rng.normal(0, 1, (2, 8)), np.zeros(2)),
    }
    result = quantize(FloatModel.from_arrays("q", (1, 4, 4), [conv, pool, fc], params, {0: 6.0}))
    conv_q, pool_q = result.model.layers[:2]
    assert conv_q.act_max == round(6 * 2**conv_q.out_frac) and conv_q.out_frac <= 4
    assert (pool_q.out_frac, pool_q.act_max, pool_q.shift) == (conv_q.out_frac, conv_q.act_max, 0)
    assert np.max(result.float_outputs) < np.inf
    with pytest.raises(ModelError, match="clip_max names 2, not a relu layer"):
        FloatModel.from_arrays("q", (1, 4, 4), [conv, pool, fc], params, {2: 6.0})
    with pytest.raises(ModelError, match="clips at -1.0, expected a positive finite number"):
        FloatModel.from_arrays("q", (1, 4, 4), [conv, pool, fc], params, {0: -1.0})


def identity_layers(path: Path, seed: int = 6) -> Path:
    """Activations and residual adds on tensors that are already closed, which need identity layers."""
    rng = np.random.default_rng(seed)
    nodes = [
        node("Relu", ["x"], "r0"),
        node("Conv", ["r0", "w1"], "c1", pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], "r1"),
        node("Conv", ["r1", "w2"], "c2", pads=[1, 1, 1, 1]),
        node("Relu", ["c2"], "r2"),
        node("Add", ["r1", "r2"], "s"),
        node("Conv", ["s", "w3"], "c3"),
        node("MaxPool", ["c3"], "p", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        node("Relu", ["p"], "rp"),
        node("Relu", ["rp"], "rr"),
        node("GlobalAveragePool", ["rr"], "g"),
        node("Flatten", ["g"], "f"),
        node("Gemm", ["f", "w4"], "y", alpha=0.5),
    ]
    inits = [
        const("w1", rng.normal(0, 0.4, (2, 2, 3, 3))),
        const("w2", rng.normal(0, 0.4, (2, 2, 3, 3))),
        const("w3", rng.normal(0, 0.4, (3, 2, 1, 1))),
        const("w4", rng.normal(0, 0.5, (3, 4))),
    ]
    return build(nodes, inits, (1, 2, 4, 4), (1, 4), path, opset=18)


def test_identity_layers_carry_activations_and_adds_on_closed_tensors(tmp_path):
    path = identity_layers(tmp_path / "ident.onnx")
    result = import_onnx(path)
    layers = result.model.layers
    assert [(layer.kind, layer.activation) for layer in layers] == [
        ("avgpool", "relu"),
        ("conv2d", "relu"),
        ("conv2d", "relu"),
        ("avgpool", "clamp"),
        ("conv2d", "clamp"),
        ("maxpool", "clamp"),
        ("avgpool", "relu"),
        ("global_avgpool", "relu"),
        ("dense", "none"),
    ]
    assert layers[3].kernel == 1 and (layers[3].source, layers[3].residual) == (2, 1)
    check_against_onnxruntime(path, result)


def graph_case(
    nodes,
    inits,
    input_dims=(1, 1, 4, 4),
    output_dims=(1, 1, 4, 4),
    elem=TensorProto.FLOAT,
    outputs=("y",),
    opset=13,
):
    """A model proto without the checker (some cases are invalid on purpose)."""
    graph = helper.make_graph(
        nodes,
        "case",
        [helper.make_tensor_value_info("x", elem, list(input_dims))],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(output_dims)) for name in outputs],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


W1 = const("w", np.ones((1, 1, 1, 1)))


@pytest.mark.parametrize(
    "proto, message",
    [
        (graph_case([node("Relu", ["x"], "y")], [], input_dims=(2, 1, 4, 4)), "batch size 2"),
        (graph_case([node("Relu", ["x"], "y")], [], input_dims=(1, 4, 4)), "rank 3"),
        (graph_case([node("Relu", ["x"], "y")], [], input_dims=(1, "h", 4, 4)), "must be static"),
        (graph_case([node("Relu", ["x"], "y")], [], elem=TensorProto.INT8), "only float32 inputs"),
        (graph_case([node("Identity", ["x"], "y")], []), "graph output 'y' is not computed by any layer"),
        (
            graph_case([node("Relu", ["x"], "y"), node("Relu", ["x"], "z")], [], outputs=("y", "z")),
            "2 outputs",
        ),
        (
            graph_case([node("Relu", ["x"], "y"), node("Conv", ["y", "w"], "z")], [W1]),
            "is not the last layer's output",
        ),
        (graph_case([node("Conv", ["x", "w"], "y", pads=[1, 1, 1, 1])], [W1]), "padding 1 is not smaller"),
        (
            graph_case([node("Conv", ["x", "w"], "y")], [const("w", np.ones((1, 2, 1, 1)))]),
            "weight has 2 input channels per group, the input has 1",
        ),
        (graph_case([node("Conv", ["x", "x"], "y")], []), "must be a constant"),
        (
            graph_case([node("Conv", ["x", "w", "b"], "y")], [W1, const("b", np.ones(3))]),
            "bias has 3 values for 1 output channels",
        ),
        (graph_case([node("Conv", ["x"], "y")], []), "Conv node 'y_node': malformed node"),
        (graph_case([node("Sigmoid", [], "y")], []), "Sigmoid node 'y_node': malformed node"),
        (
            graph_case([node("Conv", ["x", "w"], "c"), node("Sigmoid", ["w"], "y")], [W1]),
            "Sigmoid node 'y_node': constant input 'w' where a computed tensor is expected",
        ),
        (graph_case([node("Gemm", ["x", "w"], "y", transA=1)], [W1]), "transA is not supported"),
        (
            graph_case([node("Gemm", ["x", "w"], "y")], [const("w", np.ones((16, 2)))]),
            "expects a .1, features. input; flatten the tensor first",
        ),
        (
            graph_case(
                [node("Flatten", ["x"], "f"), node("MatMul", ["f", "w"], "y")], [const("w", np.ones(16))]
            ),
            "only a .features, outputs. constant right operand",
        ),
        (
            graph_case([node("Flatten", ["x"], "f", axis=2), node("Relu", ["f"], "y")], []),
            "only flattening everything after the batch axis",
        ),
        (
            graph_case(
                [
                    helper.make_node("Constant", [], ["c"], name="k", value_float=1.0),
                    node("Relu", ["x"], "y"),
                ],
                [],
            ),
            "only tensor-valued Constant nodes",
        ),
        (
            graph_case([helper.make_node("Dropout", ["x"], ["y", "mask"], name="d")], []),
            "the dropout mask output is not supported",
        ),
        (
            graph_case(
                [
                    node("Conv", ["x", "w"], "c"),
                    helper.make_node(
                        "BatchNormalization", ["c", "s", "s", "s", "s"], ["y"], name="bn", training_mode=1
                    ),
                ],
                [W1, const("s", np.ones(1))],
                opset=14,  # the first BatchNormalization with a training mode
            ),
            "training_mode batch normalization",
        ),
        (
            graph_case(
                [node("Conv", ["x", "w"], "c"), node("Relu", ["c"], "r"), node("Add", ["r", "b"], "y")],
                [W1, const("b", np.ones(1))],
            ),
            "a constant can only be added to the open output",
        ),
        (
            graph_case(
                [node("Conv", ["x", "w"], "c"), node("Add", ["c", "b"], "y")],
                [W1, const("b", np.ones((1, 2, 1, 1)))],
            ),
            "is not a per-channel term for 1 channels",
        ),
        (
            graph_case(
                [
                    node("Conv", ["x", "w"], "c"),
                    node("GlobalAveragePool", ["c"], "g"),
                    node("Add", ["c", "g"], "y"),
                ],
                [W1],
            ),
            "residual adds need equal shapes",
        ),
        (
            graph_case([helper.make_node("MaxPool", ["x"], ["y", "i"], name="mp", kernel_shape=[2, 2])], []),
            "the indices output is not supported",
        ),
        (
            graph_case([node("MaxPool", ["x"], "y", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)], []),
            "ceil_mode with partial windows",
        ),
        (graph_case([node("MaxPool", ["x"], "y", kernel_shape=[2, 3])], []), "kernel .2, 3. is not square"),
        (
            graph_case([node("MaxPool", ["x"], "y", kernel_shape=[5, 5])], [], input_dims=(1, 1, 4, 4)),
            "window larger than its input",
        ),
        (
            graph_case([node("GlobalAveragePool", ["x"], "y")], [], input_dims=(1, 1, 23, 24)),
            "cannot average a 23x24 plane: a plane that is not a power of two may hold at most 512",
        ),
    ],
)
def test_graph_shapes_the_ir_cannot_take_are_refused(tmp_path, proto, message):
    path = tmp_path / "case.onnx"
    onnx.save_model(proto, str(path))
    with pytest.raises(ModelError, match=message):
        import_onnx(path)


def test_residual_from_a_maxpool_lowers_the_scale_before_the_pool(tmp_path):
    """A ResNet-style stem: the residual source is a maxpool, so a scale conflict is settled on the conv
    before it (a maxpool keeps its source's scale)."""
    rng = np.random.default_rng(8)
    nodes = [
        node("Conv", ["x", "w0"], "c0", pads=[1, 1, 1, 1]),
        node("Relu", ["c0"], "r0"),
        node("MaxPool", ["r0"], "p0", kernel_shape=[2, 2], strides=[2, 2]),
        node("Conv", ["p0", "w1"], "c1", pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], "r1"),
        node("Conv", ["r1", "w2"], "c2", pads=[1, 1, 1, 1]),
        node("Add", ["c2", "p0"], "s"),
        node("Relu", ["s"], "r2"),
        node("GlobalAveragePool", ["r2"], "g"),
        node("Flatten", ["g"], "f"),
        node("Gemm", ["f", "w3"], "y", transB=1),
    ]
    stem_weight = rng.normal(0, 0.03, (2, 1, 3, 3))
    inits = [
        const("w0", stem_weight),
        const("w1", rng.normal(0, 8.0, (2, 2, 3, 3))),
        const("w2", rng.normal(0, 8.0, (2, 2, 3, 3))),
        const("w3", rng.normal(0, 1.0, (3, 2))),
    ]
    path = build(nodes, inits, (1, 1, 8, 8), (1, 3), tmp_path / "stem.onnx")
    result = import_onnx(path)
    stem, pool, _, block = result.model.layers[:4]
    assert block.residual == 1 and pool.kind == "maxpool"
    assert pool.out_frac == stem.out_frac and block.residual_shift == 0
    calibration = np.random.default_rng(0).uniform(-1, 1, (16, 1, 8, 8))
    stem_weight = stem_weight.astype(np.float32)
    stem_float = np.maximum(conv2d.conv2d_sum(stem_weight, np.moveaxis(calibration, 0, 1), 1, 1), 0)
    assert stem.out_frac < frac_for(float(stem_float.max()))  # lowered for the residual add
    check_against_onnxruntime(path, result)


@pytest.mark.parametrize(
    "builder", [conv_bn_relu_cnn, residual_block, relu6_pools, inverted_residual, resnet_stem, average_pools]
)
def test_imported_models_prove_and_verify(tmp_path, monkeypatch, builder):
    """An ONNX path goes straight to the prover: import (cached), prove, verify, same output as inference."""
    from edgeprove import prover, verifier
    from edgeprove.model import ops
    from edgeprove.model.resolve import load_model

    monkeypatch.setenv("EDGEPROVE_CACHE", str(tmp_path / "cache"))
    model = load_model(str(builder(tmp_path / "m.onnx")))
    x = np.random.default_rng(0).integers(-128, 128, model.input_shape)
    result = prover.prove(model, x, tmp_path / "p")
    verdict = verifier.verify(tmp_path / "p", model)
    assert verdict.accepted, verdict.reason
    assert np.array_equal(result.output, ops.run(model, x))


def zoo_equivalent(builder, path: Path, seed: int = 21) -> tuple[Path, list[Layer]]:
    """The ONNX file of a zoo architecture with seeded He-normal weights, written with the onnx helper API
    (``peers.onnx_export``), and the architecture's layers."""
    from edgeprove.model import zoo
    from edgeprove.peers.onnx_export import export_onnx

    model = FloatModel(
        "equivalent",
        builder.input_shape,
        builder.layers,
        zoo.he_parameters(seed, builder.layers),
        builder.clip_max,
    )
    return export_onnx(model, path), builder.layers


@pytest.mark.parametrize(
    "architecture, relative_error, correlation",
    [
        pytest.param(lambda: zoo.resnet18(96, (4, 8, 8, 16), classes=10), 0.2, 0.9, id="resnet18"),
        pytest.param(lambda: zoo.mobilenetv2(64, divisor=8, classes=10), 0.4, 0.5, id="mobilenetv2"),
        pytest.param(lambda: zoo.mobilenetv2(112, divisor=16, classes=10), 0.4, 0.5, id="mobilenetv2-7x7"),
    ],
)
def test_small_zoo_architectures_from_onnx_match_onnxruntime(
    tmp_path, architecture, relative_error, correlation
):
    """ResNet-18 and MobileNetV2 at small widths, exported to ONNX and imported back: the same layers (kinds,
    windows, groups, residuals) as the zoo builds, a float interpretation equal to onnxruntime's, and an
    integer model whose whole difference from onnxruntime is the quantizer's own (MobileNetV2's 17 chained
    blocks with power-of-two int8 scales lose more than ResNet-18)."""
    path, layers = zoo_equivalent(architecture(), tmp_path / "m.onnx")
    result = import_onnx(path)
    imported = result.model.layers
    assert [(layer.kind, layer.kernel, layer.stride, layer.padding, layer.groups) for layer in imported] == [
        (layer.kind, layer.kernel, layer.stride, layer.padding, layer.groups) for layer in layers
    ]
    assert [layer.residual for layer in imported] == [layer.residual for layer in layers]
    # a global pool over 3x3 or 7x7 averages with the rescale M / 2^t, within 2^-11 of the mean
    tolerance = 2.0**-10 * (1 + result.report.max_abs_output)
    reference = check_against_onnxruntime(
        path, result, float_tolerance=tolerance, relative_error=relative_error
    )
    assert reference.shape == (16, 10)
    assert result.report.max_abs_error == pytest.approx(
        result.quantization.max_abs_error, abs=result.report.float_max_abs_diff + 1e-6
    )
    assert result.report.logit_correlation > correlation


def test_a_zero_bordered_probe_convolution_exports_and_imports_back(tmp_path):
    from edgeprove.model import zoo
    from edgeprove.peers.onnx_export import ExportError

    builder = zoo._Builder((2, 9, 12))
    builder.probe("p", -1, 3, (3, 5), (2, 3), ("zeros", "zeros"))
    builder.dense("fc", 0, 4, "none")
    path, layers = zoo_equivalent(builder, tmp_path / "p.onnx")
    result = import_onnx(path)
    fields = (
        "kind",
        "in_shape",
        "out_shape",
        "kernel",
        "kernel_w",
        "stride",
        "stride_w",
        "border_h",
        "border_w",
    )
    assert [getattr(result.model.layers[0], name) for name in fields] == [
        getattr(layers[0], name) for name in fields
    ]
    check_against_onnxruntime(path, result)
    wrapped = zoo._Builder((2, 9, 12))
    wrapped.probe("p", -1, 3, (3, 5), (2, 3), ("clip", "wrap"))
    with pytest.raises(ExportError, match="clip/wrap borders have no Conv equivalent"):
        zoo_equivalent(wrapped, tmp_path / "w.onnx")


def sigmoid_gates(path: Path, seed: int = 30) -> Path:
    """scSE-like gates: Conv -> Relu -> Conv 1x1 -> Sigmoid -> MaxPool, a Sigmoid on the closed max pool
    (an identity layer), and Gemm -> Sigmoid as per-class probabilities at the output."""
    rng = np.random.default_rng(seed)
    nodes = [
        node("Conv", ["x", "w1", "b1"], "c1", pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], "r1"),
        node("Conv", ["r1", "w2", "b2"], "c2"),
        node("Sigmoid", ["c2"], "s2"),
        node("MaxPool", ["s2"], "p2", kernel_shape=[2, 2], strides=[2, 2]),
        node("Sigmoid", ["p2"], "s3"),
        node("Flatten", ["s3"], "f"),
        node("Gemm", ["f", "w4", "b4"], "g"),
        node("Sigmoid", ["g"], "y"),
    ]
    inits = [
        const("w1", rng.normal(0, 0.6, (3, 2, 3, 3))),
        const("b1", rng.normal(0, 0.1, 3)),
        const("w2", rng.normal(0, 1.5, (2, 3, 1, 1))),
        const("b2", rng.normal(0, 0.5, 2)),
        const("w4", rng.normal(0, 2.0, (8, 3))),
        const("b4", rng.normal(0, 0.5, 3)),
    ]
    return build(nodes, inits, (1, 2, 4, 4), (1, 3), path)


def test_sigmoids_after_conv_and_gemm_match_onnxruntime_and_prove(tmp_path, monkeypatch):
    from edgeprove import prover, verifier

    path = sigmoid_gates(tmp_path / "gates.onnx")
    result = import_onnx(path)
    layers = result.model.layers
    assert [(layer.kind, layer.activation) for layer in layers] == [
        ("conv2d", "relu"),
        ("conv2d", "sigmoid"),
        ("maxpool", "relu"),
        ("avgpool", "sigmoid"),
        ("dense", "sigmoid"),
    ]
    assert [(layer.out_frac, layer.act_max) for layer in layers if layer.activation == "sigmoid"] == [
        (7, 127)
    ] * 3
    assert layers[2].act_max == 127 and layers[2].out_frac == 7
    # outputs in [0, 1]: int8 steps of 2^-7 plus the sigmoid's own rounding
    check_against_onnxruntime(path, result, relative_error=0.05)
    monkeypatch.setenv("EDGEPROVE_CACHE", str(tmp_path / "cache"))
    model = load_model(str(path))
    x = np.random.default_rng(1).integers(-128, 128, model.input_shape)
    proven = prover.prove(model, x, tmp_path / "p")
    verdict = verifier.verify(tmp_path / "p", model)
    assert verdict.accepted, verdict.reason
    assert np.array_equal(proven.output, ops.run(model, x))


def test_a_sigmoid_model_exports_and_imports_back(tmp_path):
    builder = zoo._Builder((2, 6, 6))
    builder.conv("c", -1, 3, 3, 1, 1, "relu")
    builder.conv("gate", 0, 3, 1, activation="sigmoid")
    builder.dense("fc", 1, 4, "sigmoid")
    path, layers = zoo_equivalent(builder, tmp_path / "s.onnx")
    assert [n.op_type for n in onnx.load(str(path)).graph.node].count("Sigmoid") == 2
    result = import_onnx(path)
    assert [(layer.kind, layer.activation) for layer in result.model.layers] == [
        (layer.kind, layer.activation) for layer in layers
    ]
    check_against_onnxruntime(path, result, relative_error=0.05)


def test_an_average_of_sigmoid_outputs_is_closed_as_relu(tmp_path):
    """A pool of sigmoid outputs is non-negative, so it is closed as relu (one more bit than clamp)."""
    rng = np.random.default_rng(31)
    nodes = [
        node("Conv", ["x", "w1"], "c1"),
        node("Sigmoid", ["c1"], "s1"),
        node("GlobalAveragePool", ["s1"], "g"),
        node("Flatten", ["g"], "f"),
        node("Gemm", ["f", "w2"], "y"),
    ]
    inits = [const("w1", rng.normal(0, 1, (4, 2, 1, 1))), const("w2", rng.normal(0, 1, (4, 3)))]
    path = build(nodes, inits, (1, 2, 4, 4), (1, 3), tmp_path / "pool.onnx")
    result = import_onnx(path)
    assert [(layer.kind, layer.activation) for layer in result.model.layers] == [
        ("conv2d", "sigmoid"),
        ("global_avgpool", "relu"),
        ("dense", "none"),
    ]
    check_against_onnxruntime(path, result)


def unet_block(
    path: Path, seed: int = 0, resize: dict | None = None, opset: int = 17, sizes: bool = False
) -> Path:
    """x -> c0 = Relu(Conv 3x3) -> c1 = Relu(Conv 3x3 stride 2); Conv 3x3 over Concat(Resize 2x(c1), c0):
    a UNet decoder step as PyTorch exports it (F.interpolate(scale_factor=2), torch.cat)."""
    rng = np.random.default_rng(seed)
    inits = [
        const("w0", rng.normal(0, 0.4, (3, 2, 3, 3))),
        const("b0", rng.normal(0, 0.1, 3)),
        const("w1", rng.normal(0, 0.3, (4, 3, 3, 3))),
        const("b1", rng.normal(0, 0.1, 4)),
        const("w2", rng.normal(0, 0.2, (2, 7, 3, 3))),
        const("b2", rng.normal(0, 0.1, 2)),
    ]
    if sizes:
        inits.append(numpy_helper.from_array(np.array([1, 4, 8, 8], dtype=np.int64), "sizes"))
        resize_inputs = ["r1", "", "", "sizes"]
    else:
        inits.append(const("scales", [1.0, 1.0, 2.0, 2.0]))
        resize_inputs = ["r1", "", "scales"]
    attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    nodes = [
        node("Conv", ["x", "w0", "b0"], "c0", pads=[1, 1, 1, 1]),
        node("Relu", ["c0"], "r0"),
        node("Conv", ["r0", "w1", "b1"], "c1", pads=[1, 1, 1, 1], strides=[2, 2]),
        node("Relu", ["c1"], "r1"),
        node("Resize", resize_inputs, "up", **(resize or attrs)),
        node("Concat", ["up", "r0"], "cat", axis=1),
        node("Conv", ["cat", "w2", "b2"], "y", pads=[1, 1, 1, 1]),
    ]
    return build(nodes, inits, (1, 2, 8, 8), (1, 2, 8, 8), path, opset=opset)


@pytest.mark.parametrize(
    "resize, sizes",
    [
        (None, False),
        (None, True),
        ({"mode": "nearest"}, False),  # half_pixel, round_prefer_floor: the defaults
        ({"mode": "nearest", "coordinate_transformation_mode": "pytorch_half_pixel"}, False),
    ],
)
def test_concat_of_a_resized_tensor_feeding_a_conv_matches_onnxruntime_and_proves(tmp_path, resize, sizes):
    from edgeprove import prover, verifier

    path = unet_block(tmp_path / "unet.onnx", resize=resize, sizes=sizes)
    result = import_onnx(path)
    model = result.model
    assert [layer.kind for layer in model.layers] == ["conv2d", "conv2d", "conv2d"]
    head = model.layers[2]
    assert head.sources == (1, 0) and head.factors == (2, 1) and head.in_shape == (7, 8, 8)
    assert model.layers[0].out_frac == model.layers[1].out_frac  # one scale for the concatenation
    check_against_onnxruntime(path, result)
    assert result.report.logit_correlation > 0.95
    x = np.random.default_rng(1).integers(-128, 128, model.input_shape)
    prover.prove(model, x, tmp_path / "p")
    assert verifier.verify(tmp_path / "p", model).accepted


def scse_graph(path: Path, seed: int = 0, order: tuple[str, str] = ("f", "gc")) -> Path:
    """f = Relu(Conv 3x3); g_c = Relu(Conv 1x1(GlobalAveragePool(f))); g_s = Relu(Conv 1x1(f) -> 1 channel);
    y = f * g_c + f * g_s: scSE as segmentation-models-pytorch writes it (with Relu gates for sigmoid's)."""
    rng = np.random.default_rng(seed)
    inits = [
        const("w0", rng.normal(0, 0.4, (4, 2, 3, 3))),
        const("b0", rng.normal(0, 0.1, 4)),
        const("wc", rng.normal(0, 0.5, (4, 4, 1, 1))),
        const("bc", rng.normal(0.5, 0.1, 4)),
        const("ws", rng.normal(0, 0.5, (1, 4, 1, 1))),
        const("bs", rng.normal(0.5, 0.1, 1)),
    ]
    nodes = [
        node("Conv", ["x", "w0", "b0"], "c0", pads=[1, 1, 1, 1]),
        node("Relu", ["c0"], "f"),
        node("GlobalAveragePool", ["f"], "pooled"),
        node("Conv", ["pooled", "wc", "bc"], "cc"),
        node("Relu", ["cc"], "gc"),
        node("Mul", list(order), "m1"),
        node("Conv", ["f", "ws", "bs"], "cs"),
        node("Relu", ["cs"], "gs"),
        node("Mul", ["f", "gs"], "m2"),
        node("Add", ["m1", "m2"], "y"),
    ]
    return build(nodes, inits, (1, 2, 8, 8), (1, 4, 8, 8), path, opset=17)


@pytest.mark.parametrize("order", [("f", "gc"), ("gc", "f")])
def test_scse_attention_matches_onnxruntime_and_proves(tmp_path, order):
    from edgeprove import prover, verifier

    path = scse_graph(tmp_path / "scse.onnx", order=order)
    result = import_onnx(path)
    model = result.model
    kinds = [layer.kind for layer in model.layers]
    assert kinds == ["conv2d", "global_avgpool", "conv2d", "conv2d", "gated_mul"]
    assert model.layers[4].sources == (0, 2, 3)  # x * (g_c + g_s): one product
    check_against_onnxruntime(path, result)
    assert result.report.logit_correlation > 0.95
    x = np.random.default_rng(1).integers(-128, 128, model.input_shape)
    prover.prove(model, x, tmp_path / "p")
    assert verifier.verify(tmp_path / "p", model).accepted


def scse_decoder_graph(
    path: Path, seed: int = 0, gate_first: bool = False, read_gate_twice: bool = False
) -> Path:
    """A UNet++ decoder block as segmentation-models-pytorch exports it, on a 24x32 plane (768 positions,
    averaged through 2x2 windows): c0 = Relu(Conv 3x3), c1 = Relu(Conv 3x3 stride 2), cat = Concat(Resize
    2x(c1), c0), scSE on cat (GlobalAveragePool -> Conv 1x1 -> Relu -> Conv 1x1 -> Sigmoid per channel, Conv
    1x1 -> Sigmoid per pixel, cat * g_c + cat * g_s), f = Relu(Conv 3x3), and scSE again on f."""
    rng = np.random.default_rng(seed)
    inits = [
        const("w0", rng.normal(0, 0.4, (3, 2, 3, 3))),
        const("b0", rng.normal(0, 0.1, 3)),
        const("w1", rng.normal(0, 0.3, (4, 3, 3, 3))),
        const("b1", rng.normal(0, 0.1, 4)),
        const("scales", [1.0, 1.0, 2.0, 2.0]),
        const("w2", rng.normal(0, 0.3, (3, 7, 3, 3))),
        const("b2", rng.normal(0, 0.1, 3)),
    ]
    attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    nodes = [
        node("Conv", ["x", "w0", "b0"], "c0", pads=[1, 1, 1, 1]),
        node("Relu", ["c0"], "r0"),
        node("Conv", ["r0", "w1", "b1"], "c1", pads=[1, 1, 1, 1], strides=[2, 2]),
        node("Relu", ["c1"], "r1"),
        node("Resize", ["r1", "", "scales"], "up", **attrs),
        node("Concat", ["up", "r0"], "cat", axis=1),
    ]

    def scse(x: str, channels: int, out: str) -> None:
        inits.extend(
            [
                const(f"{out}_wr", rng.normal(0, 0.5, (2, channels, 1, 1))),
                const(f"{out}_br", rng.normal(0, 0.1, 2)),
                const(f"{out}_we", rng.normal(0, 0.5, (channels, 2, 1, 1))),
                const(f"{out}_be", rng.normal(0, 0.1, channels)),
                const(f"{out}_ws", rng.normal(0, 0.5, (1, channels, 1, 1))),
                const(f"{out}_bs", rng.normal(0, 0.1, 1)),
            ]
        )
        channel_gate = [x, f"{out}_gc"]
        nodes.extend(
            [
                node("GlobalAveragePool", [x], f"{out}_mean"),
                node("Conv", [f"{out}_mean", f"{out}_wr", f"{out}_br"], f"{out}_cr"),
                node("Relu", [f"{out}_cr"], f"{out}_rr"),
                node("Conv", [f"{out}_rr", f"{out}_we", f"{out}_be"], f"{out}_ce"),
                node("Sigmoid", [f"{out}_ce"], f"{out}_gc"),
                node("Mul", channel_gate[::-1] if gate_first else channel_gate, f"{out}_m1"),
                node("Conv", [x, f"{out}_ws", f"{out}_bs"], f"{out}_cs"),
                node("Sigmoid", [f"{out}_cs"], f"{out}_gs"),
                node("Mul", [x, f"{out}_gs"], f"{out}_m2"),
                node("Add", [f"{out}_m1", f"{out}_m2"], out),
            ]
        )

    scse("cat", 7, "att1")
    if read_gate_twice:
        nodes.append(node("Add", ["att1_gc", "att1_gc"], "twice"))
    nodes.extend([node("Conv", ["att1", "w2", "b2"], "c2", pads=[1, 1, 1, 1]), node("Relu", ["c2"], "f")])
    scse("f", 3, "y")
    return build(nodes, inits, (1, 2, 24, 32), (1, 3, 24, 32), path, opset=17)


@pytest.mark.parametrize("gate_first", [False, True])
def test_scse_over_a_concat_of_a_resized_tensor_matches_onnxruntime_and_proves(tmp_path, gate_first):
    from edgeprove import prover, verifier

    path = scse_decoder_graph(tmp_path / "block.onnx", gate_first=gate_first)
    result = import_onnx(path)
    model = result.model
    layers = {layer.name: layer for layer in model.layers}
    index = {layer.name: i for i, layer in enumerate(model.layers)}
    # Each part's mean: the resized part averages its 12x16 source; the 24x32 part goes through 2x2 windows.
    windows = [layer for layer in model.layers if layer.kind == "avgpool"]
    assert [(w.in_shape, w.kernel) for w in windows] == [((3, 24, 32), 2), ((3, 24, 32), 2)]
    squeeze = [layer for layer in model.layers if layer.name.startswith("att1_cr_node.part")]
    assert [s.in_shape[0] for s in squeeze] == [4, 3] and squeeze[1].residual == index[squeeze[0].name]
    assert squeeze[0].activation == "clamp" and squeeze[1].activation == "relu"
    gated = [layer for layer in model.layers if layer.kind == "gated_mul"]
    assert len(gated) == 3
    up, skip, last = gated
    assert up.factors == (2, 1, 1) and up.in_shape == (4, 24, 32) and up.source == 1
    assert skip.factors == (1, 1, 1) and skip.in_shape == (3, 24, 32) and skip.source == 0
    channel_gates = [model.layers[up.sources[1]], model.layers[skip.sources[1]]]
    assert [g.out_shape for g in channel_gates] == [(4, 1, 1), (3, 1, 1)]
    assert all(g.activation == "sigmoid" for g in channel_gates)
    assert up.sources[2] == skip.sources[2] == index["att1_cs_node"]
    assert layers["c2_node"].sources == (index[up.name], index[skip.name])
    assert len(last.sources) == 3 and last is model.layers[-1]
    check_against_onnxruntime(path, result)
    assert result.report.logit_correlation > 0.9
    x = np.random.default_rng(1).integers(-128, 128, model.input_shape)
    prover.prove(model, x, tmp_path / "p")
    assert verifier.verify(tmp_path / "p", model).accepted


def test_averages_and_gates_of_a_concat_read_otherwise_are_refused(tmp_path):
    path = scse_decoder_graph(tmp_path / "twice.onnx", read_gate_twice=True)
    with pytest.raises(ModelError, match="per-channel gate of a Concat must be a Conv's output that nothing"):
        import_onnx(path)
    rng = np.random.default_rng(0)
    for reader, message in (
        (node("Relu", ["mean"], "y"), "reads the average of a Concat or Resize"),
        (node("Conv", ["mean", "w3"], "y", pads=[1, 1, 1, 1]), "only an ungrouped, unpadded 1x1 Conv"),
    ):
        nodes = [
            node("Conv", ["x", "w0"], "c0", pads=[1, 1, 1, 1]),
            node("Relu", ["c0"], "r0"),
            node("Conv", ["x", "w0"], "c1", pads=[1, 1, 1, 1]),
            node("Relu", ["c1"], "r1"),
            node("Concat", ["r0", "r1"], "cat", axis=1),
            node("GlobalAveragePool", ["cat"], "mean"),
            reader,
        ]
        inits = [const("w0", rng.normal(0, 0.4, (2, 2, 3, 3))), const("w3", rng.normal(0, 0.4, (2, 4, 3, 3)))]
        bad = build(
            nodes,
            inits,
            (1, 2, 8, 8),
            (1, 2, 1, 1) if reader.op_type == "Conv" else (1, 4, 1, 1),
            tmp_path / f"{reader.op_type}.onnx",
            opset=17,
        )
        with pytest.raises(ModelError, match=message):
            import_onnx(bad)
