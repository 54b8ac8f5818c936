"""One module per layer kind, its prover and verifier side by side, and the registry the walks use.

``kind.LayerKind`` is what every kind supplies (committed layout, witness, prover, verifier, memory
estimate, proof types).  The affine kinds share ``affine`` and supply only their linear map's G
(``dense``, ``conv2d``, ``grouped_conv2d``, ``probe_conv2d``, ``avgpool``, ``global_avgpool``);
``maxpool`` and ``gated_mul`` (x times broadcast gates) are kinds of their own.  Shared pieces:
``common`` (grids, layouts, the linear sumcheck), ``requant`` (requantization lookups) and
``committed_input`` (the private input's commitment and range lookup).
"""

from __future__ import annotations

from edgeprove.layers import avgpool, conv2d, dense, global_avgpool, grouped_conv2d, probe_conv2d
from edgeprove.layers.affine import AffineKind
from edgeprove.layers.gated_mul import GatedMulKind
from edgeprove.layers.kind import LayerKind
from edgeprove.layers.maxpool import MaxPoolKind
from edgeprove.model.ir import Layer

KINDS: dict[str, LayerKind] = {
    "conv2d": AffineKind(conv2d, conv2d.source_part),
    "grouped_conv2d": AffineKind(grouped_conv2d),
    "probe_conv2d": AffineKind(probe_conv2d, probe_conv2d.source_part),
    "dense": AffineKind(dense, dense.source_part),
    "avgpool": AffineKind(avgpool),
    "global_avgpool": AffineKind(global_avgpool),
    "maxpool": MaxPoolKind(),
    "gated_mul": GatedMulKind(),
}
"""Every layer kind the proof supports, by the name a model's layer carries."""


def kind_of(layer: Layer) -> LayerKind:
    """The implementation of ``layer``'s kind (ValueError for a kind the proof does not support)."""
    try:
        return KINDS[layer.kind]
    except KeyError:
        raise ValueError(f"layer {layer.name}: unsupported kind {layer.kind!r}") from None
