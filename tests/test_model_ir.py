"""IR validation: every malformed architecture or weight set is refused with a message naming the layer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgeprove.model import ir
from edgeprove.model.ir import Layer, Model, ModelError, expected_out_shape, last_uses


def base_layers() -> list[Layer]:
    return [
        Layer("conv1", "conv2d", -1, (2, 5, 5), (3, 3, 3), 4, "relu", 3, 2, 1),
        Layer("pool", "avgpool", 0, (3, 3, 3), (3, 1, 1), 2, "clamp", 2, 2),
        Layer("fc", "dense", 1, (3, 1, 1), (4, 1, 1), 0, "none"),
    ]


def arrays(layers: list[Layer]) -> tuple[list, list]:
    weights = [np.zeros(layer.weight_shape, dtype=np.int8) if layer.has_weights else None for layer in layers]
    biases = [np.zeros(layer.out_shape[0], dtype=np.int64) if layer.has_weights else None for layer in layers]
    return weights, biases


def make(layers: list[Layer], input_shape=(2, 5, 5)) -> Model:
    weights, biases = arrays(layers)
    return Model("m", input_shape, 0, layers, weights, biases)


def test_valid_model_and_derived_figures():
    model = make(base_layers())
    assert model.num_params == 3 * 2 * 9 + 3 + 4 * 3 + 4
    assert model.num_macs == 3 * 2 * 9 * 9 + 4 * 3
    assert model.outputs == (2,) and model.largest_activation == 50
    assert model.in_frac(0) == 0 and model.in_frac(1) == model.layers[0].out_frac
    assert last_uses(model.layers) == {-1: 0, 0: 1, 1: 2, 2: 2}
    assert all(expected_out_shape(layer) == layer.out_shape for layer in model.layers)
    assert Layer.from_dict(model.layers[0].to_dict()) == model.layers[0]


def replaced(index: int, **changes) -> list[Layer]:
    layers = base_layers()
    layers[index] = dataclasses.replace(layers[index], **changes)
    return layers


@pytest.mark.parametrize(
    "layers, message",
    [
        ([], "no layers"),
        (replaced(1, name="conv1"), "layer conv1: layer names must be non-empty and unique"),
        (replaced(1, kind="softmax"), "layer pool: unknown kind 'softmax'"),
        (replaced(1, activation="gelu"), "layer pool: unknown activation"),
        (replaced(0, activation="none"), "layer conv1: activation 'none' is allowed on the last layer only"),
        (replaced(2, shift=3), "layer fc: activation 'none' does not requantize"),
        (replaced(0, shift=-1), "layer conv1: shifts must be >= 0"),
        (replaced(1, source=1), "layer pool: source 1 is not an earlier layer"),
        (replaced(1, source=-1), "layer pool: in_shape .* differs"),
        (replaced(0, out_shape=(3, 4, 4)), "layer conv1: out_shape .* does not match the computed"),
        (replaced(0, padding=3), "layer conv1: padding must be smaller than the kernel"),
        (replaced(0, stride=0), "layer conv1: kernel and stride must be >= 1"),
        (replaced(1, stride=1), "layer pool: avgpool needs stride == kernel"),
        (replaced(1, groups=3), "layer pool: avgpool takes no groups"),
        (replaced(1, groups=4), "layer pool: groups 4 is outside \\[1, 3\\]"),
        (replaced(2, kernel=2), "layer fc: dense takes no kernel"),
        (replaced(2, residual=0), "layer fc: residual source conv1 has shape"),
        (replaced(2, residual=2), "layer fc: residual 2 does not point to an earlier layer"),
        (replaced(2, residual_shift=2), "layer fc: residual_shift without a residual"),
    ],
)
def test_bad_architecture_is_refused(layers, message):
    with pytest.raises(ModelError, match=message):
        make(layers)


def test_pools_over_large_windows_need_power_of_two_positions():
    make([Layer("gap", "global_avgpool", -1, (2, 3, 2), (2, 1, 1), 0, "clamp")], (2, 3, 2))
    make([Layer("gap", "global_avgpool", -1, (2, 32, 16), (2, 1, 1), 0, "clamp")], (2, 32, 16))
    make([Layer("gap", "global_avgpool", -1, (2, 13, 5), (2, 1, 1), 0, "clamp")], (2, 13, 5))  # 65: rescaled
    layers = [Layer("gap", "global_avgpool", -1, (2, 103, 5), (2, 1, 1), 0, "clamp")]
    with pytest.raises(ModelError, match="layer gap: global_avgpool averages 103x5 = 515 positions"):
        make(layers, (2, 103, 5))
    layers = [Layer("pool", "avgpool", -1, (2, 23, 23), (2, 1, 1), 0, "clamp", 23, 23)]
    with pytest.raises(ModelError, match="layer pool: avgpool averages 23x23 = 529 positions"):
        make(layers, (2, 23, 23))


def test_reading_an_unrequantized_output_is_refused():
    layers = [
        Layer("a", "dense", -1, (2, 1, 1), (2, 1, 1), 0, "none"),
        Layer("b", "dense", 0, (2, 1, 1), (2, 1, 1), 0, "none"),
    ]
    with pytest.raises(ModelError, match="allowed on the last layer only"):
        make(layers, (2, 1, 1))


@pytest.mark.parametrize(
    "which, array, message",
    [
        ("weight", np.zeros((3, 2, 3, 3), dtype=np.int16), "layer conv1: weight is int16"),
        ("weight", np.zeros((3, 2, 2, 2), dtype=np.int8), "layer conv1: weight is int8\\[3, 2, 2, 2\\]"),
        ("bias", np.zeros(4, dtype=np.int64), "layer conv1: bias is int64\\[4\\]"),
        ("bias", None, "layer conv1: weights or bias missing"),
    ],
)
def test_bad_weights_are_refused(which, array, message):
    layers = base_layers()
    weights, biases = arrays(layers)
    (weights if which == "weight" else biases)[0] = array
    with pytest.raises(ModelError, match=message):
        Model("m", (2, 5, 5), 0, layers, weights, biases)


def test_pools_have_no_weights():
    layers = base_layers()
    weights, biases = arrays(layers)
    weights[1] = np.zeros((1,), dtype=np.int8)
    with pytest.raises(ModelError, match="layer pool: avgpool layers have no weights"):
        Model("m", (2, 5, 5), 0, layers, weights, biases)
    model = make(base_layers())
    with pytest.raises(ModelError, match="layer pool .avgpool. has no weights"):
        model.weight(1)
    with pytest.raises(ModelError, match="has no bias"):
        model.bias(1)


def conv(name: str, source: int, shape, channels: int, stride: int = 1) -> Layer:
    """A 3x3 conv with padding 1 reading ``shape``."""
    out = (channels, (shape[1] - 1) // stride + 1, (shape[2] - 1) // stride + 1)
    return Layer(name, "conv2d", source, tuple(shape), out, 8, "relu", 3, stride, 1)


def test_ceilings_admit_the_target_network():
    """A 3x480x640 input, 64x480x640 activations, 140 layers and 12.7M parameters validate."""
    layers = [conv("stem", -1, (3, 480, 640), 64)]
    for index in range(1, 138):
        channels, stride = (64, 1) if index < 100 else (160, 2 if index in (100, 101) else 1)
        layers.append(conv(f"c{index}", index - 1, layers[-1].out_shape, channels, stride))
    layers.append(Layer("pool", "avgpool", 137, (160, 120, 160), (160, 15, 20), 6, "relu", 8, 8))
    layers.append(Layer("fc", "dense", 138, (160, 15, 20), (10, 1, 1), 0, "none"))
    ir.validate_layers((3, 480, 640), layers)
    assert len(layers) == 140 and 12_000_000 < sum(layer.num_params for layer in layers) < 14_000_000
    assert max(ir.padded_size(layer.out_shape) for layer in layers) == 64 * 512 * 1024


@pytest.mark.parametrize(
    "layers, input_shape, message",
    [
        (
            replaced(0, in_shape=(2, 1 << 13, 1 << 13)),
            (2, 1 << 13, 1 << 13),
            "the model input: shape .* ceiling",
        ),
        (
            replaced(0, in_shape=(0, 5, 5)),
            (0, 5, 5),
            "the model input: shape .* is not three positive integers",
        ),
        (replaced(2, out_shape=(1 << 27, 1, 1)), (2, 5, 5), "layer fc out_shape: shape .* ceiling"),
        (replaced(0, kernel=65), (2, 5, 5), "layer conv1: kernel 65 is above the ceiling of 64"),
        (replaced(0, stride=1000), (2, 5, 5), "layer conv1: stride 1000 is above the ceiling of 64"),
        (replaced(0, shift=33), (2, 5, 5), "layer conv1: shift 33 is above the ceiling of 32"),
        (replaced(0, shift=10**30), (2, 5, 5), "layer conv1: shift 1000000000000000000000000000000 is above"),
        (replaced(0, weight_frac=-257), (2, 5, 5), r"layer conv1: weight_frac -257 is outside \[-256, 256\]"),
        (replaced(1, out_frac=10**9), (2, 5, 5), r"layer pool: out_frac 1000000000 is outside"),
        (replaced(0, name="con v1"), (2, 5, 5), "layer name 'con v1' must be 1-128 characters"),
        (replaced(0, name="c" * 129), (2, 5, 5), "layer name 'ccc.*… must be 1-128 characters"),
        (replaced(0, name=""), (2, 5, 5), "layer name '' must be"),
    ],
)
def test_layers_beyond_the_ceilings_are_refused(layers, input_shape, message):
    with pytest.raises(ModelError, match=message):
        ir.validate_layers(input_shape, layers)


def test_weights_beyond_the_ceilings_are_refused():
    wide = [Layer("fc", "dense", -1, (8192, 1, 1), (8193, 1, 1), 0, "none")]
    with pytest.raises(ModelError, match="layer fc: 67,117,056 weights, above the ceiling of 67,108,864"):
        ir.validate_layers((8192, 1, 1), wide)
    deep = [Layer(f"fc{i}", "dense", i - 1, (8192, 1, 1), (8192, 1, 1), 0, "clamp") for i in range(4)]
    deep.append(Layer("out", "dense", 3, (8192, 1, 1), (8, 1, 1), 0, "none"))
    with pytest.raises(ModelError, match="268,533,768 parameters, above the ceiling of 268,435,456"):
        ir.validate_layers((8192, 1, 1), deep)


def test_too_many_layers_are_refused():
    layers = [
        Layer(f"p{i}", "avgpool", i - 1, (1, 1, 1), (1, 1, 1), 0, "clamp") for i in range(ir.MAX_LAYERS)
    ]
    ir.validate_layers((1, 1, 1), layers)
    layers.append(Layer("last", "avgpool", len(layers) - 1, (1, 1, 1), (1, 1, 1), 0, "clamp"))
    with pytest.raises(ModelError, match="4,097 layers, above the ceiling of 4096"):
        ir.validate_layers((1, 1, 1), layers)


def test_model_name_and_input_frac_are_checked():
    weights, biases = arrays(base_layers())
    with pytest.raises(ModelError, match="model name 'a/b' must be"):
        Model("a/b", (2, 5, 5), 0, base_layers(), weights, biases)
    with pytest.raises(ModelError, match=r"input_frac 300 is outside \[-256, 256\]"):
        Model("m", (2, 5, 5), 300, base_layers(), weights, biases)


def test_error_values_are_short_and_on_one_line():
    assert ir.short("a\nb") == "'a\\nb'"
    assert len(ir.short("x" * 1000)) == 40 and ir.short("x" * 1000).endswith("…")
    assert ir.label("fc1") == "fc1" and ir.label("a\nb") == "'a\\nb'"


def concat_layers(**changes) -> list[Layer]:
    """conv1 (stride 2) -> conv2; fc reads conv2 upsampled 2x beside the input: in_shape (3 + 2, 4, 4)."""
    layers = [
        Layer("conv1", "conv2d", -1, (2, 4, 4), (3, 2, 2), 4, "relu", 3, 2, 1),
        Layer("conv2", "conv2d", 0, (3, 2, 2), (3, 2, 2), 4, "clamp", 1),
        Layer("cat", "conv2d", 1, (5, 4, 4), (2, 4, 4), 4, "relu", 3, 1, 1, extra_sources=(-1,)),
        Layer("fc", "dense", 2, (2, 4, 4), (4, 1, 1), 0, "none"),
    ]
    layers[2] = dataclasses.replace(layers[2], **({"upsample": (2, 1)} | changes))
    return layers


def test_layers_over_several_sources_keep_their_fields_and_every_other_manifest():
    model = make(concat_layers(), (2, 4, 4))
    cat = model.layers[2]
    assert cat.sources == (1, -1) and cat.factors == (2, 1) and cat.reads == (1, -1)
    entry = cat.to_dict()
    assert entry["extra_sources"] == [-1] and entry["upsample"] == [2, 1]
    assert Layer.from_dict(entry) == cat
    assert "extra_sources" not in model.layers[0].to_dict() and "upsample" not in model.layers[0].to_dict()
    assert last_uses(model.layers) == {-1: 2, 0: 1, 1: 2, 2: 3, 3: 3}
    assert ir.input_range(model.layers, cat) == (-128, 127)
    assert ir.source_views((2, 4, 4), model.layers, cat) == [(3, 4, 4), (2, 4, 4)]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"extra_sources": (3,)}, "layer cat: source 3 is not an earlier layer or the input"),
        ({"extra_sources": (2,)}, "layer cat: source 2 is not an earlier layer"),
        ({"extra_sources": (-2,)}, "layer cat: source -2 is not an earlier layer"),
        (
            {"extra_sources": (0,), "upsample": (2, 1)},
            "layer cat: source conv1 is 2x2 as read, not 4x4: concatenated sources must agree in H and W",
        ),
        ({"upsample": (2, 3)}, "layer cat: upsample factor 3 is not 1 or 2"),
        ({"upsample": (0, 1)}, "layer cat: upsample factor 0 is not 1 or 2"),
        ({"upsample": (2,)}, "layer cat: upsample lists 1 factors for 2 sources"),
        ({"upsample": (1, 1), "in_shape": (5, 2, 2)}, "factors all 1 must be left unset"),
        ({"in_shape": (4, 4, 4)}, r"in_shape \(4, 4, 4\) differs from its sources' concatenation \(5, 4"),
        ({"extra_sources": tuple([-1] * 16)}, "reads 17 sources, above the ceiling of 16"),
    ],
)
def test_bad_sources_are_refused(changes, message):
    with pytest.raises(ModelError, match=message) as caught:
        make(concat_layers(**changes), (2, 4, 4))
    assert "\n" not in str(caught.value)


def test_only_kinds_that_split_over_channels_read_several_sources():
    pool = Layer("pool", "maxpool", 0, (5, 2, 2), (5, 1, 1), 0, "relu", 2, 2, extra_sources=(0,))
    layers = [Layer("conv1", "conv2d", -1, (2, 4, 4), (3, 2, 2), 4, "relu", 3, 2, 1)]
    with pytest.raises(ModelError, match="layer pool: maxpool reads one source, not 2"):
        make([*layers, dataclasses.replace(pool, in_shape=(6, 2, 2), out_shape=(6, 1, 1))], (2, 4, 4))
    gap = Layer("gap", "global_avgpool", 0, (6, 2, 2), (6, 1, 1), 0, "relu", extra_sources=(0,))
    with pytest.raises(ModelError, match="layer gap: global_avgpool reads one source, not 2"):
        make([*layers, gap], (2, 4, 4))
    upsampled_pool = Layer("pool", "maxpool", 0, (3, 4, 4), (3, 2, 2), 0, "relu", 2, 2, upsample=(2,))
    make([*layers, upsampled_pool], (2, 4, 4))  # one upsampled source: any kind
