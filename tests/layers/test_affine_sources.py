"""Linear maps over several sources, concatenated along channels and each optionally upsampled 2x: random
graphs prove and verify (public and private input, both schedules, two threads), every value of such a
layer's sections is checked, and each of the verifier's new checks rejects a proof that breaks it."""

from __future__ import annotations

import numpy as np
import pytest
from kindcheck import assert_every_value_checked, model_of, prove_and_verify, random_input
from proofedit import read_sections, write_sections

from edgeprove import field as F
from edgeprove import poly, verifier
from edgeprove.layers import affine
from edgeprove.layers.affine import SourcesProof
from edgeprove.layers.common import Grid, source_point
from edgeprove.model import ops
from edgeprove.model.ir import Layer, Model, conv_out_size
from edgeprove.proof import SECTION_LAYER, SECTION_OPENING


@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 1, 1), (3, 4, 4), (2, 5, 1)])
def test_an_upsampled_view_is_its_source_at_a_shorter_point(shape):
    """x_up~(gamma) = x~(gamma with each spatial axis's last variable dropped), padding included."""
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-128, 128, shape)
    view = (shape[0], 2 * shape[1], 2 * shape[2])
    gamma = F.random_ext(rng, (Grid(view).num_vars,))
    up = poly.evaluate(Grid(view).pad(ops.upsampled(x, 2)), gamma)
    assert F.ext_eq(up, poly.evaluate(Grid(shape).pad(x), source_point(view, 2, gamma)))
    assert source_point(shape, 1, gamma) is gamma


def conv(name, sources, views, out, kernel, stride=1, padding=None, factors=None, **fields):
    """A conv2d reading ``sources`` (their views' shapes given), concatenated along channels."""
    padding = kernel // 2 if padding is None else padding
    _, h, w = views[0]
    in_shape = (sum(v[0] for v in views), h, w)
    out_shape = (out, conv_out_size(h, kernel, stride, padding), conv_out_size(w, kernel, stride, padding))
    return Layer(
        name,
        "conv2d",
        sources[0],
        in_shape,
        out_shape,
        0 if fields.get("activation") == "none" else 6,
        fields.pop("activation", "relu"),
        kernel,
        stride,
        padding,
        extra_sources=tuple(sources[1:]),
        upsample=tuple(factors) if factors and any(f != 1 for f in factors) else (),
        **fields,
    )


def random_graph(seed: int) -> Model:
    """A small UNet-like model: an encoder of stride-2 convolutions, then decoder convolutions that read
    the deeper tensor upsampled 2x beside a random set of earlier tensors of the matching size, ending in
    a 1x1 convolution (or a dense layer) over a concatenation."""
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(2, 4)) * 4, int(rng.integers(2, 4)) * 4
    input_shape = (int(rng.integers(1, 3)), h, w)
    shapes = {-1: input_shape}
    layers: list[Layer] = []

    def add(layer: Layer) -> int:
        layers.append(layer)
        shapes[len(layers) - 1] = layer.out_shape
        return len(layers) - 1

    deepest = -1
    for depth in range(2):
        c = int(rng.integers(1, 4))
        deepest = add(conv(f"enc{depth}", [deepest], [shapes[deepest]], c, 3, stride=2, padding=1))
    while shapes[deepest][1] < h:
        c, dh, dw = shapes[deepest]
        same = [t for t in shapes if shapes[t][1:] == (2 * dh, 2 * dw)]
        skips = list(rng.choice(same, size=int(rng.integers(1, len(same) + 1)), replace=False))
        sources = [deepest, *[int(t) for t in skips]]
        views = [(c, 2 * dh, 2 * dw)] + [shapes[t] for t in sources[1:]]
        kernel = int(rng.choice([1, 3]))
        deepest = add(
            conv(f"dec{dh}", sources, views, int(rng.integers(1, 4)), kernel, factors=[2] + [1] * len(skips))
        )
    last = [deepest, -1]
    if rng.integers(0, 2):
        add(conv("head", last, [shapes[t] for t in last], 2, 1, activation="none"))
    else:
        in_shape = (shapes[deepest][0] + input_shape[0], h, w)
        add(Layer("head", "dense", deepest, in_shape, (3, 1, 1), 0, "none", extra_sources=(-1,)))
    return model_of(input_shape, layers, rng)


def body(path) -> bytes:
    """The proof after its header (which names the schedule)."""
    data = path.read_bytes()
    return data[14 + int.from_bytes(data[10:14], "little") :]


@pytest.mark.parametrize("seed", range(4))
def test_random_graphs_over_concatenated_and_upsampled_sources_prove(tmp_path, seed):
    model = random_graph(seed)
    assert any(layer.extra_sources for layer in model.layers)
    assert any(2 in layer.upsample for layer in model.layers)
    x = random_input(model, np.random.default_rng(seed))
    for private in (False, True):
        streaming = prove_and_verify(tmp_path / f"s{private}", model, x, private_input=private)
        baseline = prove_and_verify(
            tmp_path / f"b{private}", model, x, private_input=private, schedule="baseline"
        )
        assert private or body(streaming) == body(baseline)  # a hiding commitment draws fresh randomness
    threaded = prove_and_verify(tmp_path / "t", model, x, threads=2)
    assert body(threaded) == body(tmp_path / "sFalse")


def skip_model(rng: np.random.Generator, factors=(2, 1), **head_fields) -> Model:
    """input -> a (stride 2) -> b; c reads a upsampled and the input, then the input again."""
    layers = [
        conv("a", [-1], [(2, 6, 4)], 3, 3, stride=2, padding=1),
        conv("b", [0], [(3, 3, 2)], 2, 1),
    ]
    views = [(3, 6, 4) if factors[0] == 2 else (3, 3, 2), (2, 6, 4) if factors[1] == 1 else (2, 12, 8)]
    if factors[1] == 2:
        raise ValueError("the input is read at its own size")
    layers.append(conv("c", [0, -1, -1], [*views, (2, 6, 4)], 2, 3, factors=[*factors, 1], **head_fields))
    return model_of((2, 6, 4), layers, rng)


def test_a_source_stays_committed_until_its_last_reader(tmp_path):
    """Layer a is read by b and, upsampled, by c two layers later: its opening comes after c's section
    (before it, only b's own: nothing reads b)."""
    from edgeprove import protocol

    model = skip_model(np.random.default_rng(1))
    assert protocol.last_uses(model)[0] == 2
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, np.random.default_rng(1)))
    _, sections = read_sections(proof)
    kinds = [kind for kind, _ in sections]
    layer_positions = [i for i, kind in enumerate(kinds) if kind == SECTION_LAYER]
    assert kinds[layer_positions[0] : layer_positions[2]].count(SECTION_OPENING) == 1
    assert kinds[layer_positions[2] :].count(SECTION_OPENING) == 2


def test_every_value_of_a_layer_over_several_sources_is_checked(tmp_path):
    model = skip_model(np.random.default_rng(2))
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, np.random.default_rng(2)))
    _, sections = read_sections(proof)
    layer_proof = [obj for kind, obj in sections if kind == SECTION_LAYER][2]
    assert isinstance(layer_proof.linear, SourcesProof) and len(layer_proof.linear.sums) == 3
    assert assert_every_value_checked(tmp_path, model, proof, 2) > 40


def edit_sources(path, k: int, edit) -> None:
    """Apply ``edit`` to layer k's SourcesProof in place."""
    prefix, sections = read_sections(path)
    positions = [i for i, (kind, _) in enumerate(sections) if kind == SECTION_LAYER]
    _, obj = sections[positions[k]]
    edit(obj.linear)
    write_sections(path, prefix, sections)


def test_partial_sums_moved_between_sources_are_rejected(tmp_path):
    """The total is kept, so only the sources' own sumchecks can catch it."""
    model = skip_model(np.random.default_rng(3))
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, np.random.default_rng(3)))

    def move(linear: SourcesProof) -> None:
        linear.sums[0] = F.ext_add(linear.sums[0], F.ext_const(1))
        linear.sums[1] = F.ext_sub(linear.sums[1], F.ext_const(1))

    edit_sources(proof, 2, move)
    verdict = verifier.verify(proof, model)
    assert not verdict.accepted and "round 0" in verdict.reason


def test_partial_sums_that_do_not_add_up_to_the_claim_are_rejected(tmp_path, monkeypatch):
    """Checked against a claim one more than the prover's (the bias term of layer c raised by one), every
    source's sumcheck still holds: only the check that the partial sums add up to the claim catches it."""
    model = skip_model(np.random.default_rng(4))
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, np.random.default_rng(4)))
    honest_bias = affine.bias_eval

    def off_by_one(layer, bias, rho):
        value = honest_bias(layer, bias, rho)
        return F.ext_sub(value, F.ext_const(1)) if layer.name == "c" else value

    monkeypatch.setattr(affine, "bias_eval", off_by_one)
    verdict = verifier.verify(proof, model)
    assert not verdict.accepted and "partial sums do not add up" in verdict.reason


def test_a_wrong_number_of_parts_is_rejected(tmp_path):
    model = skip_model(np.random.default_rng(5))
    proof = prove_and_verify(tmp_path / "p", model, random_input(model, np.random.default_rng(5)))
    edit_sources(proof, 2, lambda linear: (linear.sums.pop(), linear.parts.pop()))
    verdict = verifier.verify(proof, model)
    assert not verdict.accepted and "malformed proof of a map over 3 sources" in verdict.reason


def test_a_single_upsampled_source_reads_the_model_input(tmp_path):
    """Any kind may read one upsampled source; with a public input its claim is checked at once."""
    rng = np.random.default_rng(7)
    layers = [
        conv("up", [-1], [(2, 6, 4)], 2, 3, factors=[2]),
        Layer("pool", "maxpool", 0, (2, 12, 8), (2, 6, 4), 0, "relu", 2, 2, 0, upsample=(2,)),
    ]
    model = model_of((2, 3, 2), layers, rng)
    for private in (False, True):
        prove_and_verify(tmp_path / f"p{private}", model, random_input(model, rng), private_input=private)
