"""The tiling rewrite: tile groups, the blocks' layers and weights, the same function, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import small_cnn

from edgeprove.model import ops, tiling, zoo
from edgeprove.model.ir import Layer, Model, ModelError, RowBlock
from edgeprove.model.quantize import FloatModel, quantize, random_calibration


def narrow_iris_seg() -> Model:
    """The whole iris-seg graph at 3x64x64 with widths / 16 (every kind tiling meets: convolutions,
    depthwise convolutions, pools, gated products with channel and pixel gates, concatenations)."""
    builder = zoo.iris_seg(64, 64, divisor=16)
    parameters = zoo.he_parameters(5, builder.layers)
    float_model = FloatModel("narrow", builder.input_shape, builder.layers, parameters, builder.clip_max)
    return quantize(float_model, *random_calibration(builder.input_shape, 2, 5)).model


def small_scse() -> Model:
    """A convolution, scSE on it (a pool, the squeeze and excitation convolutions, a pixel gate, the gated
    product) and a head at 4x8x8: one tile group of every "channels" kind but the depthwise convolution."""
    builder = zoo._Builder((3, 8, 8))
    conv = builder.conv("conv", -1, 4, 3, 1, 1)
    gated = zoo._scse(builder, "att", [conv], ())[0]
    builder.conv("head", gated, 2, 1, activation="none")
    parameters = zoo.he_parameters(3, builder.layers)
    float_model = FloatModel("scse", builder.input_shape, builder.layers, parameters, builder.clip_max)
    return quantize(float_model, *random_calibration(builder.input_shape, 2, 3)).model


@pytest.fixture(scope="module")
def seg() -> Model:
    return narrow_iris_seg()


def index_of(model: Model, name: str) -> int:
    return next(i for i, layer in enumerate(model.layers) if layer.name == name)


def test_block_bounds_cover_the_channels_in_near_equal_blocks():
    assert tiling.block_bounds(10, 4) == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert tiling.block_bounds(128, 2) == [(0, 64), (64, 128)]
    assert tiling.block_bounds(3, 3) == [(0, 1), (1, 2), (2, 3)]


def test_a_residual_and_a_pool_join_the_group_and_a_convolution_reads_the_blocks():
    model = small_cnn()
    assert tiling.tile_groups(model, [(0, 3)]) == {0: 3, 1: 3, 2: 3}  # conv1, conv2 (residual), pool
    tiled, origin = tiling.tile(model, [(0, 3)])
    assert origin == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 4, 5]
    names = [layer.name for layer in tiled.layers]
    assert names[:3] == ["conv1.tile0", "conv1.tile1", "conv1.tile2"]
    conv2 = tiled.layers[4]  # conv2's second block: the whole of conv1 read, its block as the residual
    assert (conv2.sources, conv2.residual, conv2.out_shape) == ((0, 1, 2), 1, (1, 4, 3))
    pool = tiled.layers[7]
    assert (pool.sources, pool.in_shape, pool.out_shape) == ((4,), (1, 4, 3), (1, 2, 1))
    conv3 = tiled.layers[9]  # reads the pool's three blocks as three sources of its own
    assert (conv3.sources, conv3.in_shape) == ((6, 7, 8), (3, 2, 1))
    assert isinstance(tiled.weights[1], RowBlock)
    assert np.array_equal(tiled.weight(1), model.weight(0)[1:2])
    assert np.array_equal(tiled.bias(5), model.bias(1)[2:3])


@pytest.mark.parametrize("seed", range(6))
def test_random_models_tiled_compute_the_same_function(seed):
    rng = np.random.default_rng(seed)
    model = zoo.random_model(rng, max_layers=6, max_channels=6)
    x = rng.integers(-128, 128, model.input_shape)
    expected = ops.run(model, x)
    tried = 0
    for index, layer in enumerate(model.layers):
        blocks = int(rng.integers(2, max(layer.out_shape[0], 2) + 1))
        try:
            tiled, _ = tiling.tile(model, [(index, blocks)])
        except ModelError:
            continue
        tried += 1
        assert np.array_equal(ops.run(tiled, x), expected), (index, blocks)
    if seed == 0:
        assert tried


def test_iris_seg_tiled_everywhere_computes_the_same_function(seg):
    tiles = []
    for index in range(len(seg.layers)):
        taken = {member for seed, _ in tiles for member in tiling.tile_groups(seg, [(seed, 2)])}
        if index in taken:
            continue
        try:
            tiling.tile_groups(seg, [(index, 2)])
        except ModelError:
            continue
        tiles.append((index, 2))
    tiled, _ = tiling.tile(seg, tiles)
    kinds = {seg.layers[i].kind for i in tiling.tile_groups(seg, tiles)}
    assert {"conv2d", "grouped_conv2d", "global_avgpool", "gated_mul"} <= kinds
    x = np.random.default_rng(3).integers(-128, 128, seg.input_shape)
    assert np.array_equal(ops.run(tiled, x), ops.run(seg, x))


def test_a_gated_product_splits_with_its_input_and_channel_gate_but_reads_its_pixel_gate_whole(seg):
    gate = index_of(seg, "x_0_0.attention2.gate0")
    group = tiling.tile_groups(seg, [(gate, 2)])
    names = {seg.layers[i].name for i in group}
    assert {"x_0_0.conv2", "x_0_0.attention2.channel0", "x_0_0.attention2.gate0"} <= names
    assert "x_0_0.attention2.spatial" not in names  # the pixel gate: one channel, read whole
    tiled, origin = tiling.tile(seg, [(gate, 2)])
    block = tiled.layers[origin.index(gate) + 1]
    spatial = origin.index(index_of(seg, "x_0_0.attention2.spatial"))
    assert block.sources[2] == spatial and tiled.layers[block.sources[0]].name == "x_0_0.conv2.tile1"


def test_the_header_form_of_a_tiling_is_checked():
    assert tiling.check_tiles([[3, 2], [7, 64]]) == ((3, 2), (7, 64))
    for bad in (
        {"3": 2},
        [[3, 2, 1]],
        [[3, True]],
        [[3, 1]],
        [[3, 65]],
        [[3.0, 2]],
        [[7, 2], [3, 2]],
        [[3, 2], [3, 4]],
        [[-1, 2]],
        [[0, 2]] * (tiling.MAX_LAYERS + 1),
    ):
        with pytest.raises(ValueError):
            tiling.check_tiles(bad)


@pytest.mark.parametrize(
    ("tiles", "message"),
    [
        ([(5, 2)], "output layer"),
        ([(0, 4)], "4 blocks of its 3 channels"),
        ([(6, 2)], "the model has 6"),
        ([(0, 2), (1, 3)], "both 2 and 3 blocks"),
    ],
)
def test_a_tiling_that_cannot_apply_is_refused_in_one_line(tiles, message):
    with pytest.raises(ModelError, match=message):
        tiling.tile(small_cnn(), tiles)


def test_the_model_input_read_channel_by_channel_is_refused():
    model = Model(
        "pool_first",
        (2, 4, 4),
        0,
        [
            Layer("pool", "avgpool", -1, (2, 4, 4), (2, 2, 2), 2, "relu", kernel=2, stride=2),
            Layer("fc", "dense", 0, (2, 2, 2), (3, 1, 1), 0, "none"),
        ],
        [None, np.ones((3, 8), np.int8)],
        [None, np.zeros(3, np.int64)],
    )
    with pytest.raises(ModelError, match="model input"):
        tiling.tile(model, [(0, 2)])


def test_a_reader_that_cannot_read_blocks_is_refused():
    model = Model(
        "grouped_after",
        (4, 4, 4),
        0,
        [
            Layer("conv", "conv2d", -1, (4, 4, 4), (4, 4, 4), 4, "relu", kernel=1),
            Layer("grouped", "grouped_conv2d", 0, (4, 4, 4), (2, 4, 4), 4, "relu", kernel=1, groups=2),
            Layer("fc", "dense", 1, (2, 4, 4), (3, 1, 1), 0, "none"),
        ],
        [np.ones((4, 4, 1, 1), np.int8), np.ones((2, 2, 1, 1), np.int8), np.ones((3, 32), np.int8)],
        [np.zeros(4, np.int64), np.zeros(2, np.int64), np.zeros(3, np.int64)],
    )
    with pytest.raises(ModelError, match="grouped reads it whole"):
        tiling.tile(model, [(0, 2)])
    with pytest.raises(ModelError, match="not split into blocks"):
        tiling.tile(model, [(1, 2)])


def test_an_empty_tiling_is_the_model_itself():
    model = small_cnn()
    assert tiling.tile(model, ())[0] is model
