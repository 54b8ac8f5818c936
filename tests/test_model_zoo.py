"""The zoo: exact architectures and parameter counts, the on-disk cache, random models and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import altered_model
from typer.testing import CliRunner

from edgeprove.cli import full_app
from edgeprove.layers import KINDS
from edgeprove.model import compiled, ops, zoo
from edgeprove.model.bounds import MAX_Q_BITS, check_model
from edgeprove.model.ir import ModelError


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(zoo.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_wc50_matches_the_benchmark_spec():
    s = zoo.summary("wc50")
    assert (s.params, s.weight_layers, s.macs, s.largest_activation) == (1_805_456, 50, 399_368_704, 65_536)
    layers = zoo.float_model("wc50").layers
    convs = [layer for layer in layers if layer.kind == "conv2d"]
    assert len(convs) == 48
    assert all(c.kernel == 3 and c.padding == 1 and c.activation == "relu" for c in convs)
    index = {layer.name: i for i, layer in enumerate(layers)}
    for stage, channels in enumerate((16, 32, 64, 108), start=1):
        stage_convs = [layers[index[f"s{stage}c{k}"]] for k in range(1, 13)]
        assert [c.stride for c in stage_convs] == [2] + [1] * 11
        assert {c.out_shape[0] for c in stage_convs} == {channels}
        residuals = [None if c.residual is None else layers[c.residual].name for c in stage_convs]
        assert residuals == [
            None,
            None,
            f"s{stage}c1",
            None,
            f"s{stage}c3",
            None,
            f"s{stage}c5",
            None,
            f"s{stage}c7",
            None,
            f"s{stage}c9",
            None,
        ]
    assert layers[index["s4c12"]].out_shape == (108, 8, 8)
    assert [(layer.kind, layer.out_shape, layer.activation) for layer in layers[-3:]] == [
        ("global_avgpool", (108, 1, 1), "relu"),
        ("dense", (128, 1, 1), "relu"),
        ("dense", (128, 1, 1), "none"),
    ]


def test_wc50_quantizes_within_the_proof_limits():
    result = zoo.build("wc50")
    model = result.model
    assert model.num_params == 1_805_456 and model.num_macs == 399_368_704
    assert all(
        b.q_bits <= MAX_Q_BITS
        for b, layer in zip(result.bounds, model.layers, strict=True)
        if layer.requantized
    )
    assert all(layer.residual_shift >= 0 for layer in model.layers)
    assert np.isfinite(result.report.max_abs_error)


def test_lenet5_and_tiny_models():
    assert zoo.summary("lenet5").params == 61_706
    assert zoo.summary("tiny_mlp").params < 1000 and zoo.summary("tiny_cnn").params < 1000
    layers = zoo.float_model("tiny_cnn").layers
    # random models cover max pooling, grouped and probe convolutions; gated products are built in
    # tests/layers/test_gated_mul.py and imported from ONNX in tests/test_onnx_import.py
    others = {"maxpool", "grouped_conv2d", "probe_conv2d", "gated_mul"}
    assert {layer.kind for layer in layers} == set(KINDS) - others
    convs = [layer for layer in layers if layer.kind == "conv2d"]
    assert {c.stride for c in convs} == {1, 2} and {c.padding for c in convs} == {0, 1}
    assert any(layer.residual is not None for layer in layers)
    assert zoo.float_model("tiny_cnn").input_shape == (3, 9, 7)


def test_the_classic_lenet5_layout():
    """1x32x32, unpadded 5x5 convolutions with ReLU and 2x2 max pooling, 120-84-10: LeNet-5's own shapes."""
    layers = zoo.float_model("lenet5_max32").layers
    assert [(layer.kind, layer.out_shape) for layer in layers] == [
        ("conv2d", (6, 28, 28)),
        ("maxpool", (6, 14, 14)),
        ("conv2d", (16, 10, 10)),
        ("maxpool", (16, 5, 5)),
        ("dense", (120, 1, 1)),
        ("dense", (84, 1, 1)),
        ("dense", (10, 1, 1)),
    ]
    assert zoo.summary("lenet5_max32").params == 61_706 and layers[0].activation == "relu"


def test_every_paper0_model_matches_its_json():
    suites = zoo.paper0_suites()
    assert len(suites) == 26
    for name, entry in suites.items():
        s = zoo.summary(name)
        assert s.params == entry["params"] and s.weight_layers == len(entry["layers"])
    explicit = {
        "FC_3_layers": 43_600,
        "FC_500_layers": 10_214_200,
        "FC_48564_params": 49_473,
        "FC_1195804_params": 1_200_801,
        "FC_18252933_params": 18_272_201,
    }
    for name, params in explicit.items():
        assert zoo.summary(name).params == params
    layers = zoo.float_model("FC_5_layers").layers
    assert [layer.activation for layer in layers] == ["relu"] * 4 + ["none"]
    assert layers[0].in_shape == (32, 1, 1)


def test_get_builds_caches_and_loads_memory_mapped(cache):
    first = zoo.get("FC_3_layers")
    folder = zoo.model_folder("FC_3_layers")
    assert folder.parent == cache and (folder / compiled.MANIFEST).is_file()
    second = zoo.get("FC_3_layers")
    assert first.digest == second.digest == zoo.build("FC_3_layers").model.digest
    assert isinstance(second.weight(0), np.memmap)
    assert first.num_params == 43_600
    report = zoo.quantization_report("FC_3_layers")
    assert report.num_inputs == 16 and "seeded random inputs" in report.calibration


def test_corrupt_cache_is_rebuilt(cache):
    model = zoo.get("tiny_mlp")
    weight_file = next(zoo.model_folder("tiny_mlp").glob("w0000_*.npy"))
    data = bytearray(weight_file.read_bytes())
    data[-1] ^= 1
    weight_file.write_bytes(bytes(data))
    assert zoo.get("tiny_mlp").digest == model.digest


def test_unknown_name_lists_close_matches():
    with pytest.raises(ModelError, match="unknown model 'wc5'.*wc50"):
        zoo.get("wc5")
    with pytest.raises(ModelError, match="FC_3_layers"):
        zoo.summary("FC_3_layer")
    with pytest.raises(ModelError, match="unknown model 'zzzz'; known"):
        zoo.float_model("zzzz")


def test_names_are_unique_and_complete():
    names = zoo.names()
    assert len(names) == len(set(names)) == 12 + 26
    assert names[:12] == [
        "wc50",
        "resnet18",
        "mobilenetv2",
        "lenet5",
        "lenet5_max32",
        "vgg11_cifar",
        "vgg16_cifar",
        "tiny_mlp",
        "tiny_cnn",
        "iriscode",
        "iris-seg",
        "iris-seg-small",
    ]


@pytest.mark.parametrize(
    "name, params, convs", [("vgg11_cifar", 9_750_922, 8), ("vgg16_cifar", 15_245_130, 13)]
)
def test_vgg_cifar_has_zkcnn_benchmark_shapes(name, params, convs):
    """3x3 convolutions with padding 1 and 2x2 max pools take 3x32x32 down to 512x1x1; 512-512-10 on top."""
    layers = zoo.float_model(name).layers
    assert zoo.summary(name).params == params
    assert [layer.kind for layer in layers].count("conv2d") == convs
    assert [layer.kind for layer in layers].count("maxpool") == 5
    assert [(layer.in_shape, layer.out_shape) for layer in layers[-3:]] == [
        ((512, 1, 1), (512, 1, 1)),
        ((512, 1, 1), (512, 1, 1)),
        ((512, 1, 1), (10, 1, 1)),
    ]


@pytest.mark.parametrize(
    "name, params, weight_layers, classes",
    [("resnet18", 11_684_712, 21, 1000), ("mobilenetv2", 3_487_816, 53, 1000)],
)
def test_mobile_cnns_have_torchvision_shapes(name, params, weight_layers, classes):
    """torchvision's counts less batch normalization (ResNet-18: 11,689,512 with its 9,600 BN parameters;
    MobileNetV2: 3,504,872 with 34,112, plus a bias on each of our 52 convolutions, 17,056 in all)."""
    summary = zoo.summary(name)
    assert (summary.params, summary.weight_layers, summary.input_shape) == (
        params,
        weight_layers,
        (3, 224, 224),
    )
    layers = zoo.float_model(name).layers
    assert layers[-1].out_shape == (classes, 1, 1)
    pool = next(layer for layer in layers if layer.kind == "global_avgpool")
    assert pool.in_shape[1:] == (7, 7)
    if name == "resnet18":
        assert [layer.padding for layer in layers if layer.kind == "maxpool"] == [1]
        shortcuts = [layer for layer in layers if "downsample" in layer.name]
        assert [(layer.kernel, layer.stride) for layer in shortcuts] == [(1, 2)] * 3
        assert all(
            layers[index + 1].residual == index for index, layer in enumerate(layers) if layer in shortcuts
        )
    else:
        depthwise = [layer for layer in layers if layer.kind == "grouped_conv2d"]
        assert len(depthwise) == 17 and all(layer.groups == layer.in_shape[0] for layer in depthwise)
        assert sum(layer.residual is not None for layer in layers) == 10
        assert len(zoo.float_model(name).clip_max) == 35


@pytest.mark.parametrize("seed", range(20))
def test_random_models_are_valid(seed):
    rng = np.random.default_rng(1000 + seed)
    model = zoo.random_model(rng)
    bounds = check_model(model)
    assert all(b.q_bits <= MAX_Q_BITS for b in bounds[:-1])
    assert model.num_params < 5000
    out = ops.run(model, rng.integers(-128, 128, model.input_shape))
    assert out.shape == model.layers[-1].out_shape


def test_random_models_cover_every_kind_and_residuals():
    rng = np.random.default_rng(0)
    models = [zoo.random_model(rng) for _ in range(40)]
    kinds = {layer.kind for model in models for layer in model.layers}
    assert kinds == set(KINDS) - {"gated_mul"}  # built in tests/layers/test_gated_mul.py
    assert any(layer.residual is not None for model in models for layer in model.layers)


def invoke(*args):
    return CliRunner().invoke(full_app(), ["models", *args], terminal_width=200)


def test_cli_json_lists_the_zoo():
    result = invoke("--json")
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == zoo.names()
    wc50 = rows[0]
    assert wc50["params"] == 1_805_456 and wc50["input_shape"] == [1, 128, 128]
    assert wc50["largest_activation"] == 65_536 and wc50["weight_layers"] == 50


def test_cli_table():
    wide = invoke("--wide")
    assert wide.exit_code == 0
    assert "wc50" in wide.output and "1,805,456" in wide.output and "FC_18252933_params" in wide.output


def test_cli_compact_table_is_one_line_per_model_at_80_columns():
    result = CliRunner().invoke(full_app(), ["models"], terminal_width=80)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines)
    wc50 = next(line for line in lines if line.startswith("wc50 "))
    assert wc50.split()[1:5] == ["1.81M", "50", "399M", "1x128x128"]
    assert sum(line.split()[0] in zoo.names() for line in lines if line.strip()) == len(zoo.names())


def test_partial_cache_folder_is_replaced(cache):
    folder = zoo.model_folder("tiny_mlp")
    folder.mkdir(parents=True)
    (folder / "leftover.npy").write_bytes(b"partial")
    assert zoo.get("tiny_mlp").num_params == zoo.summary("tiny_mlp").params


def test_unwritable_cache_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(zoo.CACHE_ENV, str(blocker / "cache"))
    with pytest.raises(ModelError, match="cannot write the model cache"):
        zoo.get("tiny_mlp")


def test_every_zoo_model_rebuilds_to_its_pinned_digest():
    """A zoo name is an identity: rebuilt from its seeds here, every model has the digest the package pins."""
    pins = zoo.pinned_digests()
    assert sorted(pins) == sorted(zoo.names())
    differing = [name for name in zoo.names() if zoo.build(name).model.digest != pins[name]]
    assert not differing, f"rebuilt with other digests: {differing}"


def test_a_tampered_cache_is_replaced_by_the_pinned_model(cache):
    """A cached zoo folder holding another model (consistent manifest, other weights) is rebuilt."""
    genuine = zoo.get("tiny_mlp")
    impostor = altered_model(genuine)
    folder = zoo.model_folder("tiny_mlp")
    compiled.discard(folder)
    compiled.save(impostor, folder)
    assert compiled.load(folder).digest == impostor.digest != genuine.digest
    assert zoo.get("tiny_mlp").digest == zoo.pinned_digests()["tiny_mlp"]


def test_iris_seg_has_the_published_unetplusplus_shapes():
    """segmentation-models-pytorch's UnetPlusPlus(mobilenet_v2, decoder 512-256-128-64-32, scSE, 4 classes):
    55.17 GMACs at 3x480x640 and about 14.0M parameters (its 14,016,742 less the folded batch norms' scales
    and shifts, plus the biases of cSE's split squeeze); every decoder block reads its deeper tensor
    upsampled and its skips as smp concatenates them."""
    full, small = zoo.summary("iris-seg"), zoo.summary("iris-seg-small")
    assert (full.macs, small.macs) == (55_171_544_096, 3_678_424_096)
    assert full.params == small.params and abs(full.params - 14_016_742) < 40_000
    assert full.input_shape == (3, 480, 640) and small.input_shape == (3, 128, 160)
    layers = zoo.float_model("iris-seg-small").layers
    by_name = {layer.name: layer for layer in layers}
    conv_inputs = {
        name: by_name[f"{name}.conv1"].in_shape[0] for name in ("x_0_0", "x_1_1", "x_0_3", "x_0_4")
    }
    assert conv_inputs == {"x_0_0": 1280 + 96, "x_1_1": 96 + 32, "x_0_3": 128 + 4 * 16, "x_0_4": 64}
    assert by_name["x_0_4.conv1"].factors == (2,) and by_name["head"].out_shape == (4, 128, 160)
    assert by_name["head"].activation == "sigmoid"
    gated = [layer for layer in layers if layer.kind == "gated_mul"]
    assert all(layers[g].activation == "sigmoid" for layer in gated for g in layer.extra_sources)
    assert any(layer.factors[0] == 2 for layer in gated)


def test_a_narrow_iris_seg_proves_and_verifies(tmp_path):
    """The whole graph (concatenations, upsampling, scSE gates, sigmoids) at 3x64x64 with widths / 16."""
    from edgeprove import prover, verifier
    from edgeprove.model.quantize import FloatModel, quantize, random_calibration

    builder = zoo.iris_seg(64, 64, divisor=16)
    parameters = zoo.he_parameters(5, builder.layers)
    float_model = FloatModel("narrow", builder.input_shape, builder.layers, parameters, builder.clip_max)
    model = quantize(float_model, *random_calibration(builder.input_shape, 2, 5)).model
    x = np.random.default_rng(5).integers(-128, 128, model.input_shape)
    result = prover.prove(model, x, tmp_path / "p", threads=1)
    verdict = verifier.verify(tmp_path / "p", model)
    assert verdict.accepted, verdict.reason
    assert np.array_equal(result.output, ops.run(model, x))
