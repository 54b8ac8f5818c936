"""The layer walk that proves a model's inference, streaming (default) or baseline.

streaming: one forward pass; per layer compute a_k, the requant witness, commit, prove, open what no
later layer needs, free.  Alive at any time: the current layer's tensors, the outputs (and commitment
states) still awaited by a consumer (the next layer, a residual add), and one section of the proof.
baseline: every layer's witness and commitment are built first and held, then the same proof is made
(sections byte-identical to streaming's; only the header names the schedule); it measures what streaming
saves.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeprove import field as F
from edgeprove import layers as L
from edgeprove import poly
from edgeprove import protocol as PR
from edgeprove import threads as TH
from edgeprove.blas import require_exact_blas
from edgeprove.claims import Claim, ClaimLedger
from edgeprove.commit import DEFAULT_SCHEME, zk_ligero
from edgeprove.commit.scheme import Commitment, CommitmentScheme, CommitState
from edgeprove.layers import committed_input
from edgeprove.layers.common import Grid
from edgeprove.layers.kind import ProverStep, VerifierStep, Witness
from edgeprove.model import ops
from edgeprove.model.bounds import check_model
from edgeprove.model.ir import Model
from edgeprove.model.tiling import Tiles, tile
from edgeprove.process.heap import release_free_memory
from edgeprove.process.interrupts import deferred_signals
from edgeprove.process.peak import rss_bytes
from edgeprove.proof import (
    SECTION_COMMIT,
    SECTION_INPUT,
    SECTION_LAYER,
    SECTION_OPENING,
    SECTION_OUTPUT,
    ProofWriter,
)
from edgeprove.transcript import Transcript
from edgeprove.zk import Hidden, PadLedger, PadSource

SCHEDULES = PR.SCHEDULES


@dataclass
class ProveResult:
    """What a proving run produced."""

    output: np.ndarray
    proof_bytes: int
    prove_s: float
    layer_seconds: list[float] = field(default_factory=list)
    prove_cpu_s: float = 0.0
    """CPU time of the proving process (a steadier figure than wall time on a shared machine)."""
    threads: int = 1
    """Threads the prover ran on."""


@dataclass
class _Built:
    """One layer's witness and, when its kind commits (in a hidden proof: when it is its group's first
    member), the commitment, the state to open it and a hidden proof's pads of every member."""

    witness: Witness
    commitment: Commitment | None = None
    state: CommitState | None = None
    pads: dict[int, PadSource] = field(default_factory=dict)


@dataclass(frozen=True)
class _Committer:
    """The commitment scheme and the parameters this proof uses, and those of the private input's hiding
    commitment (``protocol.tensor_scheme``)."""

    scheme: CommitmentScheme
    params: object
    input_params: object = None
    spill_dir: Path | None = None
    """Where states that wait for a later layer's opening go (``commit.spill``); None keeps them in memory."""
    table_bits: tuple[int, ...] | None = None
    """A hidden proof's table widths, fixed by the model per layer (None: the proof is not hidden)."""
    groups: tuple[PR.HiddenGroup, ...] = ()
    """A hidden proof's commitments (``protocol.hidden_groups``)."""

    @property
    def hidden(self) -> bool:
        """Whether the proof is zero-knowledge."""
        return self.table_bits is not None

    @functools.cached_property
    def group_of(self) -> dict[int, PR.HiddenGroup]:
        """Each tensor's group in a hidden proof."""
        return {t: group for group in self.groups for t in group.members}

    def builds_group(self, k: int) -> bool:
        """Whether layer k's build commits its group (it is the first member of one)."""
        return self.hidden and self.group_of[k].first == k

    def commit(self, vector: np.ndarray) -> tuple[Commitment, CommitState]:
        """Commit to a vector under the proof's parameters."""
        return self.scheme.commit(vector, self.params)

    def keep(self, state: CommitState | None, scheme: CommitmentScheme) -> CommitState | None:
        """A state that waits for a later layer: on disk when spilling, else as it is."""
        if state is None or self.spill_dir is None:
            return state
        return scheme.spill(state, self.spill_dir)


class EventLog:
    """JSON-lines side channel of layer start/end events with time and RSS (for the harness)."""

    def __init__(self, path: str | Path | None) -> None:
        self._path = path
        self._file = open(path, "w", buffering=1) if path else None  # noqa: SIM115
        self._pid = os.getpid()

    def emit(self, event: str, **fields) -> None:
        """Append one event line (with wall time and this process's RSS), flushed at once; a failed write
        is an OSError naming the events file."""
        if self._file is None:
            return
        record = {"event": event, "t": time.time(), "rss": rss_bytes(self._pid) or 0, **fields}
        try:
            self._file.write(json.dumps(record) + "\n")
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self._path)) from None

    def close(self) -> None:
        """Write the final "done" event and close (the file is closed even when that write fails)."""
        if self._file is not None:
            try:
                self.emit("done")
            finally:
                with contextlib.suppress(OSError):
                    self._file.close()


def _witness(
    model: Model, k: int, x: np.ndarray, skip: np.ndarray | None, committer: _Committer
) -> tuple[Witness, np.ndarray | None]:
    """Layer k's accumulator and its kind's witness and committed vector (a hidden proof's tables as wide
    as the model's bound)."""
    layer = model.layers[k]
    bits = committer.table_bits[k] if committer.hidden else None
    return L.kind_of(layer).witness(layer, x, ops.linear(model, k, x, skip), bits)


def _compute(
    model: Model,
    k: int,
    x: np.ndarray,
    skip: np.ndarray | None,
    committer: _Committer,
    earlier: dict[int, np.ndarray] | None = None,
) -> _Built:
    """Layer k's witness and the commitment to what its kind commits.  In a hidden proof a commitment is
    its group's, made at the first member's turn: the later members' witnesses are computed here too
    (from ``earlier``, the tensors before k they read, and each other's outputs), each vector is placed
    with its pads (drawn here) in the group's, assembled in its tableau's rows (committed without a copy),
    and their witnesses are computed again at their turns."""
    witness, vector = _witness(model, k, x, skip, committer)
    if not committer.hidden:
        return _Built(witness) if vector is None else _Built(witness, *committer.commit(vector))
    group = committer.group_of[k]
    if k != group.first:
        return _Built(witness)
    pads = {t: PadSource(plan) for t, plan in zip(group.members, group.plans)}
    rows = zk_ligero.blank_rows(group.length, committer.params)
    shared = rows.reshape(-1)[: group.length]  # the group's vector, assembled in its tableau's rows
    group.place(shared, k, PR.hidden_vector(vector, group.layouts[0], pads[k].vector()))
    del vector
    outputs = {**(earlier or {}), k: witness.y}
    for t, lay in zip(group.members[1:], group.layouts[1:]):
        layer = model.layers[t]
        src = ops.gather(layer, [outputs[ref] for ref in layer.sources])
        skip_t = None if layer.residual is None else outputs[layer.residual]
        member, member_vector = _witness(model, t, src, skip_t, committer)
        outputs[t] = ops.compact(member.y)
        del member, src
        group.place(shared, t, PR.hidden_vector(member_vector, lay, pads[t].vector()))
        del member_vector
    del outputs, shared
    return _Built(witness, *zk_ligero.commit_rows(rows, group.length, committer.params), pads)


def _earlier(model: Model, k: int, committer: _Committer, tensor: Callable[[int], np.ndarray]) -> dict:
    """What building layer k needs besides its own input: in a hidden proof, when k commits its group,
    the tensors before k that the later members read (``tensor`` finds them)."""
    if not committer.builds_group(k):
        return {}
    refs = {ref for t in committer.group_of[k].members[1:] for ref in model.layers[t].reads if ref < k}
    return {ref: tensor(ref) for ref in refs}


def prove(
    model: Model,
    x: np.ndarray,
    out_path: str | Path,
    schedule: str = "streaming",
    params: object | None = None,
    events: str | Path | None = None,
    on_layer: Callable[[int, str], None] | None = None,
    private_input: bool = False,
    scheme: CommitmentScheme = DEFAULT_SCHEME,
    threads: int | None = None,
    spill: bool = False,
    tiles: Tiles = (),
    zero_knowledge: bool | None = None,
) -> ProveResult:
    """Prove ``model`` on input ``x`` and write the proof to ``out_path`` section by section.

    With ``private_input`` the input is committed (with an int8 range lookup) instead of published, with the
    hiding scheme (``commit.HIDING_SCHEME``, fresh randomness from the operating system); the statement then
    binds its commitment root.  Such a proof is ``zero_knowledge`` unless that is False: every commitment is
    hiding and every value sent is hidden (design.md section 10), so the proof reveals nothing about the
    input and the intermediate tensors beyond the output; ``scheme`` and ``params`` then name the hiding
    scheme's.  ``params`` are the commitment ``scheme``'s (default: the
    scheme's defaults).  ``threads`` (default: the cores this process may run on) share independent work
    (``edgeprove.threads``); the proof is the same for any count.  With ``spill`` a commitment that waits
    for a later layer keeps its rows in an unlinked file beside the proof (``commit.spill``): a lower peak
    for some disk traffic, the same proof (streaming only: the baseline holds everything by design).
    ``tiles`` (``model.tiling``) proves the layers it names a block of output channels at a time, in a
    proof whose header names the tiling.  InexactBLAS, before anything is written, where this machine's
    products are wrong.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    threads = TH.resolve(threads)
    require_exact_blas()
    zero_knowledge = private_input if zero_knowledge is None else zero_knowledge
    if zero_knowledge and not private_input:
        raise ValueError("a zero-knowledge proof needs a private input (there is nothing to hide)")
    if zero_knowledge:
        hiding = PR.tensor_scheme(PR.INPUT, scheme)
        if scheme not in (DEFAULT_SCHEME, hiding):
            raise ValueError(
                f"a zero-knowledge proof commits with {hiding.header_key}, not {scheme.header_key}"
            )
        scheme = hiding
    params = params or scheme.default_params()
    hiding = PR.tensor_scheme(PR.INPUT, scheme)
    input_params = (params if hiding is scheme else hiding.default_params()) if private_input else None
    spill_dir = Path(out_path).resolve().parent if spill and schedule == "streaming" else None
    tiled = tile(model, tiles)[0]  # a tiling that cannot apply is refused before anything is written
    committer = _Committer(scheme, params, input_params, spill_dir)
    if zero_knowledge:
        widths = PR.hidden_table_bits(tiled)
        PR.check_hideable(tiled)
        groups = tuple(PR.hidden_groups(tiled, widths, params.group_vars))
        committer = _Committer(scheme, params, input_params, spill_dir, widths, groups)
    else:
        check_model(tiled)
    header = PR.statement_header(
        model,
        params,
        schedule,
        model.input_shape,
        "committed" if private_input else "public",
        scheme,
        input_params,
        tiles,
        zero_knowledge,
    )
    model = tiled
    x = ops.check_input(model, x)
    start, cpu_start = time.perf_counter(), time.process_time()
    log = EventLog(events)
    writer = None
    try:
        with deferred_signals():  # a signal raised once `writer` exists, so its temporary file goes too
            writer = ProofWriter(out_path, header)
        alive: dict[int, _Alive] = {}
        tensors = ([PR.INPUT] if private_input else []) + list(range(len(model.layers)))
        claims = ClaimLedger(tensors)
        if private_input:
            transcript = _commit_input(model, x, committer, writer, alive, claims)
        else:
            input_section = PR.tensor_section(x)
            writer.section(SECTION_INPUT, input_section)
            transcript = PR.start_transcript(header, input_section, scheme)
        with TH.using(threads):
            result = _walk(model, x, schedule, committer, transcript, writer, log, on_layer, alive, claims)
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        with contextlib.suppress(OSError):  # the error being raised says more than a failed last event
            log.close()
        raise
    log.close()
    result.proof_bytes = writer.bytes_written
    result.prove_s = time.perf_counter() - start
    result.prove_cpu_s = time.process_time() - cpu_start
    result.threads = threads
    return result


@dataclass
class _Alive:
    """What outlives a layer's proof until its last consumer: the output and the commitment to open (with a
    hidden proof's pads and the ledger of the constraints owed to its opening)."""

    y: np.ndarray
    state: CommitState | None
    act_bits: int
    pads: PadSource | None = None
    ledger: PadLedger | None = None


def _build_all(model: Model, x: np.ndarray, committer: _Committer, log: EventLog) -> Iterator[_Built]:
    """Baseline: every layer's witness and commitment computed and held before any proof is made.

    The build phase emits its own layer events (phase "build"), so a run killed while building still
    names the layer it died in.
    """
    outputs: list[np.ndarray] = []
    built = []
    for k, layer in enumerate(model.layers):
        log.emit("start", layer=layer.name, index=k, phase="build")
        src = ops.gather(layer, [x if ref < 0 else outputs[ref] for ref in layer.sources])
        skip = None if layer.residual is None else (x if layer.residual < 0 else outputs[layer.residual])
        earlier = _earlier(model, k, committer, lambda ref: x if ref < 0 else outputs[ref])
        b = _compute(model, k, src, skip, committer, earlier)
        outputs.append(b.witness.y)
        built.append(b)
        log.emit("end", layer=layer.name, index=k, phase="build")
    return iter(built)


def _commit_input(
    model: Model,
    x: np.ndarray,
    committer: _Committer,
    writer: ProofWriter,
    alive: dict[int, _Alive],
    claims: ClaimLedger,
) -> Transcript:
    """Commit the private input and prove its int8 range; returns the transcript that binds its root.  In a
    hidden proof the range lookup is hidden and replayed as the verifier will check it, which gives the
    claims and constraints owed to the input's opening."""
    witness, vector = committed_input.witness(model.input_shape, x)
    pads = ledger = None
    bits = committed_input.RANGE_BITS
    if committer.hidden:
        group = committer.group_of[PR.INPUT]
        pads, ledger = PadSource(group.plans[0]), PadLedger(group.plans[0])
        vector = PR.hidden_vector(vector, group.layouts[0], pads.vector())
    commitment, state = PR.tensor_scheme(PR.INPUT, committer.scheme).commit(vector, committer.input_params)
    del vector
    writer.section(SECTION_COMMIT, PR.CommitSection(commitment.root, bits))
    transcript = PR.start_transcript(writer.header, commitment.root, committer.scheme)
    replay = transcript.copy()
    own = ClaimLedger([PR.INPUT]) if committer.hidden else claims
    proof = committed_input.prove(witness, transcript, own, pads)
    if committer.hidden:
        pads.finish()
        committed_input.verify(model.input_shape, proof, replay, claims, ledger)
        _check_replay(replay, transcript, "input")
    writer.section(SECTION_LAYER, proof)
    if PR.last_uses(model)[PR.INPUT] > 0:  # read after layer 0: it waits
        state = committer.keep(state, PR.tensor_scheme(PR.INPUT, committer.scheme))
    alive[PR.INPUT] = _Alive(x, state, bits, pads, ledger)
    return transcript


def _check_replay(replay: Transcript, transcript: Transcript, where: str) -> None:
    """The verifier replayed beside the prover read the same transcript (else the proof could not verify)."""
    if replay.digest() != transcript.digest():
        raise AssertionError(f"{where}: the replayed verifier's transcript differs from the prover's")


def _walk(
    model: Model,
    x: np.ndarray,
    schedule: str,
    committer: _Committer,
    transcript: Transcript,
    writer: ProofWriter,
    log: EventLog,
    on_layer: Callable[[int, str], None] | None,
    alive: dict[int, _Alive],
    claims: ClaimLedger,
) -> ProveResult:
    """Prove every layer in order; ``alive`` maps a tensor index to what its consumers still need.

    Streaming on more than one thread, layer k + 1's accumulator, witness and commitment are computed on a
    worker while layer k is proven (they need only layer k's output; the commitment is bound in the
    transcript when its turn comes, so the proof does not change).  A hidden proof's group is built at its
    first member's turn instead, its encoding spread over the threads: built beside a layer's proof, its
    transients would add to that proof's (about 8 MiB more on wc50, for no shorter wall time).
    """
    n = len(model.layers)
    turns = PR.opening_turns(model, committer.groups)
    pads: dict[int, PadSource] = {}  # a hidden proof's pads of the members still to be proven
    private = claims.tracks(PR.INPUT)
    prebuilt = _build_all(model, x, committer, log) if schedule == "baseline" else None
    seconds = []
    output = None
    ahead: Future[_Built] | None = None  # layer k's build, started while layer k - 1 was proven
    for k, layer in enumerate(model.layers):
        t0 = time.perf_counter()
        log.emit("start", layer=layer.name, index=k)
        if on_layer:
            on_layer(k, layer.name)
        label = PR.layer_label(k)
        src = ops.gather(layer, [x if ref < 0 else alive[ref].y for ref in layer.sources])
        skip = None
        if layer.residual is not None:
            skip = x if layer.residual < 0 else alive[layer.residual].y
        if prebuilt is not None:
            b = next(prebuilt)
        elif ahead is not None:
            b, ahead = ahead.result(), None
        else:
            earlier = _earlier(model, k, committer, lambda ref: x if ref < 0 else alive[ref].y)
            b = _compute(model, k, src, skip, committer, earlier)
        if prebuilt is None and k + 1 < n and not committer.builds_group(k + 1):
            ahead = _start_next(model, k + 1, x, b.witness.y, alive, committer)
        release_free_memory()  # the witness and encoding transients are gone: return their pages
        w = b.witness
        out_grid = Grid(layer.out_shape)
        act_bits = w.table_bits if b.commitment is not None or committer.hidden else 0
        if b.commitment is not None:
            writer.section(SECTION_COMMIT, PR.CommitSection(b.commitment.root, act_bits))
            transcript.absorb_bytes(f"{label}/root", b.commitment.root)
            transcript.absorb_int(f"{label}/act_bits", act_bits)
        if k == n - 1:
            output = w.y
            section = PR.tensor_section(output)
            writer.section(SECTION_OUTPUT, section)
            transcript.absorb_base("output", section.values)
        pads.update(b.pads)
        own = pads.pop(k, None)
        alive[k] = _Alive(ops.compact(w.y), b.state, act_bits, own, PadLedger(own.plan) if own else None)
        if committer.hidden:
            proof = _prove_hidden(model, k, src, skip, w, transcript, claims, alive, output)
        else:
            step = ProverStep(model, k, label, src, skip, transcript, claims, private)
            proof, gamma, x_value = L.kind_of(layer).prove(step, w)
            step.claim_source(0, gamma, x_value)
            del step
        if k == n - 1 and L.kind_of(layer).commits(layer):
            z_out = transcript.challenge_ext_vec(f"{label}/z_out", out_grid.num_vars)
            value = poly.evaluate(out_grid.pad(w.y), z_out)
            claims.add(k, "y", z_out, Hidden.of(value) if committer.hidden else value)
        writer.section(SECTION_LAYER, proof)
        waits = k not in PR.openings_after(turns, [k], k, n)  # read by a later layer
        if waits:
            alive[k].state = committer.keep(b.state, committer.scheme)
        del w, b
        for t in PR.openings_after(turns, list(alive), k, n):
            if committer.hidden and t in alive:
                group = committer.group_of[t]
                owed = [(alive.pop(m), claims.pop(m)) for m in group.members]
                _open_group(group, owed, transcript, writer)
            elif not committer.hidden:
                scheme = PR.tensor_scheme(t, committer.scheme)
                _open(model, t, alive.pop(t), claims.pop(t), scheme, transcript, writer)
        release_free_memory()
        log.emit("end", layer=layer.name, index=k)
        seconds.append(time.perf_counter() - t0)
    return ProveResult(np.asarray(output), 0, 0.0, seconds)


def _start_next(
    model: Model,
    k: int,
    x: np.ndarray,
    previous_y: np.ndarray,
    alive: dict[int, _Alive],
    committer: _Committer,
) -> Future[_Built] | None:
    """Layer k's build started on a worker (None with one thread): its sources and residual are the model
    input, layer k - 1's output ``previous_y`` or outputs still alive."""
    layer = model.layers[k]

    def tensor(index: int) -> np.ndarray:
        return x if index < 0 else previous_y if index == k - 1 else alive[index].y

    src = [tensor(ref) for ref in layer.sources]
    skip = None if layer.residual is None else tensor(layer.residual)
    return TH.submit(_gathered_compute, model, k, src, skip, committer)


def _gathered_compute(
    model: Model, k: int, sources: list[np.ndarray], skip: np.ndarray | None, committer: _Committer
) -> _Built:
    """``_compute`` on layer k's input gathered from its sources (upsampled and concatenated on the
    worker; never a hidden proof's group, built at its own turn)."""
    return _compute(model, k, ops.gather(model.layers[k], sources), skip, committer)


def _prove_hidden(
    model: Model,
    k: int,
    src: np.ndarray,
    skip: np.ndarray | None,
    w: Witness,
    transcript: Transcript,
    claims: ClaimLedger,
    alive: dict[int, _Alive],
    output: np.ndarray | None,
) -> object:
    """Layer k's hidden proof, then the verifier's check of it replayed on a copy of the transcript: that
    replay records the claims (``claims``) and constraints (the layer's ledger) its openings must prove,
    exactly as the verifier will."""
    layer, label = model.layers[k], PR.layer_label(k)
    kept = alive[k]
    replay = transcript.copy()
    own = ClaimLedger(claims_tensors(model))
    step = ProverStep(
        model, k, label, src, skip, transcript, own, True, kept.pads, lambda t: alive[t].pads.masks()
    )
    proof, _, _ = L.kind_of(layer).prove(step, w)
    kept.pads.finish()
    plans = {t: entry.pads.plan for t, entry in alive.items() if entry.pads is not None}
    check = VerifierStep(model, k, label, kept.act_bits, output, None, replay, claims, kept.ledger, plans)
    gamma, x_value = L.kind_of(layer).verify(check, proof)
    check.claim_source(0, gamma, x_value)
    _check_replay(replay, transcript, f"layer {layer.name}")
    return proof


def claims_tensors(model: Model) -> list[int]:
    """Every tensor a claim may name in a proof with a committed input."""
    return [PR.INPUT, *range(len(model.layers))]


def _open_group(
    group: PR.HiddenGroup, owed: list[tuple[_Alive, list[Claim]]], transcript: Transcript, writer: ProofWriter
) -> None:
    """A hidden proof's opening of one group (its state is its first member's): the lines of every
    member's product checks, then the hiding opening of every constraint the members owe."""
    label = PR.opening_label(group.first)
    tau = transcript.challenge_ext(f"{label}/tau")
    lines = np.concatenate([kept.pads.lines(tau) for kept, _ in owed], axis=1)
    transcript.absorb_ext(f"{label}/lines", lines)
    ledgers, claims = [kept.ledger for kept, _ in owed], [own for _, own in owed]
    points, constraints = PR.group_constraints(group, ledgers, claims, tau, lines)
    opening = zk_ligero.open_constraints(owed[0][0].state, points, constraints, 0, transcript, label)
    writer.section(SECTION_OPENING, PR.HiddenOpening(lines, opening))


def _open(
    model: Model,
    t: int,
    kept: _Alive,
    claims: list[Claim],
    scheme: CommitmentScheme,
    transcript: Transcript,
    writer: ProofWriter,
) -> None:
    """Open commitment t at every point collected for it (one opening proof), write it, free it."""
    if kept.state is None:
        return
    lay = PR.commitment_layout(model, t, kept.act_bits)
    name = "input" if t == PR.INPUT else model.layers[t].name
    points = [lay.point(c.segment, c.point) for c in claims]
    values, proof = scheme.open(kept.state, points, transcript, PR.opening_label(t))
    for claim, got in zip(claims, values):
        if not F.ext_eq(claim.value, got):
            raise AssertionError(f"{name}: opening of {claim.segment} disagrees with the prover's claim")
    writer.section(SECTION_OPENING, proof)
