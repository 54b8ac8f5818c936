"""The layer-kind registry: every kind of the model IR has an implementation, and the generic walks
(prover, verifier, protocol, planner) name none of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import edgeprove
from edgeprove import layers
from edgeprove.model.ir import KINDS, Layer

WALKS = ("prover.py", "verifier.py", "protocol.py", "plan.py")


def test_every_model_kind_has_an_implementation():
    assert set(layers.KINDS) == set(KINDS)
    for kind in layers.KINDS.values():
        assert kind.proof_types


def test_an_unknown_kind_is_refused():
    layer = Layer("odd", "softmax", -1, (1, 1, 1), (1, 1, 1), shift=0, activation="none")
    with pytest.raises(ValueError, match="unsupported kind 'softmax'"):
        layers.kind_of(layer)


@pytest.mark.parametrize("module", WALKS)
def test_the_walks_name_no_layer_kind(module):
    source = (Path(edgeprove.__file__).parent / module).read_text()
    for name in KINDS:
        assert not re.search(rf"""["']{name}["']""", source), f"{module} names the kind {name!r}"
