"""What the model side asks of a layer kind, and its lookup in the one registry of kinds.

A kind's model side is its shape rules (weights, output shape, the checks on its fields), its integer map,
its static-bound coefficients and its calibration hook.  Every kind in ``edgeprove.layers.KINDS`` implements
``KindRules`` next to its proof side (``edgeprove.layers.kind.LayerKind`` extends it), so the IR, inference,
bounds and quantizer dispatch through that registry and never name a kind.  The kind modules import the IR,
so the registry is looked up lazily, on the first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from edgeprove.model.ir import Layer, Shape


class MapRules(Protocol):
    """The per-layer functions of a kind's model side: shape rules, integer map, static-bound sums and the
    calibration hook (what an affine kind's module supplies too)."""

    def weight_shape(self, layer: Layer) -> tuple[int, ...] | None:
        """Shape of the layer's int8 weight array, None for a kind without weights (nor bias)."""
        ...

    def out_shape(self, layer: Layer) -> Shape:
        """The out_shape implied by in_shape, the window fields and out_shape's channel count."""
        ...

    def validate(self, layers: list[Layer], index: int) -> None:
        """The kind's own rules on the fields of ``layers[index]`` (ModelError naming the layer)."""
        ...

    def evaluate(self, layer: Layer, weight: np.ndarray | None, x: np.ndarray) -> np.ndarray:
        """The layer's map before bias and residual on a batch x (C, N, H, W), exact in float64."""
        ...

    def sign_sums(self, layer: Layer, weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Per output channel: the sums of the map's positive and of its negative coefficients."""
        ...

    def scale_bits(self, layer: Layer) -> int:
        """Fraction bits the integer map adds beyond the weights': log2 of the window an average sums (its
        float map is the mean), else 0."""
        ...

    def channel_split(self, layer: Layer) -> str:
        """How the layer splits into blocks of output channels (``CHANNEL_SPLITS``, ``model.tiling``)."""
        ...


class KindRules(MapRules, Protocol):
    """The model side of one layer kind: its map rules, and whether it keeps its input's range."""

    keeps_range: bool
    """True when the layer outputs values of its input (max pooling): it neither rescales nor changes the
    range, so the quantizer gives it its source's activation, act_max and scale."""

    source_rule: str
    """How a layer of the kind reads its sources (``SOURCE_RULES``): "one" source only; "concat", several
    concatenated along channels (its map splits into one map per source's channels); "broadcast", the first
    source and gates broadcast to its shape, each (C, 1, 1) or (1, H, W), stacked along channels."""


SOURCE_RULES = ("one", "concat", "broadcast")
"""The ways a kind may read its sources (``KindRules.source_rule``)."""

CHANNEL_SPLITS = ("rows", "channels", "none")
"""How a layer splits into blocks of output channels (``MapRules.channel_split``): "rows", every block reads
the whole input through its rows of the weights (and its channels of a residual); "channels", output
channel c reads channel c of its input, of its channel gates and of its residual alone, so a block reads
those blocks; "none", the layer is not split."""


def registry() -> dict[str, KindRules]:
    """Every layer kind by name (``edgeprove.layers.KINDS``), imported on first use to avoid a cycle."""
    from edgeprove.layers import KINDS

    return KINDS


def rules_of(layer: Layer) -> KindRules:
    """The rules of ``layer``'s kind (ValueError for a kind the registry does not hold)."""
    from edgeprove.layers import kind_of

    return kind_of(layer)
