"""The layer-kind registry: every kind implements both sides of the interface, and neither the generic walks
(prover, verifier, protocol, planner) nor the model's IR, inference, bounds and quantizer name a kind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

import pytest

import edgeprove
from edgeprove import layers
from edgeprove.layers import KINDS
from edgeprove.layers.kind import LayerKind
from edgeprove.model.ir import Layer

WALKS = ("prover.py", "verifier.py", "protocol.py", "plan.py")
MODEL_SIDE = ("model/ir.py", "model/ops.py", "model/bounds.py", "model/quantize.py", "model/kinds.py")


def interface_members(protocol: type) -> set[str]:
    """The public attributes and methods a protocol and the protocols it extends declare."""
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls in (Protocol, object) or not getattr(cls, "_is_protocol", False):
            continue
        names |= {name for name in vars(cls) if not name.startswith("_")}
        names |= set(vars(cls).get("__annotations__", {}))
    return names


def test_every_kind_implements_the_whole_interface():
    members = interface_members(LayerKind)
    assert {"keeps_range", "evaluate", "sign_sums", "validate", "commits", "prove"} <= members
    for name, kind in KINDS.items():
        missing = {member for member in members if not hasattr(kind, member)}
        assert not missing, f"{name} lacks {sorted(missing)}"
        assert kind.proof_types


def test_an_unknown_kind_is_refused():
    layer = Layer("odd", "softmax", -1, (1, 1, 1), (1, 1, 1), shift=0, activation="none")
    with pytest.raises(ValueError, match="unsupported kind 'softmax'"):
        layers.kind_of(layer)


@pytest.mark.parametrize("module", WALKS + MODEL_SIDE)
def test_the_walks_and_the_model_side_name_no_layer_kind(module):
    source = (Path(edgeprove.__file__).parent / module).read_text()
    for name in KINDS:
        assert not re.search(rf"""["']{name}["']""", source), f"{module} names the kind {name!r}"
