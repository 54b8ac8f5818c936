"""Tiled proofs: they verify and compute what the untiled model does; a tile proven with another tile's
values, a proof of another tiling, and a hostile tiling in the header are each rejected."""

from __future__ import annotations

import dataclasses
import json
import struct

import numpy as np
import pytest
from conftest import small_cnn
from proofedit import rewrite_header
from test_model_tiling import index_of, narrow_iris_seg, small_scse

from edgeprove import prover, verifier
from edgeprove.model import ops, tiling, zoo
from edgeprove.model.ir import Model, ModelError


@pytest.fixture(scope="module")
def seg() -> Model:
    return narrow_iris_seg()


@pytest.fixture(scope="module")
def seg_tiles(seg) -> tuple[tuple[int, int], ...]:
    """Groups with convolutions, depthwise convolutions, a pool and gated products (channel and pixel
    gates, one read upsampled), in 2 and 4 blocks."""
    names = [("features.2.expand", 2), ("x_0_0.attention2.gate0", 4), ("x_0_3.attention1.gate0", 2)]
    return tuple(sorted((index_of(seg, name), blocks) for name, blocks in names))


@pytest.fixture(scope="module")
def seg_proof(seg, seg_tiles, tmp_path_factory):
    path = tmp_path_factory.mktemp("tiled") / "p"
    x = np.random.default_rng(4).integers(-128, 128, seg.input_shape)
    result = prover.prove(seg, x, path, threads=1, tiles=seg_tiles)
    return path, x, result


def header_of(path) -> dict:
    data = path.read_bytes()
    return json.loads(data[14 : 14 + struct.unpack("<I", data[10:14])[0]])


def body(path) -> bytes:
    """The proof after its header."""
    data = path.read_bytes()
    return data[14 + struct.unpack("<I", data[10:14])[0] :]


def test_a_tiled_proof_verifies_and_gives_the_untiled_output(seg, seg_tiles, seg_proof):
    path, x, result = seg_proof
    verdict = verifier.verify(path, seg)
    assert verdict.accepted, verdict.reason
    assert np.array_equal(result.output, ops.run(seg, x))
    assert np.array_equal(verdict.output, result.output)
    assert header_of(path)["tiles"] == [list(pair) for pair in seg_tiles]
    assert header_of(path)["layers"] == len(seg.layers)


@pytest.fixture(scope="module")
def scse() -> Model:
    return small_scse()


def test_tiled_proofs_are_the_same_on_two_threads_with_spilling_and_in_the_baseline(scse, tmp_path):
    x = np.random.default_rng(6).integers(-128, 128, scse.input_shape)
    runs = {"one": {}, "two": {"threads": 2, "spill": True}, "base": {"schedule": "baseline"}}
    for name, settings in runs.items():
        prover.prove(scse, x, tmp_path / name, **{"threads": 1, **settings}, tiles=[(0, 2)])
    assert (tmp_path / "two").read_bytes() == (tmp_path / "one").read_bytes()
    assert body(tmp_path / "base") == body(tmp_path / "one")  # only the header's schedule differs
    assert verifier.verify(tmp_path / "one", scse).accepted


@pytest.mark.parametrize("seed", range(4))
def test_random_models_with_random_tilings_prove_and_verify(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    model = zoo.random_model(rng, max_layers=5, max_channels=6)
    tiles = {}
    for index, layer in enumerate(model.layers):
        trial = {**tiles, index: int(rng.integers(2, max(layer.out_shape[0], 2) + 1))}
        try:
            tiling.tile(model, sorted(trial.items()))
        except ModelError:
            continue
        tiles = trial
    x = rng.integers(-128, 128, model.input_shape)
    result = prover.prove(model, x, tmp_path / "p", threads=1, tiles=sorted(tiles.items()))
    verdict = verifier.verify(tmp_path / "p", model)
    assert verdict.accepted, (tiles, verdict.reason)
    assert np.array_equal(result.output, ops.run(model, x))


def test_a_private_input_read_by_a_tiled_layer_verifies(tmp_path):
    model = small_cnn()
    x = np.random.default_rng(2).integers(-128, 128, model.input_shape)
    prover.prove(model, x, tmp_path / "p", private_input=True, threads=1, tiles=[(0, 3)])
    verdict = verifier.verify(tmp_path / "p", model)
    assert verdict.accepted, verdict.reason


def _swapped(tiled: Model, first: int) -> Model:
    """The tiled model with blocks ``first`` and ``first + 1`` computing each other's channels (names kept):
    the prover commits and proves each block with the other block's values."""
    layers, weights, biases = list(tiled.layers), list(tiled.weights), list(tiled.biases)
    a, b = first, first + 1
    layers[a], layers[b] = (
        dataclasses.replace(layers[b], name=layers[a].name),
        dataclasses.replace(layers[a], name=layers[b].name),
    )
    weights[a], weights[b] = weights[b], weights[a]
    biases[a], biases[b] = biases[b], biases[a]
    return Model(tiled.name, tiled.input_shape, tiled.input_frac, layers, weights, biases)


@pytest.mark.parametrize(
    "name",
    [
        "att.gate0",  # a gated product: block 0 reads block 1's input and channel gate
        "conv",  # a convolution: block 0 computed with block 1's rows of the weights and bias
        "att.channel0",  # a channel gate: each gated block reads the other's gate
        "att.pool0",  # a pool: each block averages the other's channels
    ],
)
def test_a_tile_proven_with_another_tiles_values_is_rejected(scse, tmp_path, monkeypatch, name):
    x = np.random.default_rng(7).integers(-128, 128, scse.input_shape)
    tiles = [(0, 2)]
    honest, origin = tiling.tile(scse, tiles)
    first = origin.index(index_of(scse, name))
    monkeypatch.setattr(prover, "tile", lambda model, tiles: (_swapped(honest, first), origin))
    prover.prove(scse, x, tmp_path / "p", threads=1, tiles=tiles)
    verdict = verifier.verify(tmp_path / "p", scse)
    assert not verdict.accepted
    assert "bad header" not in verdict.reason


def test_the_swapping_prover_is_honest_without_the_swap(scse, tmp_path, monkeypatch):
    """The path the swap tests take (the prover handed a tiled model) gives accepted proofs as it is."""
    honest, origin = tiling.tile(scse, [(0, 2)])
    monkeypatch.setattr(prover, "tile", lambda model, tiles: (honest, origin))
    prover.prove(scse, np.ones(scse.input_shape, np.int64), tmp_path / "p", threads=1, tiles=[(0, 2)])
    assert verifier.verify(tmp_path / "p", scse).accepted


@pytest.mark.parametrize(
    "edit",
    [
        lambda tiles: [],
        lambda tiles: [[index, 4 if blocks == 2 else 2] for index, blocks in tiles],
        lambda tiles: tiles[1:],
    ],
    ids=["untiled", "other-blocks", "one-group-less"],
)
def test_a_proof_read_under_another_tiling_is_rejected(seg, seg_proof, tmp_path, edit):
    path, _, _ = seg_proof
    rewrite_header(path, tmp_path / "p", lambda h: h.update(tiles=edit(h["tiles"])))
    verdict = verifier.verify(tmp_path / "p", seg)
    assert not verdict.accepted


def test_an_untiled_proof_cannot_claim_a_tiling(tmp_path):
    model = small_cnn()
    prover.prove(model, np.zeros(model.input_shape, np.int64), tmp_path / "p", threads=1)
    rewrite_header(tmp_path / "p", tmp_path / "q", lambda h: h.update(tiles=[[0, 3]]))
    verdict = verifier.verify(tmp_path / "q", model)
    assert not verdict.accepted


@pytest.mark.parametrize(
    ("tiles", "reason"),
    [
        ("all", "tiles is not a list"),
        ([[0, 2]] * 5000, "tiles is not a list"),
        ([[0, 2, 2]], "pair of integers"),
        ([[0, 1]], "outside [2, 64]"),
        ([[3, 2], [0, 2]], "not increasing"),
        ([[999999, 2]], "the model has 6"),
        ([[5, 2]], "output layer"),
        ([[0, 64]], "64 blocks of its 3 channels"),
    ],
)
def test_a_hostile_tiling_in_the_header_is_one_line(tmp_path, tiles, reason):
    model = small_cnn()
    prover.prove(model, np.zeros(model.input_shape, np.int64), tmp_path / "p", threads=1)
    rewrite_header(tmp_path / "p", tmp_path / "q", lambda h: h.update(tiles=tiles))
    verdict = verifier.verify(tmp_path / "q", model)
    assert not verdict.accepted
    assert verdict.reason.startswith("bad header") and reason in verdict.reason
    assert "\n" not in verdict.reason
