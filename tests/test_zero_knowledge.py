"""Zero-knowledge proofs of a private input, end to end: completeness on random models and with every
prover option, what the header says and binds, a rejection for every value a hidden proof sends (the
layers' values, the product lines, every part of every opening), and the uniformity of everything a proof
reveals for two private inputs with the same output."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from layers.kindcheck import assert_every_value_checked, hideable, layer_section_indices, model_of
from proofedit import altered, leaves, read_sections, replace, rewrite_header, write_sections
from zkstats import two_sample_chi2_p, uniform_chi2_p

from edgeprove import field as F
from edgeprove import layers as L
from edgeprove import poly, prover, verifier
from edgeprove import protocol as PR
from edgeprove.commit import HIDING_SCHEME
from edgeprove.commit.zk_ligero import ZkLigeroParams
from edgeprove.layers.committed_input import RANGE_BITS
from edgeprove.layers.common import Grid
from edgeprove.model import ops, zoo
from edgeprove.model.bounds import check_model
from edgeprove.model.ir import Layer, ModelError
from edgeprove.proof import SECTION_COMMIT, SECTION_OPENING
from edgeprove.transcript import Transcript
from edgeprove.zk import PadSource

MLP = zoo.get("tiny_mlp")
CNN = zoo.get("tiny_cnn")


def prove_hidden(model, x, path: Path, **kwargs) -> Path:
    """A zero-knowledge proof, checked accepted and equal to integer inference."""
    result = prover.prove(model, x, path, private_input=True, **kwargs)
    verdict = verifier.verify(path, model)
    assert verdict.accepted, verdict.reason
    assert verdict.header["zero_knowledge"] is True
    assert np.array_equal(result.output, ops.run(model, x))
    return path


def random_input(model, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, model.input_shape)


@pytest.mark.parametrize("seed", range(8))
def test_random_models_prove_and_verify_in_zero_knowledge(tmp_path, seed):
    """Random kinds, shapes, residuals and activations (the ones a hidden proof can cover: every tensor a
    layer reads holds more than one value), both schedules."""
    rng = np.random.default_rng(900 + seed)
    while not hideable(model := zoo.random_model(rng, activations=("relu", "clamp", "sigmoid"))):
        pass
    x = rng.integers(-128, 128, model.input_shape)
    prove_hidden(model, x, tmp_path / "s")
    prove_hidden(model, x, tmp_path / "b", schedule="baseline")


def test_every_prover_option_keeps_the_proof_hidden(tmp_path):
    """Two threads, spilled states and a tiling: each a zero-knowledge proof that verifies."""
    x = random_input(CNN, 1)
    prove_hidden(CNN, x, tmp_path / "t", threads=2, spill=True)
    prove_hidden(CNN, x, tmp_path / "tiled", tiles=((2, 2),))


@pytest.mark.parametrize(("group_vars", "shared"), [(0, []), (13, [(2, 3), (5, 6)])], ids=["alone", "pairs"])
def test_layers_share_a_commitment_as_the_group_size_allows(tmp_path, group_vars, shared):
    """Every layer alone, or a few together: the proof verifies on one thread and on two (where a group is
    built beside the previous layer's proof), and its header names the group size; a header that names
    another one changes the statement."""
    model = with_maxpool_and_gate()
    params = ZkLigeroParams(group_vars=group_vars)
    groups = PR.hidden_groups(model, PR.hidden_table_bits(model), group_vars)
    assert [g.members for g in groups if len(g.members) > 1] == shared
    x = random_input(model, 7)
    prove_hidden(model, x, tmp_path / "one", threads=1, params=params)
    prove_hidden(model, x, tmp_path / "two", threads=2, schedule="baseline", params=params)
    prove_hidden(model, x, tmp_path / "ahead", threads=2, params=params)
    assert verifier.read_header(tmp_path / "one")["ligero_zk"]["group_vars"] == group_vars
    rewrite_header(tmp_path / "one", tmp_path / "other", lambda h: h["ligero_zk"].update(group_vars=18))
    assert not verifier.verify(tmp_path / "other", model).accepted


def test_groups_are_consecutive_aligned_and_end_at_their_last_entry():
    """The input alone, then runs of consecutive layers within 2^group_vars entries (or one larger layer
    alone); each member's vector in an aligned segment of its own, the group's length where the last one
    ends."""
    group_vars = ZkLigeroParams().group_vars
    for model in (CNN, with_maxpool_and_gate(), zoo.get("wc50")):
        widths = PR.hidden_table_bits(model)
        groups = PR.hidden_groups(model, widths, group_vars)
        assert groups[0].members == (PR.INPUT,)
        assert [t for g in groups for t in g.members] == list(range(PR.INPUT, len(model.layers)))
        for group in groups:
            spans = [1 << lay.num_vars for lay in group.layouts]
            assert len(spans) == 1 or sum(spans) <= 1 << group_vars
            ends = []
            for t, lay, span in zip(group.members, group.layouts, spans):
                offset = group.offset(t)
                assert offset % span == 0
                plan = PR.hidden_plan(model, t, RANGE_BITS if t == PR.INPUT else widths[t])
                ends.append(offset + PR.committed_length(lay, plan))
            segments = sorted(
                (group.offset(t), group.offset(t) + span) for t, span in zip(group.members, spans)
            )
            assert all(end <= start for (_, end), (start, _) in zip(segments, segments[1:]))
            assert group.length == max(ends)
        if model.name == "wc50":
            assert len(groups) <= len(model.layers) // 2 + 1 and max(len(g.members) for g in groups) >= 4


def test_a_tensor_of_one_value_read_by_a_layer_is_refused_with_one_line(tmp_path):
    rng = np.random.default_rng(3)
    layers = [
        Layer("one", "dense", -1, (4, 1, 1), (1, 1, 1), 4, "relu"),
        Layer("out", "dense", 0, (1, 1, 1), (2, 1, 1), 0, "none"),
    ]
    model = model_of((4, 1, 1), layers, rng)
    with pytest.raises(
        ModelError, match="layer out: it reads layer one, a single value.*--no-zero-knowledge"
    ):
        prover.prove(model, random_input(model, 0), tmp_path / "p", private_input=True)
    prover.prove(model, random_input(model, 0), tmp_path / "p", private_input=True, zero_knowledge=False)
    assert verifier.verify(tmp_path / "p", model).accepted
    with pytest.raises(ValueError, match="needs a private input"):
        prover.prove(model, random_input(model, 0), tmp_path / "q", zero_knowledge=True)


@pytest.fixture(scope="module")
def cnn_proof(tmp_path_factory) -> Path:
    return prove_hidden(CNN, random_input(CNN, 2), tmp_path_factory.mktemp("zk") / "proof")


def test_the_header_says_zero_knowledge_and_names_only_the_hiding_commitment(cnn_proof):
    header = verifier.read_header(cnn_proof)
    assert header["zero_knowledge"] is True and header["input_mode"] == "committed"
    assert "ligero_zk" in header and "ligero" not in header
    assert PR.input_privacy(header) == "private"


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda h: h.update(zero_knowledge=False), "header keys"),
        (lambda h: h.update(zero_knowledge=1), "header keys"),
        (lambda h: h.update(input_mode="public"), "zero-knowledge proof needs a committed input"),
    ],
    ids=["not hidden", "not a boolean", "public input"],
)
def test_a_header_that_misstates_zero_knowledge_is_rejected(tmp_path, cnn_proof, edit, reason):
    rewrite_header(cnn_proof, tmp_path / "p", edit)
    verdict = verifier.verify(tmp_path / "p", CNN)
    assert not verdict.accepted and reason in verdict.reason, verdict.reason


def test_a_proof_that_is_not_hidden_cannot_claim_to_be(tmp_path):
    """A committed input proven without hiding, its header rewritten to say zero_knowledge (and to name
    the hiding scheme alone): the statement changes, so the transcript and every check with it."""
    x = random_input(MLP, 4)
    prover.prove(MLP, x, tmp_path / "p", private_input=True, zero_knowledge=False)

    def claim_hidden(header: dict) -> None:
        header.update(zero_knowledge=True)
        header.pop("ligero")

    rewrite_header(tmp_path / "p", tmp_path / "q", claim_hidden)
    verdict = verifier.verify(tmp_path / "q", MLP)
    assert not verdict.accepted


def test_two_proofs_of_the_same_private_statement_differ_in_every_section(tmp_path):
    x = random_input(MLP, 5)
    paths = [prove_hidden(MLP, x, tmp_path / f"p{i}") for i in range(2)]
    first, second = (read_sections(p)[1] for p in paths)
    assert len(first) == len(second)
    same = [i for i, (a, b) in enumerate(zip(first, second)) if _same(a[1], b[1])]
    public = [i for i, (_, obj) in enumerate(first) if isinstance(obj, (PR.TensorSection, list))]
    assert same == public  # the output and the (empty) end section


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b)
    if dataclasses.is_dataclass(a):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


# ------------------------------------------------------------------------- every value a hidden proof sends
def with_maxpool_and_gate():
    """Every kind a hidden proof covers, on small shapes: a residual conv, a max pool, a channel-gated
    product, an average pool, and dense layers over two sources."""
    rng = np.random.default_rng(11)
    layers = [
        Layer("c1", "conv2d", -1, (1, 4, 4), (2, 4, 4), 6, "relu", 3, 1, 1),
        Layer("c2", "conv2d", 0, (2, 4, 4), (2, 4, 4), 6, "relu", 3, 1, 1, residual=0),
        Layer("mp", "maxpool", 1, (2, 4, 4), (2, 2, 2), 0, "relu", 3, 2, 1, act_max=127),
        Layer("gp", "global_avgpool", 2, (2, 2, 2), (2, 1, 1), 0, "relu"),
        Layer("g", "gated_mul", 2, (2, 2, 2), (2, 2, 2), 0, "clamp", extra_sources=(3,)),
        Layer("ap", "avgpool", 4, (2, 2, 2), (2, 1, 1), 0, "clamp", 2, 2),
        Layer("fc", "dense", 5, (4, 1, 1), (2, 1, 1), 0, "none", extra_sources=(3,)),
    ]
    return model_of((1, 4, 4), layers, rng)


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory):
    model = with_maxpool_and_gate()
    path = prove_hidden(model, random_input(model, 6), tmp_path_factory.mktemp("kinds") / "proof")
    return model, path


@pytest.mark.parametrize("k", range(7), ids=lambda k: f"layer{k}")
def test_every_value_a_hidden_layer_sends_is_checked(tmp_path, every_kind, k):
    """Its group's commitment when it is the first member, and its layer section (the input's range
    lookup is the first layer section)."""
    model, path = every_kind
    assert assert_every_value_checked(tmp_path, model, path, k + 1) >= 6


def test_every_value_of_the_hidden_input_commitment_and_range_lookup_is_checked(tmp_path, every_kind):
    model, path = every_kind
    prefix, sections = read_sections(path)
    for index in (0, 1):  # the input's commitment, then its range lookup
        kind, obj = sections[index]
        for trail, value in leaves(obj):
            edited = list(sections)
            edited[index] = (kind, replace(obj, trail, altered(value)))
            write_sections(tmp_path / "t", prefix, edited)
            assert not verifier.verify(tmp_path / "t", model).accepted, f"input section {index} {trail}"


def test_every_part_of_every_hidden_opening_is_checked(tmp_path, every_kind):
    """The product lines and the opening's rows, columns, salts and paths of each commitment."""
    model, path = every_kind
    prefix, sections = read_sections(path)
    openings = [i for i, (kind, _) in enumerate(sections) if kind == SECTION_OPENING]
    groups = PR.hidden_groups(model, PR.hidden_table_bits(model), ZkLigeroParams().group_vars)
    assert len(openings) == len(groups) < len(model.layers) + 1  # layers share commitments
    for index in openings:
        kind, obj = sections[index]
        assert isinstance(obj, PR.HiddenOpening)
        for trail, value in leaves(obj):
            edited = list(sections)
            edited[index] = (kind, replace(obj, trail, altered(value)))
            write_sections(tmp_path / "t", prefix, edited)
            verdict = verifier.verify(tmp_path / "t", model)
            assert not verdict.accepted, f"opening section {index} {trail} altered but accepted"


def test_a_table_width_other_than_the_models_is_rejected(tmp_path, every_kind):
    """A hidden proof names every table's width from the model, never from the data."""
    model, path = every_kind
    prefix, sections = read_sections(path)
    index = layer_section_indices(sections, 1)[0]  # layer 0's group's (after the input's lookup)
    kind, commit = sections[index]
    assert kind == SECTION_COMMIT
    edited = list(sections)
    edited[index] = (kind, dataclasses.replace(commit, act_bits=commit.act_bits - 1))
    write_sections(tmp_path / "t", prefix, edited)
    verdict = verifier.verify(tmp_path / "t", model)
    assert not verdict.accepted and "is not the model's" in verdict.reason, verdict.reason


def test_a_wrong_output_is_rejected(tmp_path, cnn_proof):
    prefix, sections = read_sections(cnn_proof)
    index = next(i for i, (kind, obj) in enumerate(sections) if isinstance(obj, PR.TensorSection))
    kind, output = sections[index]
    edited = list(sections)
    edited[index] = (kind, dataclasses.replace(output, values=altered(output.values)))
    write_sections(tmp_path / "t", prefix, edited)
    assert not verifier.verify(tmp_path / "t", CNN).accepted


# ------------------------------------------------------------------- what a proof reveals, for two inputs
def saturated_model():
    """A small CNN with one coarse output (a relu of a large shift: a handful of values), so that two
    different private inputs with one public output are easy to find."""
    rng = np.random.default_rng(12)
    layers = [
        Layer("c", "conv2d", -1, (1, 4, 4), (2, 4, 4), 4, "relu", 3, 1, 1),
        Layer("fc", "dense", 0, (2, 4, 4), (1, 1, 1), 12, "relu"),
    ]
    return model_of((1, 4, 4), layers, rng)


def same_output_inputs(model) -> tuple[np.ndarray, np.ndarray]:
    """The first two seeded inputs with equal outputs."""
    seen = {}
    for seed in range(1000):
        x = random_input(model, seed)
        key = ops.run(model, x).tobytes()
        if key in seen:
            return seen[key], x
        seen[key] = x
    raise AssertionError("no two inputs with one output")


def revealed(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every field element a proof shows but its public output, split in two: the values whose positions
    are fixed by the model (sent values, randomized evaluations, the openings' rows), in file order, and
    the queried columns' entries, pooled (how many columns are distinct varies)."""
    _, sections = read_sections(path)
    fixed, pooled = [], []
    for _, obj in sections:
        if isinstance(obj, PR.TensorSection):
            continue
        for trail, value in leaves(obj):
            if isinstance(value, np.ndarray):
                (pooled if "columns" in trail else fixed).append(value.ravel())
    return np.concatenate(fixed), np.concatenate(pooled)


@pytest.fixture(scope="module")
def two_inputs_views(tmp_path_factory):
    """60 proofs of each of two different inputs with the same output."""
    model = saturated_model()
    first, second = same_output_inputs(model)
    assert not np.array_equal(first, second)
    assert np.array_equal(ops.run(model, first), ops.run(model, second))
    folder = tmp_path_factory.mktemp("views")
    views = {}
    for name, x in (("first", first), ("second", second)):
        fixed, pooled = [], []
        for i in range(60):
            path = folder / f"{name}{i}"
            prover.prove(model, x, path, private_input=True, threads=1)
            a, b = revealed(path)
            fixed.append(a)
            pooled.append(b)
        views[name] = np.stack(fixed), np.concatenate(pooled)
    return model, views, folder / "first0"


def test_every_revealed_value_is_uniform_whatever_the_private_input(two_inputs_views):
    """Per position (chi-square of its top bits, pooled over positions), both inputs' proofs look
    uniform, and alike (two-sample); the queried columns' entries, pooled, too.  The only values that
    do not vary are the model's (none here: sizes are not field elements)."""
    model, views, some_proof = two_inputs_views
    assert verifier.verify(some_proof, model).accepted
    (first, first_columns), (second, second_columns) = views["first"], views["second"]
    assert first.shape == second.shape and first.shape[1] > 1000
    assert not np.any(np.all(first == first[0], axis=0))
    for samples in (first, second):
        assert uniform_chi2_p(samples) > 1e-6
    assert two_sample_chi2_p(first, second) > 1e-6
    for pooled in (first_columns, second_columns):
        counts = np.bincount((pooled.astype(np.float64) * 16 / F.P).astype(np.int64), minlength=16)
        expected = pooled.size / 16
        assert float(((counts - expected) ** 2 / expected).sum()) < 60  # 15 dof: p < 1e-6 beyond 60


def layer0_q_sent_and_z(model, path: Path, monkeypatch) -> tuple[np.ndarray, np.ndarray]:
    """Layer 0's q~(z) as its proof sends it, and the challenge z the verifier drew for it (recorded while
    verifying)."""
    drawn = {}
    honest = Transcript.challenge_ext_vec

    def recording(self, label, n):
        drawn[label] = honest(self, label, n)
        return drawn[label]

    with monkeypatch.context() as patch:
        patch.setattr(Transcript, "challenge_ext_vec", recording)
        assert verifier.verify(path, model).accepted
    _, sections = read_sections(path)
    layer = sections[layer_section_indices(sections, 1)[-1]][1]  # after the input's range lookup
    return layer.q_value, drawn["layer0/z"]


def candidate_q(model, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """q~(z) of layer 0 for the candidate input x: what a proof in the clear sends."""
    layer = model.layers[0]
    q, _, _ = ops.requantize(layer, ops.linear(model, 0, x, None))
    return poly.evaluate(Grid(layer.out_shape).pad(q), z)


def test_a_distinguisher_that_names_the_input_of_a_proof_in_the_clear_fails_on_hidden_ones(
    tmp_path, two_inputs_views, monkeypatch
):
    """Given the two candidate inputs (same output), compare layer 0's q~(z) each implies with the value
    the proof sends at the verifier's z: a proof with the input committed but not hidden names its input
    every time; a hidden proof matches neither (its values are the true ones minus pads)."""
    model, _, _ = two_inputs_views
    first, second = same_output_inputs(model)
    for x, other in ((first, second), (second, first)):
        for hidden in (False, True):
            path = tmp_path / f"p{hidden}"
            prover.prove(model, x, path, private_input=True, zero_knowledge=hidden, threads=1)
            sent, z = layer0_q_sent_and_z(model, path, monkeypatch)
            assert F.ext_eq(sent, candidate_q(model, x, z)) is not hidden
            assert not F.ext_eq(sent, candidate_q(model, other, z))


def test_every_hidden_vector_ends_where_the_verifier_says():
    """The prover commits each hidden vector up to its last pad, the length the verifier computes from the
    model (``protocol.committed_length``); its tableau leaves out the rows after it."""
    static = check_model(CNN)
    params = HIDING_SCHEME.default_params()
    left_out = 0
    for t in range(PR.INPUT, len(CNN.layers)):
        layer = None if t == PR.INPUT else CNN.layers[t]
        bits = RANGE_BITS if layer is None else L.kind_of(layer).static_table_bits(layer, static[t].q_bits)
        plan = PR.hidden_plan(CNN, t, bits)
        layout = PR.commitment_layout(CNN, t, bits, plan)
        vector = PR.hidden_vector(None, layout, PadSource(plan).vector())
        assert vector.size == PR.committed_length(layout, plan) <= 1 << layout.num_vars
        tableau = params.layout(vector.size)
        assert tableau.num_vars == layout.num_vars
        left_out += (1 << tableau.row_bits) - tableau.num_rows
    assert left_out > 0
