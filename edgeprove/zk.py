"""Zero-knowledge bookkeeping (design.md section 10): the pads a commitment carries, the prover's side that
subtracts them from every value it sends, and the verifier's side that keeps each received value as an
affine expression in them and turns its checks into linear constraints for the commitment's hiding opening.

A commitment's pad segment holds K elements (four base entries each, limb l of pad i at entry 4i + l): one
uniform pad per hidden value (``PadPlan.values``); the uniform coefficients of the randomized evaluations
its readers publish (``PadPlan.masks``, design.md section 10.1); a uniform slope per factor of a product;
and per product of two hidden values x, y the entries x*y, c1 = x*b + y*a and c2 = a*b, a and b the
factors' slopes.  A
product check draws tau after the commitment and reveals the lines x + tau*a and y + tau*b (uniform, the
slopes being used nowhere else); the constraints x + tau*a = L_x, y + tau*b = L_y and
xy + tau*c1 + tau^2*c2 = L_x*L_y then hold for a random tau only if the committed xy is x*y (a nonzero
polynomial of degree 2 in tau otherwise): a quadratic relation proven with linear constraints alone.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edgeprove import field as F
from edgeprove.randomness import OsRandomness
from edgeprove.transcript import Transcript

P = F.P
Scalar = tuple[int, int, int, int]
ZERO: Scalar = (0, 0, 0, 0)
ONE: Scalar = (1, 0, 0, 0)


class ZkError(Exception):
    """A hidden proof does not follow its pad plan (malformed), or a product is not of two hidden values."""


def scalar(value: object) -> Scalar:
    """A K element (a (4,) array, a 4-tuple or an int) as four Python ints below p."""
    if isinstance(value, tuple):
        return value
    if isinstance(value, (int, np.integer)):
        return (int(value) % P, 0, 0, 0)
    a, b, c, d = (int(v) % P for v in np.asarray(value, dtype=np.uint64).reshape(F.EXT_DEGREE).tolist())
    return (a, b, c, d)


def _add(a: Scalar, b: Scalar) -> Scalar:
    return ((a[0] + b[0]) % P, (a[1] + b[1]) % P, (a[2] + b[2]) % P, (a[3] + b[3]) % P)


def _neg(a: Scalar) -> Scalar:
    return ((-a[0]) % P, (-a[1]) % P, (-a[2]) % P, (-a[3]) % P)


_mul = F.ext_mul_ints


class Hidden:
    """An affine expression ``const + sum_i coef_i * pad_i`` over one commitment's pads: what the verifier
    knows of a value the prover sent hidden (the sent value plus its pad), and of everything computed from
    such values by additions and public multiples."""

    __slots__ = ("const", "terms")

    def __init__(self, const: object = ZERO, terms: dict[int, Scalar] | None = None) -> None:
        self.const = const if isinstance(const, tuple) else scalar(const)
        self.terms = terms if terms is not None else {}

    @staticmethod
    def of(value: object) -> Hidden:
        """A public value (a K element) or a Hidden one, as Hidden."""
        return value if isinstance(value, Hidden) else Hidden(scalar(value))

    def __add__(self, other: object) -> Hidden:
        other = Hidden.of(other)
        terms = dict(self.terms)
        for i, c in other.terms.items():
            terms[i] = _add(terms[i], c) if i in terms else c
        return Hidden(_add(self.const, other.const), terms)

    __radd__ = __add__

    def __neg__(self) -> Hidden:
        return Hidden(_neg(self.const), {i: _neg(c) for i, c in self.terms.items()})

    def __sub__(self, other: object) -> Hidden:
        other = Hidden.of(other)
        terms = dict(self.terms)
        for i, c in other.terms.items():
            terms[i] = _add(terms[i], _neg(c)) if i in terms else _neg(c)
        return Hidden(_add(self.const, _neg(other.const)), terms)

    def __rsub__(self, other: object) -> Hidden:
        return Hidden.of(other) - self

    def times(self, factor: object) -> Hidden:
        """This expression times a public K element (a 4-tuple of ints below p, an array or an int)."""
        k = scalar(factor)
        return Hidden(_mul(self.const, k), {i: _mul(c, k) for i, c in self.terms.items()})

    def is_public(self) -> bool:
        """No pad term left (the value is known)."""
        return not any(any(c) for c in self.terms.values())

    def value(self) -> np.ndarray:
        """The constant as a (4,) array (the value itself when ``is_public``)."""
        return np.array(self.const, dtype=np.uint64)


def combination(coefficients: Iterable[object], values: Iterable[Hidden]) -> Hidden:
    """sum_j coefficients_j * values_j for public coefficients, in one pass (a received value's pad term,
    of coefficient one, takes no product)."""
    const, terms = ZERO, {}
    for c, v in zip(coefficients, values):
        k = scalar(c)
        const = _add(const, _mul(v.const, k))
        for i, coefficient in v.terms.items():
            term = k if coefficient == ONE else _mul(coefficient, k)
            terms[i] = _add(terms[i], term) if i in terms else term
    return Hidden(const, terms)


@dataclass(frozen=True, eq=False)
class PadPlan:
    """The pads of one commitment: ``values`` hidden values in the order the proof sends them, the
    products of two of them (value indices, a read-only (n, 2) array however they are given) that its
    checks need, in the order they are taken, and ``masks`` coefficients of the randomized evaluations of
    the committed tensor.  Arrays rather than Python tuples: a model's plans are alive for its whole proof,
    and as tuples with a dict of slopes they held 1.3 MiB on wc50."""

    values: int = 0
    products: np.ndarray = ()
    masks: int = 0

    def __post_init__(self) -> None:
        products = np.array(self.products, dtype=np.int64).reshape(-1, 2)
        products.flags.writeable = False
        object.__setattr__(self, "products", products)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PadPlan):
            return NotImplemented
        same = (self.values, self.masks) == (other.values, other.masks)
        return same and np.array_equal(self.products, other.products)

    def then(self, other: PadPlan) -> PadPlan:
        """This plan followed by ``other`` (whose value indices move past this plan's; masks add up)."""
        products = np.concatenate([self.products, other.products + self.values])
        return PadPlan(self.values + other.values, products, self.masks + other.masks)

    @functools.cached_property
    def factors(self) -> np.ndarray:
        """The value indices that take part in some product, ascending (each has one slope), read-only."""
        factors = np.unique(self.products)
        factors.flags.writeable = False
        return factors

    @property
    def size(self) -> int:
        """K elements of the pad segment: values, masks, slopes, and three entries per product."""
        return self.values + self.masks + len(self.factors) + 3 * len(self.products)

    def mask(self, i: int) -> int:
        """Pad index of mask coefficient i."""
        return self.values + i

    def slopes(self, values: np.ndarray) -> np.ndarray:
        """Pad indices of the slopes of factors ``values`` (each one of ``factors``; each factor has one)."""
        return self.values + self.masks + np.searchsorted(self.factors, values)

    def product_entries(self, j: int) -> tuple[int, int, int]:
        """Pad indices of product j's x*y, c1 and c2."""
        base = self.values + self.masks + len(self.factors) + 3 * j
        return base, base + 1, base + 2


class PadSource:
    """The prover's pads of one commitment: drawn from the operating system when the layer is committed,
    handed out in the plan's order as values are sent."""

    def __init__(self, plan: PadPlan, randomness: OsRandomness | None = None) -> None:
        rng = randomness if randomness is not None else OsRandomness()
        self.plan = plan
        pads = rng.field(F.EXT_DEGREE * plan.size).reshape(plan.size, F.EXT_DEGREE).T.copy()
        if len(plan.products):  # every product's x*y, c1 and c2 at once
            x, y = plan.products.T
            slope_x, slope_y = plan.slopes(x), plan.slopes(y)
            first = plan.product_entries(0)[0]
            entries = first + 3 * np.arange(len(plan.products))
            px, py, ax, ay = pads[:, x], pads[:, y], pads[:, slope_x], pads[:, slope_y]
            pads[:, entries] = F.ext_mul(px, py)
            pads[:, entries + 1] = F.ext_add(F.ext_mul(px, ay), F.ext_mul(py, ax))
            pads[:, entries + 2] = F.ext_mul(ax, ay)
        self.pads = pads
        self._next = 0

    def vector(self) -> np.ndarray:
        """The pad segment's base entries (limb l of pad i at 4i + l), uint32."""
        return np.ascontiguousarray(self.pads.T).reshape(-1).astype(np.uint32)

    def hide(self, values: np.ndarray) -> np.ndarray:
        """values (4, ...) minus the next pads, in C order over the trailing axes: what is sent."""
        values = np.asarray(values, dtype=np.uint64)
        count = int(np.prod(values.shape[1:], dtype=np.int64))
        if self._next + count > self.plan.values:
            raise ZkError(f"the pad plan holds {self.plan.values} hidden values; more are sent")
        pads = self.pads[:, self._next : self._next + count].reshape(values.shape)
        self._next += count
        return F.ext_sub(values, pads)

    def finish(self) -> None:
        """Every planned value was sent (ZkError otherwise: the plan and the proof disagree)."""
        if self._next != self.plan.values:
            raise ZkError(
                f"the proof sent {self._next} of the {self.plan.values} hidden values its plan holds"
            )

    def masks(self) -> np.ndarray:
        """The mask coefficients (4, masks)."""
        return self.pads[:, self.plan.values : self.plan.values + self.plan.masks]

    def lines(self, tau: np.ndarray) -> np.ndarray:
        """Every factor's line pad + tau * slope (4, factors)."""
        factors = self.plan.factors
        slopes = self.plan.slopes(factors)
        return F.ext_add(self.pads[:, factors], F.ext_mul_scalar(self.pads[:, slopes], tau))


def send(values: np.ndarray, pads: PadSource | None, transcript: Transcript, label: str) -> np.ndarray:
    """Values (4, ...) as a prover sends them: hidden by the next pads when there are any (a hidden
    proof), absorbed under ``label``."""
    sent = values if pads is None else pads.hide(values)
    transcript.absorb_ext(label, sent)
    return sent


class Checker(Protocol):
    """How a verifier takes the values a proof sends and makes its checks: in the clear, checked at once
    (``PublicChecker``), or hidden, each check a constraint owed to the commitment's opening
    (``PadLedger``)."""

    def receive(self, sent: np.ndarray) -> list[Hidden]:
        """The sent values (4, ...) as what the verifier knows of them, in C order."""
        ...

    def require(self, left: Hidden, right: object, what: str) -> None:
        """The check left = right (``what`` names it)."""
        ...

    def product(self, left: Hidden, right: Hidden) -> Hidden:
        """left * right."""
        ...


@dataclass
class PublicChecker:
    """Values in the clear: a check that fails raises ``error`` with its message at once."""

    error: type[Exception]

    def receive(self, sent: np.ndarray) -> list[Hidden]:
        """Each sent value, public."""
        flat = np.asarray(sent, dtype=np.uint64).reshape(F.EXT_DEGREE, -1).T.tolist()
        return [Hidden(tuple(v % P for v in limbs)) for limbs in flat]

    def require(self, left: Hidden, right: object, what: str) -> None:
        """Compare two public values; ``error(what)`` when they differ."""
        difference = left - Hidden.of(right)
        if not difference.is_public():
            raise ZkError("a check in the clear met a hidden value")
        if any(difference.const):
            raise self.error(what)

    def product(self, left: Hidden, right: Hidden) -> Hidden:
        """The product of two public values."""
        if not (left.is_public() and right.is_public()):
            raise ZkError("a product in the clear met a hidden value")
        return Hidden(_mul(left.const, right.const))


@dataclass
class LinearConstraint:
    """sum_i pads[i] * coefficient_i + sum_j claims[j] * claim_coefficient_j = value: pad terms by pad
    index, claim terms by the index of a claim on the committed vector (its MLE at a point)."""

    pads: dict[int, Scalar]
    claims: dict[int, Scalar]
    value: Scalar
    what: str

    def moved(self, pad_base: int, claim_base: int) -> LinearConstraint:
        """This constraint with pad i as pad ``pad_base`` + i and claim j as claim ``claim_base`` + j: its
        place in a commitment shared with other vectors."""
        pads = {pad_base + i: c for i, c in self.pads.items()}
        claims = {claim_base + j: c for j, c in self.claims.items()}
        return LinearConstraint(pads, claims, self.value, self.what)


@dataclass
class PadLedger:
    """The verifier's side of one commitment's pads: receives hidden values in the plan's order, records
    each check as a linear constraint and each product through its line check."""

    plan: PadPlan
    constraints: list[LinearConstraint] = field(default_factory=list)
    _received: int = 0
    _products: int = 0

    def receive(self, sent: np.ndarray) -> list[Hidden]:
        """The values (4, ...) the prover sent hidden, each as sent + its pad, in C order."""
        sent = np.asarray(sent, dtype=np.uint64)
        flat = sent.reshape(F.EXT_DEGREE, -1).T.tolist()
        if self._received + len(flat) > self.plan.values:
            raise ZkError(f"the proof sends more hidden values than the {self.plan.values} its plan holds")
        out = []
        for offset, limbs in enumerate(flat):
            out.append(Hidden(tuple(v % P for v in limbs), {self._received + offset: ONE}))
        self._received += len(flat)
        return out

    def require(self, left: Hidden, right: object, what: str) -> None:
        """Owe the opening the constraint left = right."""
        difference = left - Hidden.of(right)
        self.constraints.append(LinearConstraint(difference.terms, {}, _neg(difference.const), what))

    def claim(self, claim_index: int, value: Hidden, what: str, coefficient: object = ONE) -> None:
        """Owe the opening: coefficient * claim number ``claim_index`` (the committed vector's MLE at its
        point) = value."""
        terms = dict((-value).terms)
        self.constraints.append(
            LinearConstraint(terms, {claim_index: scalar(coefficient)}, value.const, what)
        )

    def product(self, left: Hidden, right: Hidden) -> Hidden:
        """left * right for two values each a public part plus a multiple of one hidden value, as the plan's
        next product: the pad product becomes its committed entry x*y."""
        if self._products >= len(self.plan.products):
            raise ZkError("the checks take more products than the pad plan holds")
        x, y = self.plan.products[self._products].tolist()
        (kx, ky) = (_single(left, x), _single(right, y))
        xy = self.plan.product_entries(self._products)[0]
        self._products += 1
        lc, rc = left.const, right.const
        terms = {x: _mul(rc, kx), y: _mul(lc, ky)} if x != y else {x: _add(_mul(rc, kx), _mul(lc, ky))}
        terms[xy] = _mul(kx, ky)
        return Hidden(_mul(lc, rc), terms)

    def check_lines(self, tau: np.ndarray, lines: np.ndarray) -> None:
        """The product checks for challenge tau and the sent lines (4, factors): each line is its factor's
        pad plus tau times its slope, and each product's entries satisfy the line identity."""
        factors = self.plan.factors.tolist()
        if lines.shape != (F.EXT_DEGREE, len(factors)):
            raise ZkError(f"expected {len(factors)} product lines, got shape {lines.shape}")
        t = scalar(tau)
        t2 = _mul(t, t)
        line = {i: scalar(lines[:, rank]) for rank, i in enumerate(factors)}
        for i, slope in zip(factors, self.plan.slopes(self.plan.factors).tolist()):
            self.constraints.append(LinearConstraint({i: ONE, slope: t}, {}, line[i], "line"))
        for j, (x, y) in enumerate(self.plan.products.tolist()):
            xy, c1, c2 = self.plan.product_entries(j)
            value = _mul(line[x], line[y])
            self.constraints.append(LinearConstraint({xy: ONE, c1: t, c2: t2}, {}, value, "product"))

    def finish(self) -> None:
        """Every planned value was received and every product taken (ZkError otherwise)."""
        if self._received != self.plan.values or self._products != len(self.plan.products):
            raise ZkError(
                f"the proof used {self._received} of {self.plan.values} hidden values and "
                f"{self._products} of {len(self.plan.products)} products"
            )


def _single(value: Hidden, pad: int) -> Scalar:
    """The coefficient of ``pad`` in a value that holds no other pad term (ZkError otherwise)."""
    others = [i for i, c in value.terms.items() if i != pad and any(c)]
    if others:
        raise ZkError("a product's factor holds other hidden terms than its own pad")
    return value.terms.get(pad, ZERO)
