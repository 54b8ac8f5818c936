"""`edgeprove prove`, `verify` and `plan`: thin wrappers over prover, verifier and planner.

Exit codes (`edgeprove.exitcodes`): 0 success / accepted; 1 proof rejected; 2 usage error, unknown or
mismatched model, bad input, or a proof that cannot be written (an existing file is then kept); 6 this
machine's float64 products are wrong (the start-up self-test, `edgeprove.blas`); `prove` interrupted:
130 Ctrl-C, 143 SIGTERM, 129 SIGHUP, the old proof kept.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgeprove import cli
from edgeprove.blas import InexactBLAS, require_exact_blas
from edgeprove.cli import app
from edgeprove.exitcodes import EXIT_INEXACT_BLAS, EXIT_REJECTED, EXIT_USAGE
from edgeprove.harness.units import parse_size
from edgeprove.model.ir import ModelError
from edgeprove.process.interrupts import as_interrupted, signals_as_interrupt
from edgeprove.process.peak import own_peak_rss_bytes
from edgeprove.protocol import INPUT_PRIVACY, SCHEDULES, input_privacy
from edgeprove.verifier import MIN_SECURITY_BITS

err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print a one-line error on stderr (the message is plain text, never markup) and return the Exit."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _require_exact_blas() -> None:
    """The start-up self-test of float64 products: one line and exit 6 where they are wrong."""
    try:
        require_exact_blas()
    except InexactBLAS as exc:
        raise _fail(str(exc), EXIT_INEXACT_BLAS) from None


def _threads(threads: int | None) -> int:
    """--threads as given (checked), or the cores this process may run on."""
    from edgeprove import threads as TH

    try:
        return TH.resolve(threads)
    except ValueError as exc:
        raise _fail(f"--threads: {exc}") from None


def _model(spec: str):
    from edgeprove.model.resolve import load_model

    try:
        return load_model(spec)
    except ModelError as exc:
        raise _fail(str(exc)) from None


TILE_HELP = (
    "Prove layer LAYER (a name or an index) with its tile group a block of output channels at a time, in "
    "BLOCKS blocks (2-64): LAYER:BLOCKS, repeatable. A lower peak for more, smaller commitments; the "
    "proof's header names the tiling and the verifier follows it."
)
"""What --tile does (`prove` and `plan`)."""


def _tiles(model, specs: list[str]):
    """--tile LAYER:BLOCKS options as the model's tiling, checked (one line and exit 2 otherwise)."""
    from edgeprove.model.tiling import tile

    names = {layer.name: index for index, layer in enumerate(model.layers)}
    pairs = {}
    for spec in specs:
        layer, _, blocks = spec.rpartition(":")
        index = names.get(layer, layer)
        try:
            index, blocks = int(index), int(blocks)
        except ValueError:
            raise _fail(f"--tile {spec[:80]!r}: expected LAYER:BLOCKS, a layer name or index") from None
        if not 0 <= index < len(model.layers):
            raise _fail(f"--tile {spec[:80]!r}: the model has no layer {layer[:40]!r}")
        pairs[index] = blocks
    tiles = tuple(sorted(pairs.items()))
    try:
        tile(model, tiles)
    except ModelError as exc:
        raise _fail(f"--tile: {exc}") from None
    return tiles


def _proof_target(out: str, events: Path | None, reads: list[str]) -> Path:
    """The --out path, checked before any work: a new or regular file in an existing folder, neither the
    events file nor anything the command reads (``reads``: the model's file or folder and the input), so a
    proof never replaces a device, a FIFO or the user's own input."""
    if not out.strip():
        raise _fail("--out is empty; give the proof file's path")
    target = Path(out)
    try:
        if target.is_dir():
            raise _fail(f"--out {out} is a folder; give the proof file's path")
        resolved = Path(os.path.realpath(target))  # never raises, even on a symbolic link loop
        if resolved.exists() and not resolved.is_file():
            raise _fail(f"--out {out} is not a regular file (a device, FIFO or socket); give a file's path")
        folder = resolved.parent
        if not folder.is_dir():
            raise _fail(f"--out {out}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise _fail(f"--out {out}: cannot write in {folder}")
        events_resolved = None if events is None else Path(os.path.realpath(events))
        for name, given, written in (("--out", out, resolved), ("--events", events, events_resolved)):
            for source in reads if written is not None else []:
                read = Path(os.path.realpath(source))
                if written == read or (read.is_dir() and written.is_relative_to(read)):
                    raise _fail(f"{name} {given} would overwrite {source}, which this command reads")
        if events_resolved is not None:
            if events_resolved == resolved:
                raise _fail(f"--events and --out both name {out}; give the events their own file")
            if not events_resolved.parent.is_dir():
                raise _fail(f"--events {events}: folder {events_resolved.parent} does not exist")
    except OSError as exc:  # a name too long for the file system, and the like
        raise _fail(f"--out {out[:80]}: {exc.strerror}") from None
    return target


def _read_paths(model: str, input: Path | None) -> list[str]:
    """What `prove` reads from disk: the model's file or compiled folder (a zoo name is none; a folder
    without a manifest is no model, and is refused as such) and the input."""
    from edgeprove.model import compiled, zoo

    paths = [] if model in zoo.names() else [model]
    paths += [] if input is None else [str(input)]
    found = [path for path in paths if os.path.lexists(path)]
    return [path for path in found if not os.path.isdir(path) or (Path(path) / compiled.MANIFEST).is_file()]


SPILL_HELP = (
    "Keep each commitment that waits for a later layer's opening in an unlinked temporary file beside the "
    "proof instead of in memory: a lower peak for some disk writes, the same proof (streaming schedule)."
)
"""What --spill does (`prove` and `plan`)."""
PRIVATE_HELP = (
    "Commit to the input (int8 range-checked) instead of publishing it; the proof is then zero-knowledge: "
    "it reveals nothing about the input beyond the output."
)
ZK_GROUP_HELP = (
    "Zero-knowledge proofs: consecutive layers share one hiding commitment while their vectors fit in "
    "2^BITS entries (0 to 32; 0 commits every layer alone; default 18). Larger groups send fewer bytes and "
    "hold more memory at once (README, 'Private inputs and zero knowledge')."
)
NO_ZK_HELP = (
    "With --private-input: commit the input but prove without hiding the rest (smaller and faster; the "
    "proof's values then reveal information about the input, and verify does not call it private)."
)


def _zk_params(group_bits: int | None, zero_knowledge: bool) -> object | None:
    """The commitment parameters --zk-group-bits asks for (None: the default); exit 2 when it cannot apply."""
    from edgeprove.protocol import zk_params

    try:
        return zk_params(group_bits, zero_knowledge)
    except ValueError as exc:
        raise _fail(str(exc)) from None


@app.command()
def prove(
    model: str = typer.Argument(..., help="Zoo model name, compiled model folder or .onnx file."),
    out: str = typer.Option(
        ..., "--out", help="Where to write the proof (replaced only once the new proof is complete)."
    ),
    input: Path | None = typer.Option(
        None,
        "--input",
        help="Input tensor (.npy) of the model's input shape, with or without a batch axis: int8 values, "
        "or floats quantized with the model's input scale.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of a random int8 input (when no --input)."),
    schedule: str = typer.Option("streaming", "--schedule", help="streaming or baseline."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object with the results."),
    events: Path | None = typer.Option(None, "--events", help="Write per-layer JSON-lines events here."),
    private_input: bool = typer.Option(False, "--private-input", help=PRIVATE_HELP),
    no_zero_knowledge: bool = typer.Option(False, "--no-zero-knowledge", help=NO_ZK_HELP),
    zk_group_bits: int | None = typer.Option(None, "--zk-group-bits", metavar="BITS", help=ZK_GROUP_HELP),
    threads: int | None = typer.Option(
        None,
        "--threads",
        help="Threads for independent work (encoding, the next layer's commitment); default: the cores "
        "available. The proof is the same for any count.",
    ),
    spill: bool = typer.Option(False, "--spill", help=SPILL_HELP),
    tile: list[str] = typer.Option([], "--tile", metavar="LAYER:BLOCKS", help=TILE_HELP),
) -> None:
    """Prove the model's integer inference on an input; the proof is written as it is made.

    With a public input (the default) the input is in the proof, which is not zero-knowledge. With
    --private-input the proof is zero-knowledge: it reveals nothing about the input beyond the output.

    It goes to a temporary file beside --out that replaces it only when complete: Ctrl-C, SIGTERM, SIGKILL
    or a full disk leave an existing file as it was.
    """
    if no_zero_knowledge and not private_input:
        raise _fail("--no-zero-knowledge needs --private-input (a public input is in the proof anyway)")
    params = _zk_params(zk_group_bits, private_input and not no_zero_knowledge)
    _require_exact_blas()
    threads = _threads(threads)
    try:
        with signals_as_interrupt(then_ignore=cli.PROCESS_ENTRY):
            _prove(
                model,
                _proof_target(out, events, _read_paths(model, input)),
                input,
                seed,
                schedule,
                json_out,
                events,
                private_input,
                threads,
                spill,
                tile,
                private_input and not no_zero_knowledge,
                params,
            )
    except KeyboardInterrupt as error:
        interrupted = as_interrupted(error)
        err.print(
            f"interrupted ({interrupted.signal_name}): no proof written; {out} is as it was", highlight=False
        )
        raise typer.Exit(interrupted.exit_code) from None


def _prove(
    model: str,
    out: Path,
    input: Path | None,
    seed: int,
    schedule: str,
    json_out: bool,
    events: Path | None,
    private_input: bool,
    threads: int,
    spill: bool,
    tile: list[str],
    zero_knowledge: bool,
    params: object | None,
) -> None:
    """The body of `prove`, run with signals raised as Interrupted (``params``: the commitment's, None for
    the default)."""
    from edgeprove import prover
    from edgeprove.model import ops
    from edgeprove.model.resolve import check_seed, load_input, seeded_input

    if schedule not in SCHEDULES:
        raise _fail(f"unknown schedule {schedule!r}; choose streaming or baseline")
    try:
        check_seed(seed)
    except ModelError as exc:
        raise _fail(f"--seed: {exc}") from None
    m = _model(model)
    tiles = _tiles(m, tile)
    try:
        x, quantization = load_input(m, input) if input is not None else (seeded_input(m, seed), None)
    except ModelError as exc:
        raise _fail(str(exc)) from None
    if quantization is not None and not json_out:
        err.print(f"input {escape(str(input))}: {escape(quantization.summary())}", highlight=False)
    show_progress = not json_out and sys.stderr.isatty()
    try:
        if show_progress:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("proving", total=len(m.layers))

                def step(k: int, name: str) -> None:
                    bar.update(task, completed=k, description=f"proving {name}")

                result = prover.prove(
                    m,
                    x,
                    out,
                    schedule=schedule,
                    events=events,
                    on_layer=step,
                    private_input=private_input,
                    threads=threads,
                    spill=spill,
                    tiles=tiles,
                    zero_knowledge=zero_knowledge,
                    params=params,
                )
        else:
            result = prover.prove(
                m,
                x,
                out,
                schedule=schedule,
                events=events,
                private_input=private_input,
                threads=threads,
                spill=spill,
                tiles=tiles,
                zero_knowledge=zero_knowledge,
                params=params,
            )
    except ModelError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{_os_error(exc, out, events)}; no proof written, {out} is as it was") from None
    record = {
        "model": m.name,
        "digest": m.digest,
        "schedule": schedule,
        "input_mode": "committed" if private_input else "public",
        "zero_knowledge": zero_knowledge,
        "input_quantization": None if quantization is None else quantization.to_dict(),
        "output": [float(v) for v in ops.dequantize(m, result.output).ravel()],
        "output_int": [int(v) for v in result.output.ravel()],
        "prove_s": round(result.prove_s, 4),
        "prove_cpu_s": round(result.prove_cpu_s, 4),
        "threads": result.threads,
        "spill": spill,
        "tiles": [list(pair) for pair in tiles],
        "proof_bytes": result.proof_bytes,
        "peak_rss_mb": round(own_peak_rss_bytes() / 2**20, 1),
        "layers": len(m.layers),
        "proof": str(out),
    }
    if json_out:
        print(json.dumps(record))
        return
    err.print(
        f"[green]proved[/green] {m.name} ({schedule}) in {result.prove_s:.2f} s; "
        f"proof {result.proof_bytes:,} bytes -> {out}; peak RSS {record['peak_rss_mb']} MiB"
    )


@app.command()
def verify(
    proof: Path = typer.Argument(..., help="Proof file."),
    model: str | None = typer.Option(
        None,
        "--model",
        help="The model to check against: a zoo name, or a compiled-model folder or .onnx file by path "
        "(default: the zoo model the proof names; a proof never chooses a path).",
    ),
    min_security_bits: float = typer.Option(
        MIN_SECURITY_BITS,
        "--min-security-bits",
        min=0,
        max=256,
        help="Reject proofs whose commitment parameters give fewer bits of security.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object with the verdict."),
) -> None:
    """Verify a proof: exit 0 accepted, 1 rejected (with the reason), 2 usage or model errors, 6 no verdict:
    this machine's float64 products are wrong.

    The verdict names the model's digest, so it can be compared with the one expected."""
    import time

    from edgeprove import verifier
    from edgeprove.model import zoo
    from edgeprove.proof import ProofFormatError

    _require_exact_blas()
    try:
        found = proof.is_file()
    except OSError as exc:  # a name too long for the file system, and the like
        raise _fail(f"no proof file at {str(proof)[:80]}: {exc.strerror}") from None
    if not found:
        raise _fail(f"no proof file at {proof}")
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        header = verifier.read_header(proof)
    except ProofFormatError as exc:
        _report_verdict(False, f"rejected: {exc}", None, json_out, 0.0, None)
        raise typer.Exit(EXIT_REJECTED) from None
    claimed = f"{header['model'][:60]} (digest {header['digest'][:16]}…)"
    spec = header["model"] if model is None else model
    if model is None and spec not in zoo.names():
        raise _fail(
            f"the proof names model {spec[:60]!r}, which is not a zoo model; "
            "pass --model with its compiled folder or .onnx file"
        )
    pinned = zoo.pinned_digests().get(spec) if spec in zoo.names() else None
    if pinned is not None and header["digest"] != pinned:  # refused before the model is built
        raise _fail(f"the proof is for model {claimed}, not {spec} (digest {pinned[:16]}…)")
    m = _model(spec)
    if header["digest"] != m.digest:
        raise _fail(f"the proof is for model {claimed}, not {m.name} (digest {m.digest[:16]}…)")
    result = verifier.verify(proof, m, min_security_bits=min_security_bits)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    privacy = input_privacy(header) if result.accepted else None
    _report_verdict(result.accepted, result.reason, result.output, json_out, elapsed, m, cpu, privacy)
    if not result.accepted:
        raise typer.Exit(EXIT_REJECTED)


def _os_error(exc: OSError, out: Path, events: Path | None) -> str:
    """One line for an OSError while proving, naming its file: the proof, the events or another."""
    name = None if exc.filename is None else Path(exc.filename)
    if events is not None and name == events:
        return f"cannot write the events file {events}: {exc.strerror}"
    if name is None or name.parent == out.parent:  # the proof file, or a temporary file beside it
        return f"cannot write the proof file {out}: {exc.strerror}"
    return f"{name}: {exc.strerror}"


def _report_verdict(
    accepted: bool,
    reason: str,
    output,
    json_out: bool,
    seconds: float,
    model,
    cpu_seconds: float = 0.0,
    privacy: str | None = None,
) -> None:
    """The verdict on stdout as JSON, or on stderr; both name the model and its digest, and an accepted
    proof what it says about its input (``protocol.input_privacy``)."""
    if json_out:
        out = None if output is None else [int(v) for v in output.ravel()]
        print(
            json.dumps(
                {
                    "accepted": accepted,
                    "reason": reason,
                    "model": None if model is None else model.name,
                    "digest": None if model is None else model.digest,
                    "verify_s": round(seconds, 4),
                    "verify_cpu_s": round(cpu_seconds, 4),
                    "peak_rss_mb": round(own_peak_rss_bytes() / 2**20, 1),
                    "output_int": out,
                    "input": privacy,
                }
            )
        )
    elif accepted:
        said = "" if privacy is None else f"; {INPUT_PRIVACY[privacy]}"
        err.print(
            f"[green]accepted[/green] ({escape(model.name)}, digest {model.digest[:16]}…, {seconds:.2f} s)"
            f"{escape(said)}"
        )
    else:
        text = reason if reason.startswith("rejected") else f"rejected: {reason}"
        if model is not None:
            text += f" (model {model.name}, digest {model.digest[:16]}…)"
        err.print(text, style="red", highlight=False, markup=False)


@app.command()
def plan(
    model: str = typer.Argument(..., help="Zoo model name, compiled model folder or .onnx file."),
    schedule: str = typer.Option("streaming", "--schedule", help="streaming or baseline."),
    json_out: bool = typer.Option(False, "--json", help="Print the prediction as JSON."),
    private_input: bool = typer.Option(
        False,
        "--private-input",
        help="Predict `prove --private-input`: the input committed and range-checked, the proof "
        "zero-knowledge.",
    ),
    no_zero_knowledge: bool = typer.Option(
        False, "--no-zero-knowledge", help="Predict `prove --private-input --no-zero-knowledge`."
    ),
    zk_group_bits: int | None = typer.Option(
        None, "--zk-group-bits", metavar="BITS", help="Predict `prove --zk-group-bits`. " + ZK_GROUP_HELP
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="The prover's threads (default: the cores available, as `prove` takes)."
    ),
    spill: bool = typer.Option(False, "--spill", help="Predict `prove --spill`. " + SPILL_HELP),
    tile: list[str] = typer.Option(
        [], "--tile", metavar="LAYER:BLOCKS", help="Predict `prove --tile`. " + TILE_HELP
    ),
    fit: str | None = typer.Option(
        None,
        "--fit",
        metavar="SIZE",
        help="Choose the tiling: double the blocks of the largest layers' tile groups until the predicted "
        "peak is at most SIZE (e.g. 512M), or as low as the planner finds; the plan lists it under tiles.",
    ),
) -> None:
    """Predict each layer's working set and the peak memory of a proving run, from shapes alone."""
    from edgeprove import plan as planner
    from edgeprove.model.bounds import check_model

    if schedule not in SCHEDULES:
        raise _fail(f"unknown schedule {schedule!r}; choose streaming or baseline")
    threads = _threads(threads)
    m = _model(model)
    try:
        check_model(m)
    except ModelError as exc:
        raise _fail(str(exc)) from None
    if no_zero_knowledge and not private_input:
        raise _fail("--no-zero-knowledge needs --private-input (a public input is in the proof anyway)")
    tiles = _tiles(m, tile)
    settings = {"schedule": schedule, "threads": threads, "private_input": private_input, "spill": spill}
    settings["zero_knowledge"] = private_input and not no_zero_knowledge
    params = _zk_params(zk_group_bits, settings["zero_knowledge"])
    if params is not None:
        settings["params"] = params
    if fit is not None and tiles:
        raise _fail("--fit chooses the tiling: give --tile or --fit, not both")
    if fit is not None:
        try:
            budget = parse_size(fit)
        except ValueError as exc:
            raise _fail(f"--fit: {exc}") from None
        try:
            prediction = planner.fit(m, budget, **settings)
        except ModelError as exc:
            raise _fail(str(exc)) from None
    else:
        try:
            prediction = planner.predict(m, tiles=tiles, **settings)
        except ModelError as exc:
            raise _fail(str(exc)) from None
    if json_out:
        print(json.dumps(prediction.to_dict()))
        return
    spilled = ", states on disk" if spill else ""
    table = Table(
        title=f"{m.name}: predicted memory ({schedule}, {threads} thread{'s' * (threads > 1)}{spilled})"
    )
    for col in ("#", "layer", "kind", "output", "working set MiB", "process MiB"):
        table.add_column(col, justify="right" if col not in ("layer", "kind", "output") else "left")
    for row in prediction.layers:
        table.add_row(
            str(row.index),
            row.name,
            row.kind,
            "x".join(map(str, row.out_shape)),
            f"{row.working_bytes / 2**20:.1f}",
            f"{row.process_bytes / 2**20:.1f}",
        )
    Console().print(table)
    Console().print(
        f"predicted peak: [bold]{prediction.peak_bytes / 2**20:.1f} MiB[/bold] at {prediction.peak_layer}"
    )
    if prediction.tiles:
        listed = " ".join(f"--tile {m.layers[index].name}:{blocks}" for index, blocks in prediction.tiles)
        Console().print(f"tiling: {listed}", highlight=False, soft_wrap=True)
