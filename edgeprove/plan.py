"""The memory planner: predict every layer's working set and the process peak from shapes alone.

The model follows what the prover keeps alive (see ``prover``): the interpreter with numpy and edgeprove
imported (measured once in a child process), the outputs and commitment states still awaited by a
consumer, and the current layer's tensors plus the largest of its three phases: committing (the commitment
scheme's transients; the assembled vector is what its state keeps), the linear map's sumcheck (G and its
folds), and the lookups (fraction trees, one pass at a time).  The byte counts per element below, and the
schemes' and layer kinds' estimates, were fitted to kernel-measured peaks (README, "Memory planner").
The activation table width is data-dependent: the planner takes the width the prover would pick for the
input it is given (default: the seeded input `prove --seed 0` uses), from one integer inference pass.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from edgeprove import layers as L
from edgeprove.commit import DEFAULT_SCHEME, HIDING_SCHEME, zk_ligero
from edgeprove.commit.scheme import CommitmentScheme
from edgeprove.commit.spill import SPILL_MIN_BYTES
from edgeprove.layers.common import Grid, Layout
from edgeprove.lookup import TILING
from edgeprove.model import ops
from edgeprove.model.ir import Layer, Model, ModelError, input_range, source_views, value_range
from edgeprove.model.tiling import Tiles, tile, tile_groups
from edgeprove.threads import check_threads
from edgeprove.zk import PadPlan

if TYPE_CHECKING:
    from edgeprove.protocol import HiddenGroup

INT_BYTES = 8
VECTOR_BYTES = 4
"""Bytes per entry of an assembled committed vector (uint32)."""
EXT_BYTES = 32
LOOKUP_BYTES_PER_LEAF = 112
"""A layer's lookups (activation and remainder range, fraction trees built one at a time, the batched level
sumchecks' tables) per leaf of the committed vector's half, up to one pass (``lookup.TILING``): larger
lookups are proven in passes of that many leaves. Fitted to VmHWM peaks of the small models' lookups."""
MASK_BYTES_PER_LEAF = 1
"""What every leaf costs beyond the pass: the mask (a byte per entry of the output grid)."""
PROCESS_OVERHEAD = 8 << 20
"""What every proving process holds beyond the imports and the layer's own tables: the proof writer,
transcript, NTT twiddle caches and allocator slack (fitted: small models measure ~8 MiB above the import
baseline)."""
HIDDEN_OVERHEAD = 5 << 20
"""What a zero-knowledge proving process holds beyond that and its rows: the pads, ledgers and claims of
the groups still open, the replay's transcript copies, the hiding scheme's caches and the heap the longer-
lived states leave fragmented (fitted: wc50, the iris code and tiny_cnn peak 3.4-5.0 MiB above their rows,
on one thread and two)."""


@dataclass
class LayerPlan:
    """Predicted bytes of one layer: its own working set and the whole process while it runs."""

    index: int
    name: str
    kind: str
    out_shape: tuple
    commit_bytes: int
    working_bytes: int
    alive_bytes: int
    process_bytes: int


@dataclass
class Plan:
    """The prediction for one model and schedule."""

    model: str
    schedule: str
    threads: int
    base_bytes: int
    peak_bytes: int
    peak_layer: str
    layers: list[LayerPlan] = field(default_factory=list)
    input_shape: tuple = ()
    tiles: list[list[int]] = field(default_factory=list)
    """The tiling planned (``model.tiling``): [layer index, blocks] pairs, as ``prove --tile`` takes them."""

    def to_dict(self) -> dict:
        """JSON-ready form (``edgeprove plan --json``)."""
        out = asdict(self)
        out["layers"] = [asdict(layer) for layer in self.layers]
        return out


@functools.lru_cache(maxsize=1)
def interpreter_bytes() -> int:
    """Peak RSS of a fresh ``edgeprove`` command process before any layer: the interpreter, numpy, the
    prover and the command-line stack (typer may import pydantic lazily), measured in a child."""
    code = (
        "import sys, contextlib, io\n"
        "from edgeprove.cli import main\n"
        "from edgeprove.process.peak import own_peak_rss_bytes\n"
        "import edgeprove.prover, edgeprove.verifier\n"
        "sys.argv = ['edgeprove', 'models', '--json']\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(own_peak_rss_bytes())\n"
    )
    try:
        argv = [sys.executable, "-c", code]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
        return int(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, OSError, IndexError):
        return 40 << 20


def gathered_views(model: Model, layer: Layer) -> list[tuple[int, int, int]]:
    """The shape each of a layer's sources takes in its gathered input (broadcast gates take the first
    source's)."""
    views = source_views(model.input_shape, model.layers, layer)
    if L.kind_of(layer).source_rule == "broadcast":
        return [views[0]] * len(views)
    return views


def gathered_bytes(model: Model, layer: Layer) -> int:
    """Bytes of a layer's gathered input (``ops.gather``): none from one source read as it is (the source's
    kept output), else the sources' views in the narrowest integer type their static ranges fit (int64 for
    the model input read alone)."""
    views = gathered_views(model, layer)
    if len(views) == 1 and not layer.upsample:
        return 0
    if len(views) == 1 and layer.source < 0:
        return INT_BYTES * int(np.prod(views[0]))
    try:
        lo, hi = input_range(model.layers, layer)
    except ModelError:  # a source without a bounded activation
        return INT_BYTES * sum(int(np.prod(view)) for view in views)
    return _itemsize(lo, hi) * sum(int(np.prod(view)) for view in views)


def output_bytes(model: Model, index: int) -> int:
    """Bytes of a layer's output as the prover keeps it: the narrowest integer type of its static range
    (``ops.compact``), int64 without one."""
    layer = model.layers[index]
    try:
        lo, hi = value_range(model.layers, index)
    except ModelError:
        lo, hi = -(1 << 63), (1 << 63) - 1
    return _itemsize(lo, hi) * int(np.prod(layer.out_shape))


def _itemsize(lo: int, hi: int) -> int:
    return ops.integer_type(lo, hi).itemsize


def table_widths(model: Model, x: np.ndarray | None = None) -> list[int]:
    """The table width b each committing layer's prover picks for input x (one integer pass)."""
    from edgeprove.model.resolve import seeded_input

    x = seeded_input(model, 0) if x is None else x
    widths = [0] * len(model.layers)
    for step in ops.forward(model, x):
        layer = model.layers[step[0]]
        widths[step[0]] = L.kind_of(layer).table_bits(layer, step[2])
        del step  # one layer's tensors alive at a time
    return widths


def predict(
    model: Model,
    schedule: str = "streaming",
    params: object | None = None,
    x: np.ndarray | None = None,
    scheme: CommitmentScheme = DEFAULT_SCHEME,
    threads: int = 1,
    private_input: bool = False,
    spill: bool = False,
    tiles: Tiles = (),
    widths: list[int] | None = None,
    zero_knowledge: bool | None = None,
) -> Plan:
    """Per-layer working sets and the predicted peak RSS of ``edgeprove prove`` for ``schedule`` on
    ``threads`` threads; with ``private_input`` the input's commitment and range lookup too (``prove
    --private-input``).  More than one thread costs the encoding's scratch per thread and, streaming, the
    next layer's build (its tensors, commitment transients and state) beside each layer's proof.  With
    ``spill`` (``prove --spill``) a state that waits for a later layer holds only what ``spill`` leaves in
    memory, and comes back whole while it is opened.  With ``tiles`` the rows are the tiled model's
    (``model.tiling``); each block is given its layer's table width (``widths``, default: one integer
    pass), which bounds the width its prover picks.  A private input's proof is ``zero_knowledge`` unless
    that is False (as ``prove``): every layer commits with the hiding scheme, its pads beside its vector,
    each table as wide as the model's bound, and consecutive layers share a commitment
    (``protocol.hidden_groups``): its state counts from its first member, which builds it, until its
    opening after the last reader of any member."""
    from edgeprove import protocol

    check_threads(threads)
    hidden = private_input if zero_knowledge is None else zero_knowledge
    if hidden:
        scheme = HIDING_SCHEME
    params = params or scheme.default_params()
    widths = table_widths(model, x) if widths is None else widths
    model, origin = tile(model, tiles)
    widths = [widths[index] for index in origin]
    groups = {}
    if hidden:
        widths = list(protocol.hidden_table_bits(model))
        protocol.check_hideable(model)
        groups = {
            t: g for g in protocol.hidden_groups(model, tuple(widths), params.group_vars) for t in g.members
        }
    last_use = protocol.opening_turns(model, list(groups.values()))
    base = interpreter_bytes() + (HIDDEN_OVERHEAD if hidden else 0)
    n = len(model.layers)
    state = [0] * n  # commitment state bytes of each layer
    waiting = [0] * n  # what a state holds while it waits for its opening (less than state when spilled)
    kept = [0] * n  # what outlives a layer: its output tensor and its commitment state
    work = [0] * n
    build = [0] * n  # streaming on several threads: what layer k's build holds while layer k - 1 is proven
    held_baseline = [0] * n  # baseline: everything a layer's witness holds until the end
    for k, layer in enumerate(model.layers):
        gathered, kept_y = gathered_bytes(model, layer), output_bytes(model, k)
        kind = L.kind_of(layer)
        witness = _witness_bytes(layer)
        linear = kind.working_bytes(layer)
        lookup = encode = table = 0
        if kind.commits(layer) or hidden:
            bits = widths[k]
            min_leaves = max(1 << bits, 1 << layer.shift)
            if hidden:
                group = groups[k]
                lookup = _lookup_bytes(group.layout_of(k), min_leaves)
                state[k], encode = _group_bytes(model, group, k, params, scheme, threads)
                length = group.length
            else:
                lay = protocol.commitment_layout(model, k, max(bits, 1) if kind.commits(layer) else 0)
                state[k], encode, lookup = _commitment_bytes(lay, None, min_leaves, params, scheme, threads)
                length = protocol.committed_length(lay)
            table = INT_BYTES << bits
            waiting[k] = state[k]
            if state[k] and spill and schedule == "streaming" and k < last_use[k] < n:  # read later
                waiting[k] = _spilled_bytes(length, state[k], params, scheme)
        kept[k] = kept_y + waiting[k]
        work[k] = PROCESS_OVERHEAD + gathered + max(witness, kept_y + max(encode, linear, lookup))
        build[k] = gathered + max(witness, kept_y + encode) + state[k]
        if hidden and groups[k].first == k:  # a group is built at its own turn, not beside a proof
            build[k] = 0
        held_baseline[k] = kept_y + state[k] + table
    input_state, input_phase, input_last = 0, 0, -1
    if private_input:
        input_state, input_phase = _committed_input_bytes(model, threads, groups.get(protocol.INPUT), params)
        input_last = max(k for k, layer in enumerate(model.layers) if -1 in layer.reads)
    rows = []
    for k, layer in enumerate(model.layers):
        if schedule == "baseline":
            alive = sum(held_baseline) + input_state
        else:
            alive = sum(kept[t] for t in range(k) if last_use[t] >= k) + state[k]
            alive += input_state if k <= input_last else 0
        ahead = build[k + 1] if schedule == "streaming" and threads > 1 and k + 1 < n else 0
        process = int(base + alive + work[k] + ahead)
        after = alive - state[k] + kept[k]  # once layer k's own work is freed, its openings run
        if hidden:  # each group's opening: its spilled rows read back, and the opening's transients
            opened = [t for t in protocol.openings_after(last_use, groups, k, n) if groups[t].first == t]
            reload = [0 if t < 0 else state[t] - waiting[t] for t in opened]  # the input's counts whole
            extra = [zk_ligero.opening_bytes(groups[t].length, params) + r for t, r in zip(opened, reload)]
            if extra:
                process = max(process, int(base + after + max(extra)))
        else:
            opened = [t for t in protocol.openings_after(last_use, range(k), k, n) if waiting[t] < state[t]]
            if opened:  # a spilled state read back while it is opened
                process = max(process, int(base + after + max(state[t] - waiting[t] for t in opened)))
        if k == 0:  # the input is committed and range-checked before layer 0, within its row of the run
            beside = build[0] if schedule == "streaming" and threads > 1 else 0
            process = max(process, int(base + input_phase + beside))
        rows.append(
            LayerPlan(k, layer.name, layer.kind, tuple(layer.out_shape), state[k], work[k], alive, process)
        )
    peak_row = max(rows, key=lambda r: r.process_bytes)
    return Plan(
        model.name,
        schedule,
        threads,
        base,
        peak_row.process_bytes,
        peak_row.name,
        rows,
        tuple(model.input_shape),
        [list(pair) for pair in tiles],
    )


FIT_ROUNDS = 64
"""Most changes of the tiling ``fit`` tries (each doubles one group's blocks)."""
_COMPARED_ROWS = 8
"""Rows whose predicted bytes (largest first) decide whether a tiling is better than another."""


def fit(model: Model, budget: int, x: np.ndarray | None = None, **settings) -> Plan:
    """A tiled plan under ``budget`` bytes, else the least peak found, greedily: while the peak is above
    the budget, double the blocks of the tile group of the largest row whose doubling lowers the plan's
    largest rows (``predict``'s ``settings`` apply to every plan; the table widths come from one pass)."""
    widths = table_widths(model, x)
    tiles: dict[int, int] = {}
    plan = predict(model, widths=widths, **settings)
    spent: set[int] = set()  # seeds whose next doubling did not help or cannot be made
    for _ in range(FIT_ROUNDS):
        if plan.peak_bytes <= budget:
            break
        _, origin = tile(model, tuple(sorted(tiles.items())))
        seed_of = {m: seed for seed, blocks in tiles.items() for m in tile_groups(model, [(seed, blocks)])}
        better = None
        for row in sorted(plan.layers, key=lambda r: -r.process_bytes)[:_COMPARED_ROWS]:
            seed = seed_of.get(origin[row.index], origin[row.index])  # its group's, if it is tiled
            if seed in spent:
                continue
            trial = {**tiles, seed: 2 * tiles.get(seed, 1)}
            try:
                candidate = predict(model, widths=widths, tiles=tuple(sorted(trial.items())), **settings)
            except ModelError:  # a group that cannot take more blocks
                candidate = None
            if candidate is not None and _top(candidate) < _top(plan):
                better = trial, candidate
                break
            spent.add(seed)
        if better is None:
            break
        tiles, plan = better
    return plan


def _top(plan: Plan) -> list[int]:
    """The plan's largest rows, largest first: a tiling is better when these are smaller."""
    return sorted((row.process_bytes for row in plan.layers), reverse=True)[:_COMPARED_ROWS]


def _commitment_bytes(
    lay: Layout, plan: PadPlan | None, min_leaves: int, params: object, scheme: CommitmentScheme, threads: int
) -> tuple[int, int, int]:
    """A committed vector's state (the assembled uint32 vector is what it keeps), the transients of
    committing it (up to where its data ends; zero padding after it) and one pass of its lookups, whose
    leaves are at least half the vector and ``min_leaves``.  A hidden proof's tableau keeps a copy of the
    vector up to its last pad: the assembled vector is a transient of committing it."""
    from edgeprove import protocol

    lookup = _lookup_bytes(lay, min_leaves)
    length = protocol.committed_length(lay, plan)
    if plan is None:
        used = sum(1 << nv for _, nv in (*lay.segments, *lay.tail))
        return scheme.state_bytes(length, params), scheme.commit_bytes(used, params, threads), lookup
    encode = VECTOR_BYTES * (1 << lay.num_vars) + scheme.commit_bytes(length, params, threads)
    return scheme.state_bytes(length, params), encode, lookup


def _lookup_bytes(lay: Layout, min_leaves: int) -> int:
    """One pass of a committed vector's lookups, whose leaves are at least half the vector and
    ``min_leaves``."""
    leaves = max((1 << lay.num_vars) // 2, min_leaves)
    return LOOKUP_BYTES_PER_LEAF * min(leaves, TILING.pass_leaves) + MASK_BYTES_PER_LEAF * leaves


def _spilled_bytes(length: int, whole: int, params: object, scheme: CommitmentScheme) -> int:
    """What the state (``whole`` bytes) of a committed vector of ``length`` entries keeps in memory once
    ``spill`` has put its rows on disk (all of it when they are smaller than ``spill.SPILL_MIN_BYTES``,
    which stay)."""
    resident = scheme.state_bytes(length, params, spilled=True)
    return resident if whole - resident >= SPILL_MIN_BYTES else whole


def _witness_bytes(layer: Layer) -> int:
    """A layer's witness build: the map's transients, then a, q, r, y in int64 (padded only into the
    vector)."""
    out = Grid(layer.out_shape)
    return max(
        L.kind_of(layer).inference_bytes(layer), INT_BYTES * out.shape[0] * out.shape[1] * out.shape[2] * 4
    )


def _group_bytes(
    model: Model, group: HiddenGroup, k: int, params: object, scheme: CommitmentScheme, threads: int
) -> tuple[int, int]:
    """A hidden proof's shared commitment as layer k sees it: at its first member the group's state (its
    vector is assembled in the state's rows) and the transients of building it, a later member's witness
    or the encoding; nothing at the later members (their pads are in it)."""
    if k != group.first:
        return 0, 0
    members = max((_witness_bytes(model.layers[t]) for t in group.members[1:]), default=0)
    encode = scheme.commit_bytes(group.length, params, threads)
    return scheme.state_bytes(group.length, params), max(members, encode)


def _committed_input_bytes(
    model: Model, threads: int, group: HiddenGroup | None, params: object
) -> tuple[int, int]:
    """A private input's commitment state, kept until its last reader, and the working set of committing it
    and proving its int8 range: the input, the commit transients or one pass of the range lookup.  In a
    zero-knowledge proof ``group`` is the input's (its pads beside it, committed with the proof's
    ``params``); else None, and the hiding scheme's defaults commit it, as ``prove`` does."""
    from edgeprove import protocol
    from edgeprove.layers import committed_input

    if group is None:
        plan, params = None, HIDING_SCHEME.default_params()
        lay = protocol.commitment_layout(model, protocol.INPUT, committed_input.RANGE_BITS)
    else:
        plan, lay = group.plans[0], group.layouts[0]
    state, encode, lookup = _commitment_bytes(
        lay, plan, 1 << committed_input.RANGE_BITS, params, HIDING_SCHEME, threads
    )
    inputs = INT_BYTES * int(np.prod(model.input_shape)) * 2  # the input and its padded copy
    return state, PROCESS_OVERHEAD + inputs + state + max(encode, lookup)
