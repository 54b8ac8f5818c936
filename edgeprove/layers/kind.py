"""What a layer kind supplies to the proof: the interface every kind module implements, and the context
the prover's and the verifier's walks hand it for one layer.

The walks stay generic: they compute the accumulator (``model.ops``), ask the kind for its witness and the
vector to commit, write and bind the commitment, then call the kind's ``prove`` (or ``verify``), which
returns the claim (gamma, x~(gamma)) on the layer's input; the walks record that claim, open commitments
after their last reader, and never look at the kind's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edgeprove import field as F
from edgeprove import poly
from edgeprove.claims import ClaimLedger
from edgeprove.layers.common import Grid, Layout, Randomizer, source_point
from edgeprove.model.ir import Layer, Model, Shape, source_views
from edgeprove.model.kinds import KindRules
from edgeprove.transcript import Transcript
from edgeprove.zk import Checker, Hidden, PadPlan, PadSource, PublicChecker, ZkError, scalar, send


class Rejected(Exception):
    """The proof is wrong; the message says which check failed."""


def ext_value(value: object, what: str) -> np.ndarray:
    """A proof value that must be one extension element (Rejected otherwise)."""
    if not isinstance(value, np.ndarray) or value.shape != (F.EXT_DEGREE,):
        raise Rejected(f"malformed proof: {what} is not an extension element")
    return value


class Witness(Protocol):
    """What a kind's prover keeps of one layer between committing and proving."""

    @property
    def y(self) -> np.ndarray:
        """The layer's output tensor, as its consumers read it."""
        ...

    @property
    def table_bits(self) -> int:
        """The table width the commitment section names (0 when the layer commits nothing)."""
        ...


def tensor_shape(model: Model, tensor: int) -> Shape:
    """The shape of a tensor: the model input's, or a layer's output."""
    return model.input_shape if tensor < 0 else model.layers[tensor].out_shape


def read_count(model: Model, tensor: int) -> int:
    """The points readers evaluate ``tensor`` at: one per source slot naming it, one per residual."""
    return sum(layer.reads.count(tensor) for layer in model.layers)


def read_randomizer(
    model: Model, tensor: int, factor: int = 1, coefficients: np.ndarray | None = None
) -> Randomizer:
    """How a reader's view (upsampled by ``factor``) randomizes ``tensor`` (design.md section 10.1): one
    term per read, on the tensor's own last variables (each spatial one after the view's extra least
    significant bit when upsampled), the last variable again with higher powers when the tensor has fewer
    variables than reads; ZkError for a single value, which no term can hide."""
    grid = Grid(tensor_shape(model, tensor))
    count, num_vars = read_count(model, tensor), grid.num_vars
    if num_vars == 0:
        name = "the input" if tensor < 0 else f"layer {model.layers[tensor].name}"
        raise ZkError(f"it reads {name}, a single value, which no read in zero knowledge can hide")
    bc, bh, _ = grid.bits
    own = list(range(max(0, num_vars - count), num_vars)) + [num_vars - 1] * max(0, count - num_vars)
    powers = [1] * min(count, num_vars) + list(range(2, 2 + max(0, count - num_vars)))
    positions = tuple(v + 1 if factor > 1 and v >= bc + bh else v for v in own)
    return Randomizer(positions, tuple(powers), coefficients)


@dataclass
class ProverStep:
    """One layer as the prover's walk hands it to its kind: its input (``source``: its sources upsampled
    and concatenated, ``ops.gather``), its residual, the transcript and the claims; in a hidden proof its
    commitment's pads and every committed tensor's mask coefficients (``masks``)."""

    model: Model
    index: int
    label: str
    source: np.ndarray
    residual: np.ndarray | None
    transcript: Transcript
    claims: ClaimLedger
    input_committed: bool
    pads: PadSource | None = None
    masks: Callable[[int], np.ndarray] | None = None

    @property
    def layer(self) -> Layer:
        """The layer being proven."""
        return self.model.layers[self.index]

    def send(self, values: np.ndarray, label: str) -> np.ndarray:
        """Values (4, ...) as sent (hidden by the next pads in a hidden proof), absorbed under ``label``."""
        return send(values, self.pads, self.transcript, label)

    def randomizer(self, tensor: int, factor: int = 1) -> Randomizer | None:
        """How a read of ``tensor`` (on a view upsampled by ``factor``) is randomized: None in the clear."""
        if self.masks is None:
            return None
        return read_randomizer(self.model, tensor, factor, self.masks(tensor))

    def source_randomizer(self, position: int) -> Randomizer | None:
        """``randomizer`` of source number ``position``."""
        return self.randomizer(self.layer.sources[position], self.layer.factors[position])

    def claim_read(self, tensor: int, point: np.ndarray, value: np.ndarray) -> None:
        """A claim y~(point) = value on a tensor this layer reads; the public input needs no opening."""
        if tensor >= 0 or self.input_committed:
            self.claims.add(tensor, "y", point, value)

    def claim_source(self, position: int, point: np.ndarray, value: np.ndarray) -> None:
        """A claim on the layer's source number ``position`` at a point of its view (the grid the layer
        reads it on, upsampled or not), moved to the source's own grid."""
        self.claim_read(*_on_source(self.model, self.layer, position, point), value)


@dataclass
class VerifierStep:
    """One layer as the verifier's walk hands it to its kind: its commitment's table width, the public
    output (last layer) and input (None when committed), the transcript and the claims; ``checker`` takes
    the values the proof sends, and in a hidden proof ``plans`` names every commitment's pads."""

    model: Model
    index: int
    label: str
    table_bits: int
    output: np.ndarray | None
    public_input: np.ndarray | None
    transcript: Transcript
    claims: ClaimLedger
    checker: Checker = field(default_factory=lambda: PublicChecker(Rejected))
    plans: dict[int, PadPlan] | None = None

    @property
    def layer(self) -> Layer:
        """The layer being verified."""
        return self.model.layers[self.index]

    @property
    def hidden(self) -> bool:
        """Whether the proof hides its values (zero knowledge)."""
        return self.plans is not None

    def receive(self, sent: object, label: str, what: str) -> list[Hidden]:
        """Sent values (4, ...) as the checker takes them, after absorbing them under ``label``."""
        if not isinstance(sent, np.ndarray) or sent.ndim < 1 or sent.shape[0] != F.EXT_DEGREE:
            raise Rejected(f"malformed proof: {what} is not an array of extension elements")
        self.transcript.absorb_ext(label, sent)
        return self.checker.receive(sent)

    def require(self, left: Hidden, right: object, what: str) -> None:
        """The check left = right (Rejected with ``what`` in the clear, a constraint when hidden)."""
        self.checker.require(left, right, f"layer {self.layer.name}: {what}")

    def claim_own(self, segment: str, point: np.ndarray, value: Hidden | np.ndarray) -> None:
        """A claim on this layer's own commitment: its MLE's ``segment`` at ``point`` is ``value``."""
        if not self.hidden and isinstance(value, Hidden):
            value = value.value()
        self.claims.add(self.index, segment, point, value)

    def randomizer(self, tensor: int, factor: int = 1) -> Randomizer | None:
        """The positions of a read's randomizer (``ProverStep.randomizer``): None in the clear."""
        return read_randomizer(self.model, tensor, factor) if self.hidden else None

    def source_randomizer(self, position: int) -> Randomizer | None:
        """``randomizer`` of source number ``position``."""
        return self.randomizer(self.layer.sources[position], self.layer.factors[position])

    def claim_randomized(
        self, tensor: int, point: np.ndarray, view_point: np.ndarray, value: np.ndarray, factor: int = 1
    ) -> None:
        """A hidden proof's read of ``tensor`` at ``point`` (its own grid; ``view_point`` on the reader's
        view, upsampled by ``factor``): x~(point) + sum_i c_i w_i = value, the randomized evaluation the
        reader sent, w_i = gamma_p (1 - gamma_p) at the randomizer's view positions; owed to the tensor's
        opening as x~(point) = value - sum_i w_i c_i."""
        plan = self.plans[tensor]
        randomizer = read_randomizer(self.model, tensor, factor)
        expected = Hidden.of(value)
        for i, weight in enumerate(randomizer.weights(view_point)):
            expected = expected - Hidden(terms={plan.mask(i): scalar(weight)})
        self.claims.add(tensor, "y", point, expected)

    def claim_read(self, tensor: int, point: np.ndarray, value: np.ndarray, what: str = "input") -> None:
        """A claim y~(point) = value on a tensor this layer reads: owed to its opening, or checked at once
        against the public input."""
        if tensor >= 0 or self.public_input is None:
            self.claims.add(tensor, "y", point, value)
        elif not F.ext_eq(value, poly.evaluate_padded(self.public_input, self.model.input_shape, point)):
            raise Rejected(f"layer {self.layer.name}: {what} value does not match the public input")

    def claim_source(self, position: int, point: np.ndarray, value: np.ndarray, what: str = "input") -> None:
        """A claim on the layer's source number ``position`` at a point of its view (the grid the layer
        reads it on, upsampled or not), moved to the source's own grid; randomized in a hidden proof."""
        tensor, source_grid_point = _on_source(self.model, self.layer, position, point)
        if self.hidden:
            factor = self.layer.factors[position]
            self.claim_randomized(tensor, source_grid_point, point, value, factor)
        else:
            self.claim_read(tensor, source_grid_point, value, what)


def _on_source(model: Model, layer: Layer, position: int, point: np.ndarray) -> tuple[int, np.ndarray]:
    """The tensor of source ``position`` and the point on its own grid matching ``point`` on its view."""
    view = source_views(model.input_shape, model.layers, layer)[position]
    return layer.sources[position], source_point(view, layer.factors[position], point)


class LayerKind(KindRules, Protocol):
    """One layer kind: its model side (``KindRules``: shapes, integer map, bound sums, calibration hook)
    and its proof side (committed layout, witness, prover, verifier, memory estimate)."""

    proof_types: tuple[type, ...]
    """Dataclasses its layer sections may hold (registered with the proof file format)."""

    def commits(self, layer: Layer) -> bool:
        """Whether the layer commits a vector (and so has a commitment section)."""
        ...

    def layout(self, layer: Layer, table_bits: int) -> Layout:
        """How the layer's committed vector is laid out for a table of width ``table_bits``."""
        ...

    def check_table_bits(self, layer: Layer, bits: int, static_bits: int) -> None:
        """The verifier's rule on the width a commitment section names (Rejected when it breaks it);
        ``static_bits`` is the model's static bound on the layer's q."""
        ...

    def table_bits(self, layer: Layer, q: np.ndarray | None) -> int:
        """The width the prover picks for requantized values q (None without requantization)."""
        ...

    def static_table_bits(self, layer: Layer, static_bits: int) -> int:
        """The width a hidden proof names: fixed by the model (``static_bits``), never by the data."""
        ...

    def witness(
        self, layer: Layer, x: np.ndarray, a: np.ndarray, table_bits: int | None = None
    ) -> tuple[Witness, np.ndarray | None]:
        """The witness from the input x and accumulator a, and the vector to commit (None: nothing), with
        the table width ``table_bits`` when given (else the narrowest)."""
        ...

    def pad_plan(self, model: Model, index: int, table_bits: int) -> PadPlan:
        """The values a hidden proof of layer ``index`` sends and the products its checks take."""
        ...

    def prove(self, step: ProverStep, witness: Witness) -> tuple[object, np.ndarray, np.ndarray]:
        """The layer's proof section, the point gamma on its first source's view and that view's value
        there; records the claims it makes (those on its other sources too)."""
        ...

    def verify(self, step: VerifierStep, proof: object) -> tuple[np.ndarray, np.ndarray]:
        """Check the layer's proof section (Rejected on failure); returns gamma and the value on the first
        source's view, and records the claims it makes (those on its other sources too)."""
        ...

    def working_bytes(self, layer: Layer) -> int:
        """Predicted bytes of the layer's own reduction tables (the planner's linear phase)."""
        ...

    def inference_bytes(self, layer: Layer) -> int:
        """Predicted transient bytes of computing the accumulator."""
        ...
