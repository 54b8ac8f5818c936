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
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

from edgeprove import field as F
from edgeprove import layers as L
from edgeprove import lookup, poly
from edgeprove import protocol as PR
from edgeprove.commit import ligero
from edgeprove.layers import maxpool, requant
from edgeprove.layers.common import Grid, prove_linear
from edgeprove.model import ops
from edgeprove.model.bounds import check_model
from edgeprove.proof import (
    SECTION_COMMIT,
    SECTION_INPUT,
    SECTION_LAYER,
    SECTION_OPENING,
    SECTION_OUTPUT,
    ProofWriter,
)

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


@dataclass
class _Witness:
    """One layer's values and, for requantized layers, its commitment."""

    a: np.ndarray
    y: np.ndarray
    rq: requant.RequantWitness | None = None
    mp: maxpool.MaxPoolWitness | None = None
    commitment: object = None
    state: object = None

    @property
    def table_bits(self) -> int:
        """The width bound in the commitment section: activation table bits, or the max-pool range bits."""
        return self.rq.act_bits if self.rq is not None else maxpool.RANGE_BITS


class EventLog:
    """JSON-lines side channel of layer start/end events with time and RSS (for the harness)."""

    def __init__(self, path: str | Path | None) -> None:
        self._path = path
        self._file = open(path, "w", buffering=1) if path else None  # noqa: SIM115
        self._proc = psutil.Process()

    def emit(self, event: str, **fields) -> None:
        """Append one event line (with wall time and this process's RSS), flushed at once; a failed write
        is an OSError naming the events file."""
        if self._file is None:
            return
        record = {"event": event, "t": time.time(), "rss": self._proc.memory_info().rss, **fields}
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


def _compute(model, k: int, x: np.ndarray, skip: np.ndarray | None, params) -> _Witness:
    layer = model.layers[k]
    a = ops.linear(model, k, x, skip)
    if layer.kind == "maxpool":
        mp = maxpool.witness(layer, x, a)
        commitment, state = ligero.commit(maxpool.committed_vector(mp, layer), params)
        return _Witness(a, a, mp=mp, commitment=commitment, state=state)
    if not layer.requantized:
        return _Witness(a, a)
    q, r, y = ops.requantize(layer, a)
    out_grid = Grid(layer.out_shape)
    rq = requant.witness(layer, out_grid, q, r, y)
    vector = requant.committed_vector(rq, out_grid, layer.shift)
    commitment, state = ligero.commit(vector, params)
    return _Witness(a, y, rq, commitment=commitment, state=state)


def prove(
    model,
    x: np.ndarray,
    out_path: str | Path,
    schedule: str = "streaming",
    params: ligero.LigeroParams | None = None,
    events: str | Path | None = None,
    on_layer: Callable[[int, str], None] | None = None,
    private_input: bool = False,
) -> ProveResult:
    """Prove ``model`` on input ``x`` and write the proof to ``out_path`` section by section.

    With ``private_input`` the input is committed (with an int8 range lookup) instead of published; the
    statement then binds its commitment root.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    params = params or PR.default_params()
    check_model(model)
    x = ops.check_input(model, x)
    start, cpu_start = time.perf_counter(), time.process_time()
    log = EventLog(events)
    mode = "committed" if private_input else "public"
    header = PR.statement_header(model, params, schedule, x.shape, mode)
    writer = ProofWriter(out_path, header)
    try:
        alive: dict[int, _Alive] = {}
        claims: dict[int, list] = {k: [] for k in range(len(model.layers))}  # INPUT added when committed
        if private_input:
            transcript = _commit_input(model, x, params, writer, alive, claims)
        else:
            input_section = PR.tensor_section(x)
            writer.section(SECTION_INPUT, input_section)
            transcript = PR.start_transcript(header, input_section)
        result = _walk(model, x, schedule, params, transcript, writer, log, on_layer, alive, claims)
        writer.close()
    except BaseException:
        writer.abort()
        with contextlib.suppress(OSError):  # the error being raised says more than a failed last event
            log.close()
        raise
    log.close()
    result.proof_bytes = writer.bytes_written
    result.prove_s = time.perf_counter() - start
    result.prove_cpu_s = time.process_time() - cpu_start
    return result


@dataclass
class _Alive:
    """What outlives a layer's proof until its last consumer: the output and the commitment to open."""

    y: np.ndarray
    state: object
    act_bits: int


def _build_all(model, x, params, log: EventLog) -> Iterator[_Witness]:
    """Baseline: every layer's witness and commitment computed and held before any proof is made.

    The build phase emits its own layer events (phase "build"), so a run killed while building still
    names the layer it died in.
    """
    outputs: list[np.ndarray] = []
    built = []
    for k, layer in enumerate(model.layers):
        log.emit("start", layer=layer.name, index=k, phase="build")
        src = x if layer.source < 0 else outputs[layer.source]
        skip = None if layer.residual is None else (x if layer.residual < 0 else outputs[layer.residual])
        w = _compute(model, k, src, skip, params)
        outputs.append(w.y)
        built.append(w)
        log.emit("end", layer=layer.name, index=k, phase="build")
    return iter(built)


def _commit_input(model, x, params, writer, alive, claims):
    """Commit the private input and prove its int8 range; returns the transcript that binds its root."""
    grid = Grid(model.input_shape)
    values, mask, table = grid.pad(x), grid.mask(), PR.input_range_table()
    mult = lookup.multiplicities([values], mask, [table])
    vector = PR.input_layout(model.input_shape).assemble({"y": values, "m_rng": F.asbase(mult)})
    commitment, state = ligero.commit(vector, params)
    writer.section(SECTION_COMMIT, PR.CommitSection(commitment.root, PR.INPUT_RANGE_BITS))
    transcript = PR.start_transcript(writer.header, commitment.root)
    proof, rng = lookup.prove_lookup([values], mask, [table], mult, transcript, "input/range")
    writer.section(SECTION_LAYER, proof)
    claims[PR.INPUT] = [
        ("y", rng.witness_point, rng.witness_values[:, 0]),
        ("m_rng", rng.table_point, rng.multiplicity_value),
    ]
    alive[PR.INPUT] = _Alive(x, state, PR.INPUT_RANGE_BITS)
    return transcript


def _walk(model, x, schedule, params, transcript, writer, log, on_layer, alive, claims) -> ProveResult:
    """Prove every layer in order; ``alive`` maps a tensor index to what its consumers still need."""
    n = len(model.layers)
    last_use = PR.last_uses(model)
    private = PR.INPUT in claims
    prebuilt = _build_all(model, x, params, log) if schedule == "baseline" else None
    seconds = []
    output = None
    for k, layer in enumerate(model.layers):
        t0 = time.perf_counter()
        log.emit("start", layer=layer.name, index=k)
        if on_layer:
            on_layer(k, layer.name)
        label = PR.layer_label(k)
        src = x if layer.source < 0 else alive[layer.source].y
        skip = None
        if layer.residual is not None:
            skip = x if layer.residual < 0 else alive[layer.residual].y
        w = next(prebuilt) if prebuilt is not None else _compute(model, k, src, skip, params)
        out_grid = Grid(layer.out_shape)
        act_bits = w.table_bits if w.commitment is not None else 0
        if w.commitment is not None:
            writer.section(SECTION_COMMIT, PR.CommitSection(w.commitment.root, act_bits))
            transcript.absorb_bytes(f"{label}/root", w.commitment.root)
            transcript.absorb_int(f"{label}/act_bits", act_bits)
        if k == n - 1:
            output = w.y
            section = PR.tensor_section(output)
            writer.section(SECTION_OUTPUT, section)
            transcript.absorb_base("output", section.values)
        if w.mp is not None:
            proof, own_claims, (gamma, x_value) = maxpool.prove(
                layer, Grid(layer.in_shape).pad(src), w.mp, transcript, label
            )
            claims[k] += own_claims
        else:
            proof, gamma, x_value = _prove_affine(model, k, w, src, skip, transcript, claims)
        if layer.source >= 0 or private:
            claims[layer.source].append(("y", gamma, x_value))
        if k == n - 1 and w.commitment is not None:
            z_out = transcript.challenge_ext_vec(f"{label}/z_out", out_grid.num_vars)
            claims[k].append(("y", z_out, poly.evaluate(out_grid.pad(w.y), z_out)))
        writer.section(SECTION_LAYER, proof)
        alive[k] = _Alive(w.y, w.state, act_bits)
        del w
        for t in PR.openings_after(last_use, list(alive), k, n):
            _open(model, t, alive.pop(t), claims.pop(t), transcript, writer)
        log.emit("end", layer=layer.name, index=k)
        seconds.append(time.perf_counter() - t0)
    return ProveResult(np.asarray(output), 0, 0.0, seconds)


def _prove_affine(model, k: int, w: _Witness, src, skip, transcript, claims) -> tuple:
    """A linear map (+ bias, + residual) then requantization or an accumulator output; returns
    (LayerProof, gamma, x~(gamma)) and records the opening claims it creates."""
    layer = model.layers[k]
    label = PR.layer_label(k)
    out_grid, in_grid = Grid(layer.out_shape), Grid(layer.in_shape)
    z = transcript.challenge_ext_vec(f"{label}/z", out_grid.num_vars)
    q_value = r_value = None
    if w.rq is not None:
        q_value = poly.evaluate(w.rq.q, z)
        r_value = poly.evaluate(w.rq.r, z)
        transcript.absorb_ext(f"{label}/qr", np.stack([q_value, r_value], axis=1))
        claims[k] += [("q", z, q_value), ("r", z, r_value)]
        claim_a = requant.accumulator_claim(layer.shift, out_grid, z, q_value, r_value)
    else:
        claim_a = poly.evaluate(out_grid.pad(w.a), z)
    claim = F.ext_sub(claim_a, L.bias_eval(layer, model.bias(k) if layer.has_weights else None, z))
    residual_value = None
    if layer.residual is not None:
        residual_value = poly.evaluate(out_grid.pad(skip), z)
        transcript.absorb_ext(f"{label}/residual", residual_value)
        if layer.residual >= 0 or PR.INPUT in claims:  # a committed input is opened like a layer
            claims[layer.residual].append(("y", z, residual_value))
        scale = np.uint64(pow(2, layer.residual_shift, F.P))
        claim = F.ext_sub(claim, F.ext_scale(residual_value, scale))
    g = L.g_table(layer, model.weight(k) if layer.has_weights else None, z)
    linear, gamma, x_value = prove_linear(in_grid.pad(src), g, claim, transcript, f"{label}/linear")
    del g
    rq_proof = None
    if w.rq is not None:
        rq_proof, rq_claims = requant.prove(layer, out_grid, w.rq, transcript, label)
        claims[k] += rq_claims
    return PR.LayerProof(q_value, r_value, residual_value, linear, rq_proof), gamma, x_value


def _open(model, t: int, kept: _Alive, claims: list, transcript, writer) -> None:
    """Open commitment t at every point collected for it (one Ligero opening), write it, free it."""
    if kept.state is None:
        return
    lay = PR.commitment_layout(model, t, kept.act_bits)
    name = "input" if t == PR.INPUT else model.layers[t].name
    points = [lay.point(segment, z) for segment, z, _ in claims]
    values, proof = ligero.open(kept.state, points, transcript, PR.opening_label(t))
    for (segment, _, expected), got in zip(claims, values):
        if not F.ext_eq(expected, got):
            raise AssertionError(f"{name}: opening of {segment} disagrees with the prover's claim")
    writer.section(SECTION_OPENING, proof)
