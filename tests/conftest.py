"""Shared fixtures: small hand-built integer models covering every layer kind."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from edgeprove.model.ir import Layer, Model

RUN_CGROUP = re.compile(r"^edgeprove-\d+-[0-9a-f]+$")
"""Name of the cgroups a capped run creates (tests check none is left behind)."""


def require(condition: bool, reason: str) -> None:
    """Skip locally when a real component is missing; on CI that is a failure, never a skip."""
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide this: {reason}")
        pytest.skip(reason)


def altered_model(model: Model) -> Model:
    """The same architecture and name with one weight changed: another model (another digest)."""
    weights = [
        np.array(model.weight(i)) if layer.has_weights else None for i, layer in enumerate(model.layers)
    ]
    index = next(i for i, w in enumerate(weights) if w is not None)
    weights[index].flat[0] ^= 1
    biases = [None if b is None else np.array(b) for b in model.biases]
    return Model(model.name, model.input_shape, model.input_frac, model.layers, weights, biases)


def widest_tables(monkeypatch, model: Model) -> list[int]:
    """Make the prover pick every activation table as wide as the model's static bound allows (an honest
    but maximal choice); returns those widths."""
    from edgeprove.layers import requant
    from edgeprove.model.bounds import check_model

    widths = [
        b.q_bits
        for layer, b in zip(model.layers, check_model(model))
        if layer.requantized and layer.kind != "maxpool"
    ]
    chosen = iter(widths)
    monkeypatch.setattr(requant, "act_bits_for", lambda q: next(chosen))
    return widths


def small_cnn(seed: int = 1) -> Model:
    """Conv (stride 2, pad 1, odd shapes), residual conv, avgpool, global pool, dense, accumulator out."""
    rng = np.random.default_rng(seed)
    layers = [
        Layer(
            "conv1",
            "conv2d",
            -1,
            (2, 7, 5),
            (3, 4, 3),
            shift=6,
            activation="relu",
            kernel=3,
            stride=2,
            padding=1,
        ),
        Layer(
            "conv2",
            "conv2d",
            0,
            (3, 4, 3),
            (3, 4, 3),
            shift=7,
            activation="relu",
            kernel=3,
            padding=1,
            residual=0,
            residual_shift=2,
        ),
        Layer("pool", "avgpool", 1, (3, 4, 3), (3, 2, 1), shift=2, activation="relu", kernel=2, stride=2),
        Layer("conv3", "conv2d", 2, (3, 2, 1), (4, 2, 1), shift=5, activation="clamp", kernel=1),
        Layer("gap", "global_avgpool", 3, (4, 2, 1), (4, 1, 1), shift=1, activation="clamp"),
        Layer("fc", "dense", 4, (4, 1, 1), (5, 1, 1), shift=0, activation="none"),
    ]
    weights = [
        rng.integers(-60, 60, (3, 2, 3, 3)).astype(np.int8),
        rng.integers(-60, 60, (3, 3, 3, 3)).astype(np.int8),
        None,
        rng.integers(-60, 60, (4, 3, 1, 1)).astype(np.int8),
        None,
        rng.integers(-60, 60, (5, 4)).astype(np.int8),
    ]
    biases = [
        rng.integers(-100, 100, 3),
        rng.integers(-100, 100, 3),
        None,
        rng.integers(-50, 50, 4),
        None,
        rng.integers(-100, 100, 5),
    ]
    return Model("small_cnn", (2, 7, 5), 0, layers, weights, biases)


def small_mlp(seed: int = 2, widths=(6, 9, 3), final: str = "relu") -> Model:
    """Dense layers (flatten from a 3-D input), requantized last layer."""
    rng = np.random.default_rng(seed)
    shapes = [(3, 1, 2)] + [(w, 1, 1) for w in widths]
    layers, weights, biases = [], [], []
    for i in range(len(widths)):
        act = final if i == len(widths) - 1 else "relu"
        shift = 0 if act == "none" else 5
        layers.append(Layer(f"fc{i}", "dense", i - 1, shapes[i], shapes[i + 1], shift=shift, activation=act))
        fan_in = int(np.prod(shapes[i]))
        weights.append(rng.integers(-90, 90, (widths[i], fan_in)).astype(np.int8))
        biases.append(rng.integers(-200, 200, widths[i]))
    return Model("small_mlp", shapes[0], 0, layers, weights, biases)


@pytest.fixture(scope="session")
def cnn() -> Model:
    return small_cnn()


@pytest.fixture(scope="session")
def mlp() -> Model:
    return small_mlp()


def maxpool_cnn(seed: int = 5, final: str = "none") -> Model:
    """Max pools on the input (3x3, stride 1, k^2 = 9 slices) and after a ReLU conv (2x2, stride 2)."""
    rng = np.random.default_rng(seed)
    layers = [
        Layer("mp0", "maxpool", -1, (2, 6, 7), (2, 4, 5), shift=0, activation="clamp", kernel=3, stride=1),
        Layer("conv", "conv2d", 0, (2, 4, 5), (3, 4, 5), shift=6, activation="relu", kernel=3, padding=1),
        Layer("mp1", "maxpool", 1, (3, 4, 5), (3, 2, 2), shift=0, activation="relu", kernel=2, stride=2),
        Layer("fc", "dense", 2, (3, 2, 2), (4, 1, 1), shift=0 if final == "none" else 5, activation=final),
    ]
    weights = [
        None,
        rng.integers(-60, 60, (3, 2, 3, 3)).astype(np.int8),
        None,
        rng.integers(-60, 60, (4, 12)).astype(np.int8),
    ]
    biases = [None, rng.integers(-100, 100, 3), None, rng.integers(-100, 100, 4)]
    return Model("maxpool_cnn", (2, 6, 7), 0, layers, weights, biases)
