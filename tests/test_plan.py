"""The planner counts every tensor a layer reads: a source read late by a concatenation stays alive (and
committed) until that reader, the private input too, and a gathered input is part of its layer's tensors."""

from __future__ import annotations

import functools

import numpy as np

from edgeprove import plan
from edgeprove.commit.zk_ligero import ZkLigeroParams
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


def wide(size: int = 256) -> Model:
    """A 1x1 convolution to 64 x size x size (4M values at 256) and a head: large enough for the layer's
    own tables, not the process's fixed costs, to set the peak."""
    layers = [
        Layer("wide", "conv2d", -1, (4, size, size), (64, size, size), 6, "relu"),
        Layer("head", "conv2d", 0, (64, size, size), (2, size, size), 0, "none"),
    ]
    weights = [np.ones((64, 4, 1, 1), np.int8), np.ones((2, 64, 1, 1), np.int8)]
    biases = [np.zeros(64, np.int64), np.zeros(2, np.int64)]
    return Model("wide", (4, size, size), 0, layers, weights, biases)


WIDTHS = [8, 0]
"""Table widths for ``wide`` (an integer pass is not needed to plan it)."""


def test_a_tiled_plan_has_a_row_per_block_each_below_the_layer():
    whole = plan.predict(wide(), threads=1, widths=WIDTHS)
    tiled = plan.predict(wide(), threads=1, widths=WIDTHS, tiles=((0, 4),))
    assert tiled.tiles == [[0, 4]]
    assert [row.name for row in tiled.layers] == [
        "wide.tile0",
        "wide.tile1",
        "wide.tile2",
        "wide.tile3",
        "head",
    ]
    layer = whole.layers[0]
    assert all(row.working_bytes < layer.working_bytes / 2 for row in tiled.layers[:4])
    assert all(row.commit_bytes < layer.commit_bytes / 2 for row in tiled.layers[:4])
    assert tiled.peak_bytes < whole.peak_bytes


def test_fit_splits_the_largest_layers_until_the_plan_fits():
    model = wide()
    whole = plan.predict(model, threads=1, spill=True, widths=WIDTHS)
    x = np.zeros(model.input_shape, np.int64)
    fit = functools.partial(plan.fit, model, threads=1, spill=True, x=x)
    assert fit(whole.peak_bytes).tiles == []  # fits already
    budget = (whole.peak_bytes + whole.base_bytes) // 2
    fitted = fit(budget)
    assert fitted.tiles and fitted.peak_bytes <= budget
    again = plan.predict(model, threads=1, spill=True, x=x, tiles=fitted.tiles)
    assert fitted.peak_bytes == again.peak_bytes
    least = fit(1 << 20)  # no tiling fits: the least peak found (a block still reads the whole input)
    assert least.tiles and least.peak_bytes <= fitted.peak_bytes
    more = [[0, 2 * least.tiles[0][1]]]  # one more doubling does not lower the peak: that is why it stopped
    assert plan.predict(model, threads=1, spill=True, x=x, tiles=more).peak_bytes >= least.peak_bytes


def test_a_hidden_group_is_held_once_from_its_first_member_until_its_opening():
    """Zero knowledge: layers that share a commitment count its state once, at the first member, which
    builds it (on two threads too: never beside the previous layer's proof), and keep it until the group
    is opened; alone, each layer holds its own."""
    model = chain(1)
    grouped = plan.predict(model, private_input=True)  # the default group size takes all three layers
    alone = plan.predict(model, private_input=True, params=ZkLigeroParams(group_vars=0))
    assert [row.commit_bytes > 0 for row in grouped.layers] == [True, False, False]
    assert all(row.commit_bytes > 0 for row in alone.layers)
    state = grouped.layers[0].commit_bytes
    assert all(row.alive_bytes >= state for row in grouped.layers)
    params = ZkLigeroParams(group_vars=0)
    one, two = (plan.predict(model, private_input=True, params=params, threads=t) for t in (1, 2))
    assert [row.process_bytes for row in two.layers] == [row.process_bytes for row in one.layers]
    one, two = (plan.predict(model, private_input=True, zero_knowledge=False, threads=t) for t in (1, 2))
    assert any(b.process_bytes > a.process_bytes for a, b in zip(one.layers, two.layers))  # built ahead
