"""Shared by the per-kind tests: a small model around the layers under test, an honest proof that
verifies, and every value of one layer's sections altered alone, each expected to be rejected."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from proofedit import altered, leaves, read_sections, replace, write_sections

from edgeprove import field as F
from edgeprove import protocol as PR
from edgeprove import prover, verifier
from edgeprove.layers.common import Grid
from edgeprove.model import ops
from edgeprove.model.bounds import check_model
from edgeprove.model.ir import Layer, Model, ModelOverflowError
from edgeprove.proof import SECTION_COMMIT, SECTION_LAYER, SECTION_OUTPUT


def model_of(input_shape, layers: list[Layer], rng: np.random.Generator) -> Model:
    """The layers with random int8 weights and biases where they take them, each shift raised until the
    model's static bounds hold."""
    weights, biases = [], []
    for layer in layers:
        shape = layer.weight_shape
        weights.append(None if shape is None else rng.integers(-60, 60, shape).astype(np.int8))
        biases.append(None if shape is None else rng.integers(-200, 200, layer.out_shape[0]))
    while True:
        model = Model("kind_test", input_shape, 0, layers, weights, biases)
        try:
            check_model(model)
            return model
        except ModelOverflowError as exc:
            index = next(i for i, layer in enumerate(layers) if f"layer {layer.name}:" in str(exc))
            layers = list(layers)
            layers[index] = dataclasses.replace(layers[index], shift=layers[index].shift + 1)


def hideable(model: Model) -> bool:
    """Whether a zero-knowledge proof can cover the model (``protocol.check_hideable``: every tensor a layer
    reads holds more than one value)."""
    try:
        PR.check_hideable(model)
    except ValueError:
        return False
    return True


def prove_and_verify(path: Path, model: Model, x: np.ndarray, **kwargs) -> Path:
    """Prove, check the verifier accepts and that both agree with integer inference; a private input is
    proven in zero knowledge whenever the model allows it."""
    if kwargs.get("private_input") and "zero_knowledge" not in kwargs:
        kwargs["zero_knowledge"] = hideable(model)
    result = prover.prove(model, x, path, **kwargs)
    verdict = verifier.verify(path, model)
    assert verdict.accepted, verdict.reason
    assert np.array_equal(result.output, ops.run(model, x))
    assert np.array_equal(verdict.output, result.output)
    return path


def random_input(model: Model, rng: np.random.Generator) -> np.ndarray:
    """An int8 input of the model's shape."""
    return rng.integers(-128, 128, model.input_shape)


def layer_section_indices(sections, k: int) -> list[int]:
    """Layer k's commitment section (when it commits) and its layer section, by position in the file."""
    layer_at = [i for i, (kind, _) in enumerate(sections) if kind == SECTION_LAYER][k]
    before = layer_at - 1
    if sections[before][0] == SECTION_OUTPUT:
        before -= 1
    return [before, layer_at] if sections[before][0] == SECTION_COMMIT else [layer_at]


def assert_every_value_checked(tmp_path: Path, model: Model, proof: Path, k: int) -> int:
    """Alter every value of layer k's sections, one at a time: each altered proof must be rejected.
    Returns how many values were altered."""
    prefix, sections = read_sections(proof)
    checked = 0
    for index in layer_section_indices(sections, k):
        kind, obj = sections[index]
        for trail, value in leaves(obj):
            edited = list(sections)
            edited[index] = (kind, replace(obj, trail, altered(value)))
            target = tmp_path / "tampered"
            write_sections(target, prefix, edited)
            verdict = verifier.verify(target, model)
            assert not verdict.accepted, f"section {index} {trail} altered but accepted"
            checked += 1
    return checked


def g_from_factors(grid: Grid, a: np.ndarray, ew: np.ndarray) -> np.ndarray:
    """G on the padded grid, built whole from its factors (the reference)."""
    cp, hp, wp = grid.padded
    g = F.ext_zeros((cp, hp, wp))
    for v in range(ew.shape[1]):
        g[:, : a.shape[1]] = F.ext_add(
            g[:, : a.shape[1]], F.ext_mul(a[:, :, v, :, None], ew[:, None, v, None, :])
        )
    return g.reshape(F.EXT_DEGREE, -1)
