"""States on disk: ``spill`` maps an array back from an unlinked file (nothing left in the folder, the same
values, read-only), keeps small arrays and falls back to memory when the file cannot be written; every
scheme opens a spilled state exactly as the state in memory; a proof made with waiting states on disk is
byte for byte the proof made without, and leaves nothing beside it."""

from __future__ import annotations

import os

import numpy as np
import pytest

from edgeprove import field as F
from edgeprove import prover, verifier
from edgeprove.commit import LIGERO, PLAIN, ZK_LIGERO
from edgeprove.commit import spill as S
from edgeprove.model.ir import Layer, Model
from edgeprove.transcript import Transcript


@pytest.fixture()
def spill_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every state goes to disk, however small (the small test vectors would otherwise stay)."""
    monkeypatch.setattr(S, "SPILL_MIN_BYTES", 0)


def test_a_spilled_array_is_the_same_values_read_only_and_leaves_no_file(tmp_path, spill_all):
    rows = np.random.default_rng(1).integers(0, F.P, (300, 1000), dtype=np.uint64).astype(np.uint32)
    view = rows[::2, 3:900]  # not contiguous: written a block at a time
    for array in (rows, view):
        spilled = S.spill(array, tmp_path)
        assert isinstance(spilled, np.memmap) and np.array_equal(spilled, array)
        assert spilled.dtype == array.dtype and not spilled.flags.writeable
        assert os.listdir(tmp_path) == []


def test_small_arrays_and_unwritable_folders_keep_the_array(tmp_path):
    small = np.arange(10, dtype=np.uint32)
    assert S.spill(small, tmp_path) is small
    large = np.zeros(S.SPILL_MIN_BYTES // 4, dtype=np.uint32)
    assert S.spill(large, tmp_path / "missing") is large  # the file cannot be made: kept in memory
    assert isinstance(S.spill(large, tmp_path), np.memmap)


@pytest.mark.parametrize("scheme", [LIGERO, ZK_LIGERO, PLAIN], ids=lambda s: s.header_key)
def test_every_scheme_opens_a_spilled_state_as_the_state_in_memory(tmp_path, spill_all, scheme):
    rng = np.random.default_rng(2)
    vector = rng.integers(0, F.P, 3000, dtype=np.uint64)
    params = scheme.default_params()
    commitment, state = scheme.commit(vector, params)
    points = [F.random_ext(rng, (commitment.num_vars,)) for _ in range(2)]
    kept = scheme.spill(state, tmp_path)
    values, proof = scheme.open(kept, points, Transcript(b"spill"), "c")
    expected, _ = scheme.open(state, points, Transcript(b"spill"), "c")
    assert all(F.ext_eq(a, b) for a, b in zip(values, expected, strict=True))
    scheme.verify(commitment, points, values, proof, Transcript(b"spill"), "c", params)
    assert os.listdir(tmp_path) == []


def skip_model(rng: np.random.Generator) -> Model:
    """Layer 0 is read again by layer 2: its commitment waits one layer (and goes to disk)."""
    layers = [
        Layer("a", "conv2d", -1, (2, 6, 6), (3, 6, 6), 6, "relu", 3, 1, 1),
        Layer("b", "conv2d", 0, (3, 6, 6), (3, 6, 6), 6, "relu", 3, 1, 1),
        Layer("c", "conv2d", 1, (6, 6, 6), (2, 6, 6), 6, "relu", 1, extra_sources=(0,)),
    ]
    weights = [rng.integers(-64, 64, layer.weight_shape).astype(np.int8) for layer in layers]
    biases = [rng.integers(-100, 100, layer.out_shape[0]) for layer in layers]
    return Model("skip", (2, 6, 6), 0, layers, weights, biases)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_proof_with_states_on_disk_is_the_proof_without(tmp_path, spill_all, monkeypatch, threads):
    spilled = []
    honest = type(LIGERO).spill
    monkeypatch.setattr(
        type(LIGERO),
        "spill",
        lambda self, state, folder: spilled.append(folder) or honest(self, state, folder),
    )
    rng = np.random.default_rng(3)
    model = skip_model(rng)
    x = rng.integers(-128, 128, model.input_shape)
    (tmp_path / "kept").mkdir()
    (tmp_path / "spilled").mkdir()
    prover.prove(model, x, tmp_path / "kept" / "p", threads=threads)
    prover.prove(model, x, tmp_path / "spilled" / "p", threads=threads, spill=True)
    assert spilled == [tmp_path / "spilled"] * 2  # a's and b's states wait for c; c's is opened at once
    assert (tmp_path / "kept" / "p").read_bytes() == (tmp_path / "spilled" / "p").read_bytes()
    assert os.listdir(tmp_path / "spilled") == ["p"]
    assert verifier.verify(tmp_path / "spilled" / "p", model).accepted


def test_a_private_input_on_disk_proves(tmp_path, spill_all):
    rng = np.random.default_rng(4)
    model = skip_model(rng)
    prover.prove(
        model, rng.integers(-128, 128, model.input_shape), tmp_path / "p", private_input=True, spill=True
    )
    verdict = verifier.verify(tmp_path / "p", model)
    assert verdict.accepted, verdict.reason
    assert os.listdir(tmp_path) == ["p"]
