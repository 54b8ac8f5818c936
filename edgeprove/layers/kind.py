"""What a layer kind supplies to the proof: the interface every kind module implements, and the context
the prover's and the verifier's walks hand it for one layer.

The walks stay generic: they compute the accumulator (``model.ops``), ask the kind for its witness and the
vector to commit, write and bind the commitment, then call the kind's ``prove`` (or ``verify``), which
returns the claim (gamma, x~(gamma)) on the layer's input; the walks record that claim, open commitments
after their last reader, and never look at the kind's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edgeprove import field as F
from edgeprove import poly
from edgeprove.claims import ClaimLedger
from edgeprove.layers.common import Layout, source_point
from edgeprove.model.ir import Layer, Model, source_views
from edgeprove.model.kinds import KindRules
from edgeprove.transcript import Transcript


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


@dataclass
class ProverStep:
    """One layer as the prover's walk hands it to its kind: its input (``source``: its sources upsampled
    and concatenated, ``ops.gather``), its residual, the transcript and the claims."""

    model: Model
    index: int
    label: str
    source: np.ndarray
    residual: np.ndarray | None
    transcript: Transcript
    claims: ClaimLedger
    input_committed: bool

    @property
    def layer(self) -> Layer:
        """The layer being proven."""
        return self.model.layers[self.index]

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
    output (last layer) and input (None when committed), the transcript and the claims."""

    model: Model
    index: int
    label: str
    table_bits: int
    output: np.ndarray | None
    public_input: np.ndarray | None
    transcript: Transcript
    claims: ClaimLedger

    @property
    def layer(self) -> Layer:
        """The layer being verified."""
        return self.model.layers[self.index]

    def claim_read(self, tensor: int, point: np.ndarray, value: np.ndarray, what: str = "input") -> None:
        """A claim y~(point) = value on a tensor this layer reads: owed to its opening, or checked at once
        against the public input."""
        if tensor >= 0 or self.public_input is None:
            self.claims.add(tensor, "y", point, value)
        elif not F.ext_eq(value, poly.evaluate_padded(self.public_input, self.model.input_shape, point)):
            raise Rejected(f"layer {self.layer.name}: {what} value does not match the public input")

    def claim_source(self, position: int, point: np.ndarray, value: np.ndarray, what: str = "input") -> None:
        """A claim on the layer's source number ``position`` at a point of its view (the grid the layer
        reads it on, upsampled or not), moved to the source's own grid."""
        self.claim_read(*_on_source(self.model, self.layer, position, point), value, what)


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

    def witness(self, layer: Layer, x: np.ndarray, a: np.ndarray) -> tuple[Witness, np.ndarray | None]:
        """The witness from the input x and accumulator a, and the vector to commit (None: nothing)."""
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
