"""The planner counts every tensor a layer reads: a source read late by a concatenation stays alive (and
committed) until that reader, the private input too, and a gathered input is part of its layer's tensors."""

from __future__ import annotations

import numpy as np

from edgeprove import plan
from edgeprove.model.ir import Layer, Model


def chain(extra: int, upsample: tuple[int, ...] = ()) -> Model:
    """a -> b -> c, where c reads b beside tensor ``extra`` (all (2, 4, 4))."""
    layers = [
        Layer("a", "conv2d", -1, (2, 4, 4), (2, 4, 4), 8, "relu", 3, 1, 1),
        Layer("b", "conv2d", 0, (2, 4, 4), (2, 4, 4), 8, "relu", 3, 1, 1),
        Layer(
            "c", "conv2d", 1, (4, 4, 4), (2, 4, 4), 8, "relu", 1, extra_sources=(extra,), upsample=upsample
        ),
    ]
    rng = np.random.default_rng(0)
    weights = [rng.integers(-5, 5, layer.weight_shape).astype(np.int8) for layer in layers]
    return Model("chain", (2, 4, 4), 0, layers, weights, [np.zeros(2, np.int64)] * 3)


def test_a_source_read_late_stays_alive_until_its_reader():
    late, local = plan.predict(chain(0)), plan.predict(chain(1))
    assert late.layers[2].alive_bytes > local.layers[2].alive_bytes  # a, read by c beside b
    assert [row.alive_bytes for row in late.layers[:2]] == [row.alive_bytes for row in local.layers[:2]]


def test_a_private_input_read_by_a_concatenation_is_kept_until_then():
    late = plan.predict(chain(-1), private_input=True)
    local = plan.predict(chain(1), private_input=True)
    assert late.layers[2].alive_bytes > local.layers[2].alive_bytes


def test_a_gathered_input_counts_in_its_layer():
    layers = [
        Layer("a", "conv2d", -1, (2, 4, 4), (2, 2, 2), 8, "relu", 3, 2, 1),
        Layer("up", "conv2d", 0, (2, 4, 4), (2, 4, 4), 8, "relu", 1, upsample=(2,)),
    ]
    rng = np.random.default_rng(1)
    weights = [rng.integers(-5, 5, layer.weight_shape).astype(np.int8) for layer in layers]
    model = Model("up", (2, 4, 4), 0, layers, weights, [np.zeros(2, np.int64)] * 2)
    plain = Model(
        "plain",
        (2, 4, 4),
        0,
        [layers[0], Layer("b", "conv2d", 0, (2, 2, 2), (2, 2, 2), 8, "relu", 1)],
        weights[:1] + [weights[1]],
        [np.zeros(2, np.int64)] * 2,
    )
    assert plan.predict(model).layers[1].working_bytes > plan.predict(plain).layers[1].working_bytes


def test_spilled_states_count_only_what_stays_in_memory(monkeypatch):
    """With ``spill`` (every state large enough here), a's state waits for c on disk: from b on, only its
    tree counts; a state comes back whole while it is opened; with states too small to spill nothing
    changes."""
    model = chain(0)
    kept = plan.predict(model)
    assert plan.predict(model, spill=True).layers == kept.layers  # a state of a few KiB stays
    monkeypatch.setattr(plan, "SPILL_MIN_BYTES", 0)
    spilled = plan.predict(model, spill=True)
    rows = [k.alive_bytes - s.alive_bytes for k, s in zip(kept.layers, spilled.layers, strict=True)]
    assert rows[0] == 0 and 0 < rows[1] < kept.layers[0].commit_bytes  # a's rows, not its tree
    assert rows[2] > rows[1]  # b's rows too: it waits for c as well
    assert spilled.peak_bytes <= kept.peak_bytes
    assert all(s.process_bytes >= plan.interpreter_bytes() for s in spilled.layers)
