"""Fiat-Shamir transcript: determinism, domain separation and sensitivity to every absorbed message."""

import numpy as np

from edgeprove import field as F
from edgeprove.transcript import Transcript


def fresh(*steps):
    t = Transcript()
    for kind, label, value in steps:
        getattr(t, f"absorb_{kind}")(label, value)
    return t.challenge_ext("c")


def test_deterministic():
    steps = [("bytes", "a", b"xyz"), ("int", "n", 7), ("base", "v", np.arange(5, dtype=np.uint64))]
    assert F.ext_eq(fresh(*steps), fresh(*steps))


def test_every_input_changes_the_challenge():
    base = [("bytes", "a", b"xyz"), ("int", "n", 7)]
    ref = fresh(*base)
    assert not F.ext_eq(ref, fresh(("bytes", "a", b"xyz"), ("int", "n", 8)))
    assert not F.ext_eq(ref, fresh(("bytes", "b", b"xyz"), ("int", "n", 7)))
    assert not F.ext_eq(ref, fresh(("int", "n", 7), ("bytes", "a", b"xyz")))  # reordering
    assert not F.ext_eq(ref, fresh(("bytes", "a", b"xy"), ("bytes", "z", b""), ("int", "n", 7)))


def test_challenges_are_canonical_and_distinct():
    t = Transcript()
    values = [t.challenge_ext("c") for _ in range(50)]
    assert all(int(v.max()) < F.P for v in values)
    assert len({F.ext_to_ints(v) for v in values}) == 50
    vec = t.challenge_ext_vec("v", 7)
    assert vec.shape == (4, 7) and int(vec.max()) < F.P
    idx = t.challenge_indices("i", 100, 13)
    assert all(0 <= i < 13 for i in idx) and len(set(idx)) > 5


def test_ext_absorb_binds_shape():
    a = Transcript()
    a.absorb_ext("x", np.zeros((4, 2), dtype=np.uint64))
    b = Transcript()
    b.absorb_ext("x", np.zeros((4, 2, 1), dtype=np.uint64))
    assert not F.ext_eq(a.challenge_ext("c"), b.challenge_ext("c"))
