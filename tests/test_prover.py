"""Completeness of the layer walk: honest proofs of random models and inputs verify, both schedules."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from conftest import small_cnn, small_mlp
from layers.kindcheck import hideable

from edgeprove import prover, verifier
from edgeprove.model import ops
from edgeprove.model.ir import Model, ModelError


def prove_and_verify(model, x, path, schedule="streaming"):
    result = prover.prove(model, x, path, schedule=schedule)
    verdict = verifier.verify(path, model)
    return result, verdict


@pytest.mark.parametrize("seed", [1, 7])
def test_cnn_proof_verifies_and_output_matches_inference(tmp_path, seed):
    model = small_cnn(seed)
    x = np.random.default_rng(seed).integers(-128, 128, model.input_shape)
    result, verdict = prove_and_verify(model, x, tmp_path / "p")
    assert verdict.accepted, verdict.reason
    assert np.array_equal(result.output, ops.run(model, x))
    assert np.array_equal(verdict.output, result.output)
    assert result.proof_bytes == (tmp_path / "p").stat().st_size


@pytest.mark.parametrize("final", ["relu", "clamp", "none"])
def test_mlp_proof_verifies(tmp_path, final):
    model = small_mlp(3, (5, 1, 4), final)
    x = np.random.default_rng(0).integers(-128, 128, model.input_shape)
    result, verdict = prove_and_verify(model, x, tmp_path / "p")
    assert verdict.accepted, verdict.reason
    assert np.array_equal(result.output, ops.run(model, x))


def test_single_layer_single_output(tmp_path):
    model = small_mlp(4, (1,), "none")
    x = np.zeros(model.input_shape, dtype=np.int64)
    _, verdict = prove_and_verify(model, x, tmp_path / "p")
    assert verdict.accepted, verdict.reason


def test_baseline_schedule_gives_the_same_proof(tmp_path, cnn):
    x = np.random.default_rng(5).integers(-128, 128, cnn.input_shape)
    prover.prove(cnn, x, tmp_path / "s", schedule="streaming")
    prover.prove(cnn, x, tmp_path / "b", schedule="baseline")

    def body(path):  # everything after the header, which names the schedule
        data = path.read_bytes()
        return data[14 + int.from_bytes(data[10:14], "little") :]

    assert body(tmp_path / "s") == body(tmp_path / "b")
    assert verifier.verify(tmp_path / "b", cnn).accepted


def test_events_are_written(tmp_path, cnn):
    import json

    x = np.zeros(cnn.input_shape, dtype=np.int64)
    prover.prove(cnn, x, tmp_path / "p", events=tmp_path / "ev.jsonl")
    events = [json.loads(line) for line in (tmp_path / "ev.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events[:2]] == ["start", "end"]
    assert events[-1]["event"] == "done"
    assert {e["layer"] for e in events if e["event"] == "start"} == {layer.name for layer in cnn.layers}
    assert all(e["rss"] > 0 for e in events)


def test_bad_input_is_refused_and_no_file_left(tmp_path, cnn):
    with pytest.raises(ModelError):
        prover.prove(cnn, np.full(cnn.input_shape, 300), tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_wrong_witness_is_rejected(tmp_path, cnn, monkeypatch):
    """A prover whose layer computes a wrong accumulator (and so a wrong output) is caught."""
    x = np.random.default_rng(2).integers(-128, 128, cnn.input_shape)
    honest = ops.linear

    def skewed(model, index, x, skip=None):
        a = honest(model, index, x, skip)
        if index == 1:
            a = a.copy()
            a[0, 0, 0] += 1 << model.layers[index].shift  # moves q and so y by one
        return a

    monkeypatch.setattr(ops, "linear", skewed)
    prover.prove(cnn, x, tmp_path / "p")
    monkeypatch.setattr(ops, "linear", honest)
    verdict = verifier.verify(tmp_path / "p", cnn)
    assert not verdict.accepted
    assert "linear" in verdict.reason


@pytest.mark.parametrize("seed", range(8))
def test_random_models_prove_and_verify(tmp_path, seed):
    """Completeness on random models: kinds, odd shapes, strides, padding, residuals, activations."""
    from edgeprove.model import zoo

    rng = np.random.default_rng(100 + seed)
    model = zoo.random_model(rng)
    x = rng.integers(-128, 128, model.input_shape)
    result, verdict = prove_and_verify(model, x, tmp_path / "p")
    assert verdict.accepted, verdict.reason
    assert np.array_equal(result.output, ops.run(model, x))


def test_lenet5_smoke(tmp_path, monkeypatch):
    """The zoo's LeNet-5 proves and verifies end to end."""
    from edgeprove.model import zoo

    monkeypatch.setenv("EDGEPROVE_CACHE", str(tmp_path / "cache"))
    model = zoo.get("lenet5")
    x = np.random.default_rng(0).integers(-128, 128, model.input_shape)
    result, verdict = prove_and_verify(model, x, tmp_path / "p")
    assert verdict.accepted, verdict.reason
    assert result.output.shape == (10, 1, 1)


@pytest.mark.parametrize("final", ["none", "relu"])
def test_maxpool_model_proves_and_verifies(tmp_path, final):
    from conftest import maxpool_cnn

    model = maxpool_cnn(final=final)
    x = np.random.default_rng(8).integers(-128, 128, model.input_shape)
    result, verdict = prove_and_verify(model, x, tmp_path / "p")
    assert verdict.accepted, verdict.reason
    assert np.array_equal(result.output, ops.run(model, x))


def test_act_max_clamps_and_verifies(tmp_path):
    """A ReLU6-style layer (act_max below 127) is proven against its own clamp table."""
    from dataclasses import replace

    base = small_mlp(6, (6, 3), "none")
    layers = [replace(base.layers[0], act_max=20), base.layers[1]]
    model = Model(base.name, base.input_shape, 0, layers, base.weights, base.biases)
    x = np.random.default_rng(3).integers(-128, 128, model.input_shape)
    result, verdict = prove_and_verify(model, x, tmp_path / "p")
    assert verdict.accepted, verdict.reason
    assert np.array_equal(result.output, ops.run(model, x))


@pytest.mark.parametrize("make", [small_cnn, small_mlp])
def test_private_input_proof_verifies_without_revealing_the_input(tmp_path, make):
    from proofedit import read_sections

    from edgeprove.proof import SECTION_INPUT

    model = make()
    x = np.random.default_rng(4).integers(-128, 128, model.input_shape)
    result = prover.prove(model, x, tmp_path / "p", private_input=True)
    verdict = verifier.verify(tmp_path / "p", model)
    assert verdict.accepted, verdict.reason
    assert verdict.header["input_mode"] == "committed"
    assert np.array_equal(result.output, ops.run(model, x))
    _, sections = read_sections(tmp_path / "p")
    assert SECTION_INPUT not in [kind for kind, _ in sections]


SIGMOID = ("relu", "clamp", "sigmoid")


def sigmoid_model(seed: int):
    """A random model with at least one sigmoid layer (the generator's seed advanced until it has one)."""
    from edgeprove.model import zoo

    rng = np.random.default_rng(seed)
    while True:
        model = zoo.random_model(rng, activations=SIGMOID)
        if any(layer.activation == "sigmoid" for layer in model.layers):
            return model, rng


@pytest.mark.parametrize("seed", range(6))
def test_random_models_with_sigmoids_prove_and_verify(tmp_path, seed):
    """Completeness with sigmoid layers anywhere (the last one included); both schedules write the same
    sections for a public input (a private input's hiding commitment draws fresh randomness: both verify)."""
    model, rng = sigmoid_model(400 + seed)
    x = rng.integers(-128, 128, model.input_shape)
    private = seed % 2 == 1
    hidden = private and hideable(model)
    result = prover.prove(model, x, tmp_path / "s", private_input=private, zero_knowledge=hidden)
    prover.prove(model, x, tmp_path / "b", schedule="baseline", private_input=private, zero_knowledge=hidden)
    verdict = verifier.verify(tmp_path / "s", model)
    assert verdict.accepted, verdict.reason
    assert np.array_equal(result.output, ops.run(model, x))

    def body(path):
        data = path.read_bytes()
        return data[14 + int.from_bytes(data[10:14], "little") :]

    assert private or body(tmp_path / "s") == body(tmp_path / "b")
    assert verifier.verify(tmp_path / "b", model).accepted


def test_a_prover_with_another_sigmoid_is_rejected(tmp_path, monkeypatch):
    """A prover whose sigmoid reads q at another scale (its own table, its own outputs, a complete proof
    of that other model) is rejected by a verifier evaluating the model's table."""
    from edgeprove.model import sigmoid

    model, rng = sigmoid_model(7)
    x = rng.integers(-128, 128, model.input_shape)
    honest = sigmoid.sigmoid
    monkeypatch.setattr(sigmoid, "sigmoid", lambda q, f, g: honest(q, f, g + 1))
    prover.prove(model, x, tmp_path / "p")
    monkeypatch.setattr(sigmoid, "sigmoid", honest)
    verdict = verifier.verify(tmp_path / "p", model)
    assert not verdict.accepted
    assert "layer4/requant: activation lookup: table leaf" in verdict.reason, verdict.reason


def test_a_wrong_sigmoid_output_in_the_proof_is_rejected(tmp_path, monkeypatch):
    """One sigmoid output off by one, committed and read by the next layer alike, with the lookup's
    multiplicities those of the honest output: the activation lookup fails."""
    from edgeprove.layers import requant

    model, rng = sigmoid_model(8)
    k = next(i for i, layer in enumerate(model.layers) if layer.activation == "sigmoid")
    x = rng.integers(-128, 128, model.input_shape)
    honest_requantize, honest_witness = ops.requantize, requant.witness

    def requantize(layer, a):
        q, r, y = honest_requantize(layer, a)
        if layer.name == model.layers[k].name:
            y = y.copy()
            y.flat[0] ^= 1
        return q, r, y

    def witness(layer, grid, q, r, y, table_bits=None):
        w, vector = honest_witness(layer, grid, q, r, ops.activate(layer, q), table_bits)
        grid.pad(y, w.y)  # the committed vector's y segment, which w.y is a view of
        return w, vector

    monkeypatch.setattr(ops, "requantize", requantize)
    monkeypatch.setattr(requant, "witness", witness)
    prover.prove(model, x, tmp_path / "p")
    monkeypatch.setattr(ops, "requantize", honest_requantize)
    monkeypatch.setattr(requant, "witness", honest_witness)
    verdict = verifier.verify(tmp_path / "p", model)
    assert not verdict.accepted
    assert f"layer{k}/requant: activation lookup" in verdict.reason, verdict.reason


def test_a_signal_as_the_proof_file_is_created_leaves_no_temporary(tmp_path, monkeypatch):
    """SIGTERM arriving right after the temporary proof file exists (before the prover holds its writer)
    still removes it: the signal is raised once the writer can clean up."""
    from edgeprove.process.atomic import AtomicFile
    from edgeprove.process.interrupts import Interrupted, signals_as_interrupt

    created = AtomicFile.__init__

    def created_then_signalled(self, target):
        created(self, target)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(AtomicFile, "__init__", created_then_signalled)
    model = small_mlp(3, (4, 2), "relu")
    with pytest.raises(Interrupted), signals_as_interrupt():
        prover.prove(model, np.zeros(model.input_shape, dtype=np.int64), tmp_path / "p.proof")
    assert list(tmp_path.iterdir()) == []
