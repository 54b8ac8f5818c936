"""The capped-proof pipeline behind `edgeprove run`: check every argument, plan, prove under a real RAM cap,
verify outside it, judge the verdict and write the run folder (published complete, or not at all)."""

from __future__ import annotations

import errno
import math
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeprove.blas import InexactBLAS, require_exact_blas
from edgeprove.exitcodes import EXIT_BACKEND_UNAVAILABLE, EXIT_ERROR, EXIT_INEXACT_BLAS, EXIT_USAGE
from edgeprove.harness.backends import BackendUnavailable, CleanupError
from edgeprove.harness.children import child_environment, edgeprove_argv, last_json_object, run_child
from edgeprove.harness.devices import Device, DeviceError, find_device
from edgeprove.harness.environment import software_description
from edgeprove.harness.html_report import write_run_page
from edgeprove.harness.memray_tools import (
    MEMRAY_NOTE,
    memray_available,
    memray_stderr_note,
    top_sites,
    wrap_with_memray,
    write_flamegraph,
)
from edgeprove.harness.progress import ProgressTracker
from edgeprove.harness.report import PlotUnavailable, build_report, plot_timeline, write_report
from edgeprove.harness.runner import (
    BACKEND_NAMES,
    CapTooSmall,
    RunResult,
    check_cap,
    choose_backend,
    run_capped,
)
from edgeprove.harness.units import parse_size
from edgeprove.model.ir import ModelError
from edgeprove.model.resolve import check_input_header, check_model_spec
from edgeprove.process.atomic import exchange, reap_stale_temps, remove_path, temp_path
from edgeprove.process.interrupts import deferred_signals
from edgeprove.process.peak import physical_memory_bytes
from edgeprove.protocol import SCHEDULES, zk_params
from edgeprove.threads import available_cores
from edgeprove.threads import resolve as resolve_threads

DEFAULT_RUNS_DIR = Path("profiles") / "runs"
UNCAPPED_NOTE = (
    "no cap: a memray run without --ram or --device runs on backend none, and cap_bytes is this machine's "
    "RAM; add --ram or --device for a verdict about a device."
)
PLAN_TIMEOUT_S = 600
PLAN_MIN_DATA_BYTES = 2 << 30
"""The least private memory a run's planner child may take (RLIMIT_DATA; its cap when that is more):
`iris-seg`'s plan holds about 440 MiB, address space reserved beside it by BLAS and the allocator counts
too, and a planner that runs out only loses the prediction."""
RUN_FILES = frozenset(
    {
        "report.json",
        "report.html",
        "timeline.png",
        "proof.bin",
        "events.jsonl",
        "child.stdout",
        "child.stderr",
        "memray.bin",
        "flamegraph.html",
    }
)
"""Every file a run writes in its folder: --force replaces only a folder holding nothing else."""


class RunError(Exception):
    """A run refused or cut short: its one-line message (for stderr) and its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def prover_command(
    model: str,
    schedule: str,
    proof: Path,
    events: Path,
    input_path: str | None = None,
    *,
    private_input: bool = False,
    threads: int | None = None,
    spill: bool = False,
    tiles: tuple[tuple[int, int], ...] = (),
    zero_knowledge: bool = True,
    zk_group_bits: int | None = None,
) -> list[str]:
    """The capped child: `edgeprove prove MODEL --schedule S --out PROOF --json --events EVENTS`, with
    `--input PATH` when an input file is given, `--private-input` when the input is committed (and
    `--no-zero-knowledge` when its proof is not to be zero-knowledge, `--zk-group-bits BITS` when a group
    size is given), `--threads N` when a thread count is, `--spill` when waiting states go to disk and
    `--tile INDEX:BLOCKS` for each tiled layer."""
    extra = ["--input", input_path] if input_path is not None else []
    extra += hiding_options(private_input, zero_knowledge, zk_group_bits)
    extra += ["--threads", str(threads)] if threads is not None else []
    extra += ["--spill"] if spill else []
    for index, blocks in tiles:
        extra += ["--tile", f"{index}:{blocks}"]
    return edgeprove_argv(
        "prove", model, "--schedule", schedule, "--out", str(proof), "--json", "--events", str(events), *extra
    )


def hiding_options(private_input: bool, zero_knowledge: bool, zk_group_bits: int | None) -> list[str]:
    """The `prove` and `plan` options of a proof's input mode: `--private-input`, `--no-zero-knowledge` and
    `--zk-group-bits BITS` as they apply."""
    extra = ["--private-input"] if private_input else []
    extra += ["--no-zero-knowledge"] if private_input and not zero_knowledge else []
    extra += ["--zk-group-bits", str(zk_group_bits)] if zk_group_bits is not None else []
    return extra


def verify_command(proof: Path, model: str) -> list[str]:
    """The uncapped check: `edgeprove verify PROOF --model MODEL --json` (exit 0 accepted, 1 rejected)."""
    return edgeprove_argv("verify", str(proof), "--model", model, "--json")


def check_model(
    model: str,
    schedule: str,
    *,
    threads: int | None = None,
    private_input: bool = False,
    spill: bool = False,
    fit: int | None = None,
    memory: int | None = None,
    zero_knowledge: bool = True,
    zk_group_bits: int | None = None,
) -> dict[str, Any]:
    """Check MODEL with the planner in a child process and return its plan (`peak_bytes`, `layers`,
    `tiles`; empty if unknown), for the prover's `threads` when given, with waiting states on disk when
    `spill` and with the tiling the planner chooses to fit `fit` bytes when given.  With `memory` (the
    run's cap) the planner's own memory is bounded by it, or by PLAN_MIN_DATA_BYTES when that is more: its
    integer inference pass runs outside the cap, and a small hostile model can ask it for gigabytes.

    The planner exits 2 for an unknown model or an unreadable ONNX file or manifest: that is bad input, and
    its one-line message is ours. Any other planner failure only loses the prediction.
    """
    try:
        extra = ["--threads", str(threads)] if threads is not None else []
        extra += hiding_options(private_input, zero_knowledge, zk_group_bits)
        extra += ["--spill"] if spill else []
        extra += ["--fit", str(fit)] if fit is not None else []
        completed = run_child(
            edgeprove_argv("plan", model, "--schedule", schedule, "--json", *extra),
            PLAN_TIMEOUT_S,
            data_limit=None if memory is None else max(memory, PLAN_MIN_DATA_BYTES),
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if completed.returncode == EXIT_USAGE:
        message = (completed.stderr.strip().splitlines() or [f"model {model!r} cannot be loaded"])[-1]
        raise RunError(message.removeprefix("error: "), EXIT_USAGE)
    return last_json_object(completed.stdout) if completed.returncode == 0 else {}


def checked_input(input_path: str, input_shape: object) -> str:
    """The input file as the prover child gets it (absolute: it runs in the run folder), its header checked
    against the model's input shape as the planner reported it (RunError, exit 2, otherwise)."""
    path = Path(input_path)
    shape = tuple(input_shape) if isinstance(input_shape, list) else None
    try:
        check_input_header(path, shape if shape and all(isinstance(v, int) for v in shape) else None)
    except ModelError as error:
        raise RunError(f"--input: {error}", EXIT_USAGE) from None
    return str(path.resolve())


def model_argument(model: str) -> str:
    """MODEL as the children get it: a zoo name as it is (it wins over a file of that name), an existing
    path made absolute (they run in the run folder)."""
    from edgeprove.model import zoo

    if model in zoo.names() or not Path(model).exists():
        return model
    return str(Path(model).resolve())


def resolve_cap(ram: str | None, device_name: str | None) -> tuple[int, Device | None]:
    """The cap in bytes and the device it came from, from exactly one of --ram and --device."""
    if (ram is None) == (device_name is None):
        raise RunError(
            "give exactly one of --ram SIZE (e.g. 6G) or --device NAME (see `edgeprove devices`); "
            "--memray alone records without a cap",
            EXIT_USAGE,
        )
    if ram is not None:
        try:
            return parse_size(ram), None
        except ValueError as error:
            raise RunError(str(error), EXIT_USAGE) from error
    try:
        device = find_device(str(device_name))
    except DeviceError as error:
        raise RunError(str(error), EXIT_USAGE) from error
    return device.budget_bytes, device


def machine_ram() -> int:
    """This machine's physical memory in bytes: the bound of a run without a cap."""
    return physical_memory_bytes()


def default_run_dir(model: str, schedule: str) -> Path:
    """profiles/runs/<UTC time>-<model>-<schedule>, unique per run."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = Path(model).stem.replace(os.sep, "_")
    return DEFAULT_RUNS_DIR / f"{stamp}-{name}-{schedule}-{os.getpid()}"


def check_run_dir(out: str | None, model: str, schedule: str, force: bool) -> Path:
    """The absolute run folder, checked before anything is created.

    An existing non-empty folder is refused unless --force, and even then unless it holds only files a run
    writes (RUN_FILES): --force never replaces a folder of anything else.
    """
    if out is None:
        return default_run_dir(model, schedule).resolve()
    if not out.strip():
        raise RunError("--out is empty; give the run folder's path", EXIT_USAGE)
    try:
        run_dir = Path(out).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop
        raise RunError(f"--out {out}: a symbolic link loop or an unresolvable path", EXIT_USAGE) from None
    try:
        if run_dir.exists() and not run_dir.is_dir():
            raise RunError(f"--out {out} is a file, not a folder", EXIT_USAGE)
        existing = next(folder for folder in [run_dir.parent, *run_dir.parent.parents] if folder.exists())
        if not os.access(existing, os.W_OK | os.X_OK):
            raise RunError(f"--out {out}: cannot write in {existing}", EXIT_USAGE)
        entries = sorted(entry.name for entry in run_dir.iterdir()) if run_dir.is_dir() else []
    except OSError as exc:  # a name too long for the file system, and the like
        raise RunError(f"--out {out[:80]}: {exc.strerror}", EXIT_USAGE) from None
    if entries and not force:
        raise RunError(
            f"--out {out} is not empty; choose a new folder, or --force to replace the run in it", EXIT_USAGE
        )
    foreign = [name for name in entries if name not in RUN_FILES]
    if foreign:
        raise RunError(
            f"--out {out} holds {foreign[0]!r}, which is no run's file; not replacing it", EXIT_USAGE
        )
    return run_dir


def make_parents(run_dir: Path) -> list[Path]:
    """Create the run folder's missing ancestors; returns those created, deepest first, for undoing."""
    missing = []
    for ancestor in run_dir.parents:
        if ancestor.exists():
            break
        missing.append(ancestor)
    try:
        for ancestor in reversed(missing):
            ancestor.mkdir()
    except OSError as error:
        remove_empty(missing)
        raise RunError(f"cannot create run folder {run_dir}: {error.strerror}", EXIT_USAGE) from error
    return missing


def remove_empty(folders: list[Path]) -> None:
    """Remove folders (deepest first) that are still empty; others are kept."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def publish(staging: Path, run_dir: Path, replace: bool) -> None:
    """Move the finished run folder into place in one rename; with `replace`, an earlier run there is swapped
    out atomically and deleted. Without it, a folder filled meanwhile makes this fail (ENOTEMPTY)."""
    try:
        os.rename(staging, run_dir)
        return
    except OSError as error:
        if not replace or error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    exchange(staging, run_dir)
    remove_path(staging)


def verify_outside_cap(proof: Path, model: str) -> tuple[str, str]:
    """Verify the proof without a cap: ('fits'|'rejected'|'error', the reason)."""
    if not proof.exists():
        return "error", "the prover exited 0 but wrote no proof file"
    completed = run_child(verify_command(proof, model))
    detail = (completed.stdout.strip().splitlines() or completed.stderr.strip().splitlines() or [""])[-1]
    if completed.returncode == 0:
        return "fits", "the proof verified outside the cap"
    if completed.returncode == 1:
        return "rejected", detail
    return "error", f"verify exited {completed.returncode}: {detail}"


def memray_details(work: Path, run_dir: Path) -> dict[str, Any]:
    """Flamegraph HTML and top allocation sites at the peak, made in `work` and named as in `run_dir`;
    failures become a note, not a crash."""
    capture = work / "memray.bin"
    if not capture.exists():
        return {"memray_error": "no memray capture was written (the child died before memray started)"}
    details: dict[str, Any] = {"memray_capture": str(run_dir / capture.name)}
    try:
        write_flamegraph(capture, work / "flamegraph.html")
        details["flamegraph"] = str(run_dir / "flamegraph.html")
        details["memray_top_sites"] = top_sites(capture)
    except Exception as error:  # a truncated capture (OOM kill) can fail in many ways
        details["memray_error"] = f"{type(error).__name__}: {error}"
    return details


def judge(
    result: RunResult, proof: Path, model: str, progress: ProgressTracker | None = None
) -> tuple[str, str]:
    """The verdict and its one-line reason: oom, error, or (after verifying) fits / rejected."""
    if result.does_not_fit:
        how = result.overrun
        if progress is not None:
            where = f" in layer {result.peak_layer}" if result.peak_layer else ""
            progress.phase("prove", f"{how}{where} after {result.wall_s:.1f} s")
        return "oom", how
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [""])[-1]
        return "error", f"prover exited {result.returncode}: {last}"
    if progress is not None:
        progress.phase("verify", f"prover done in {result.wall_s:.1f} s; verifying the proof outside the cap")
    return verify_outside_cap(proof, model)


def capped_run(
    model: str,
    ram: str | None,
    device: str | None,
    backend: str,
    schedule: str,
    memray: bool,
    out: str | None,
    force: bool,
    image: str | None,
    progress: ProgressTracker | None = None,
    input_path: str | None = None,
    command: str | None = None,
    private_input: bool = False,
    threads: int | None = None,
    zero_knowledge: bool = True,
    zk_group_bits: int | None = None,
) -> dict[str, Any]:
    """Check every argument, run in a staging folder beside the run folder and publish it; returns the
    report. Everything is checked before anything is created, starting with this machine's float64 products
    (`edgeprove.blas`); RunError otherwise. `progress` gets a line per phase and the prover's progress.
    `input_path` is the prover's --input (a seeded int8 input without it); its header is checked against the
    model's input shape before the run. `private_input` commits the input instead of publishing it, in a
    zero-knowledge proof unless `zero_knowledge` is False, its layers sharing hiding commitments of up to
    2^`zk_group_bits` entries when given (the prover's default otherwise). `command` (the command line as
    typed) goes into the report. `threads` is the prover's --threads (default: the device's cores when
    --device names one, else the cores available; one when the planner predicts that more would not fit
    the cap).

    A memray run may go without --ram and --device: it then runs on backend `none`, nothing capped, with the
    machine's RAM standing as the cap in the report (`capped` false)."""
    try:
        require_exact_blas()
    except InexactBLAS as error:
        raise RunError(str(error), EXIT_INEXACT_BLAS) from None
    capped = not (memray and ram is None and device is None)
    if capped:
        cap, chosen_device = resolve_cap(ram, device)
    else:
        if backend not in ("auto", "none"):
            raise RunError(
                f"--backend {backend} needs a cap: give --ram SIZE or --device NAME, or drop --backend to "
                "record with memray without a cap",
                EXIT_USAGE,
            )
        backend, cap, chosen_device = "none", machine_ram(), None
    if backend not in BACKEND_NAMES:
        raise RunError(f"unknown backend {backend!r}; choose one of {', '.join(BACKEND_NAMES)}", EXIT_USAGE)
    if schedule not in SCHEDULES:
        raise RunError(f"unknown schedule {schedule!r}; choose streaming or baseline", EXIT_USAGE)
    try:
        zk_params(zk_group_bits, private_input and zero_knowledge)
    except ValueError as error:
        raise RunError(str(error), EXIT_USAGE) from None
    chosen_threads = threads is not None
    threads = prover_threads(threads, chosen_device)
    try:
        check_model_spec(model)
    except ModelError as error:
        raise RunError(str(error), EXIT_USAGE) from None
    run_dir = check_run_dir(out, model, schedule, force)
    if memray and not memray_available():
        raise RunError(
            "--memray needs memray, which is not installed here. Fix: pip install 'edgeprove[memray]'",
            EXIT_BACKEND_UNAVAILABLE,
        )
    try:
        check_cap(cap)
        choose_backend(backend, image)
    except CapTooSmall as error:
        raise RunError(str(error), EXIT_USAGE) from error
    except BackendUnavailable as error:
        raise RunError(str(error), EXIT_BACKEND_UNAVAILABLE) from error
    if progress is not None:
        progress.phase("plan", f"checking {model} ({schedule}) with the planner")
    hiding = {"private_input": private_input, "zero_knowledge": zero_knowledge}
    hiding["zk_group_bits"] = zk_group_bits
    plan = check_model(model, schedule, threads=threads, **hiding, memory=cap) or {}
    spill = False
    if capped and plan.get("peak_bytes", 0) > cap:
        threads, spill, plan = fitting_settings(model, schedule, threads, chosen_threads, hiding, cap, plan)
    peak, layers = plan.get("peak_bytes"), plan.get("layers")
    if input_path is not None:
        input_path = checked_input(input_path, plan.get("input_shape"))
    settings = RunSettings(
        model_argument(model),
        schedule,
        cap,
        chosen_device,
        backend,
        memray,
        image,
        peak if isinstance(peak, int) else None,
        capped,
        tuple(entry for entry in layers if isinstance(entry, dict)) if isinstance(layers, list) else None,
        input_path,
        threads,
        private_input,
        spill,
        plan_tiles(plan),
        zero_knowledge,
        zk_group_bits,
    )
    created = make_parents(run_dir)
    reap_stale_temps(run_dir.parent)
    staging = temp_path(run_dir)
    try:
        staging.mkdir()
        report = prove_and_report(settings, staging, run_dir, progress)
        report["command"] = command
        report["environment"] = software_description()
        report["report_html"] = str(run_dir / "report.html")
        write_report(report, staging)
        timeline = staging / "timeline.png"
        write_run_page(report, staging, timeline if timeline.exists() else None)
        with deferred_signals():
            publish(staging, run_dir, replace=force)
    except BaseException as error:
        with deferred_signals():
            remove_path(staging)
            remove_empty(created)
        if isinstance(error, OSError):
            reason = error.strerror or str(error)
            raise RunError(
                f"cannot write the run folder {run_dir}: {reason}; nothing was kept", EXIT_ERROR
            ) from None
        raise
    return report


@dataclass(frozen=True)
class RunSettings:
    """A checked `edgeprove run`: model (paths absolute), schedule, cap, device, backend, memray, image, and
    the planner's predicted peak and layers."""

    model: str
    schedule: str
    cap: int
    device: Device | None
    backend: str
    memray: bool
    image: str | None
    predicted: int | None
    capped: bool = True
    plan_layers: tuple[dict[str, Any], ...] | None = None
    """The planner's rows per layer (name, predicted process bytes); None when the plan is unknown."""
    input_path: str | None = None
    threads: int | None = None
    """The prover's --threads (None: its own default)."""
    private_input: bool = False
    spill: bool = False
    """The prover's --spill: states that wait for a later layer kept on disk."""
    tiles: tuple[tuple[int, int], ...] = ()
    """The prover's --tile options: the tiling the planner chose to fit the cap (empty: none)."""
    zero_knowledge: bool = True
    """With a private input, whether its proof is zero-knowledge (else `--no-zero-knowledge`)."""
    zk_group_bits: int | None = None
    """The prover's --zk-group-bits (None: its default group size)."""


def plan_tiles(plan: dict[str, Any]) -> tuple[tuple[int, int], ...]:
    """The tiling a planner child's plan lists (its `tiles`), as (index, blocks) pairs; none if malformed."""
    tiles = plan.get("tiles")
    pairs = tiles if isinstance(tiles, list) else []
    if not all(isinstance(p, list) and len(p) == 2 and all(type(v) is int for v in p) for p in pairs):
        return ()
    return tuple((index, blocks) for index, blocks in pairs)


def fitting_settings(
    model: str,
    schedule: str,
    threads: int,
    chosen_threads: bool,
    hiding: dict[str, Any],
    cap: int,
    unfitting: dict[str, Any],
) -> tuple[int, bool, dict[str, Any]]:
    """Threads, spilling and plan for a run whose plan (``unfitting``) does not fit the cap as it is: the
    first of these the planner says fits, else the last (the least memory): waiting states on disk at the
    same threads, then, unless --threads was given, one thread, then one thread with states on disk (states
    go to disk on the streaming schedule only); when none fits, streaming, that last one with the tiling
    the planner chooses for the cap (its plan lists it under `tiles`).  ``hiding`` is the planner's
    `private_input`, `zero_knowledge` and `zk_group_bits`."""
    spills = (False, True) if schedule == "streaming" else (False,)
    tries = [(count, spill) for count in dict.fromkeys((threads, 1)) for spill in spills]
    if chosen_threads:
        tries = [(count, spill) for count, spill in tries if count == threads]
    count, spill, plan = threads, False, unfitting
    for count, spill in tries[1:]:  # the first is the plan that does not fit
        settings = {"threads": count, **hiding, "spill": spill}
        plan = check_model(model, schedule, **settings, memory=cap) or {}
        if plan.get("peak_bytes", 0) <= cap:
            return count, spill, plan
    if schedule == "streaming":  # the least memory without one still does not fit: tile its largest layers
        settings = {"threads": count, **hiding, "spill": spill}
        plan = check_model(model, schedule, **settings, fit=cap, memory=cap) or plan
    return count, spill, plan


def prover_threads(threads: int | None, device: Device | None) -> int:
    """The prover's threads: as given (checked; RunError, exit 2, otherwise), else the device's cores
    (those this machine has), else the cores this process may run on."""
    if threads is None and device is not None:
        return min(device.cores, available_cores())
    try:
        return resolve_threads(threads)
    except ValueError as error:
        raise RunError(f"--threads: {error}", EXIT_USAGE) from None


PROVER_RECORD_BYTES = 1 << 16
"""What the prover's JSON line takes beside its output values."""
BYTES_PER_OUTPUT_VALUE = 48
"""Most characters one output value takes in that line: dequantized, as an integer and separators."""


def prover_record(stdout: str, path: Path, plan_layers: tuple[dict[str, Any], ...] | None) -> dict[str, Any]:
    """The prover's JSON line: from the kept tail of its stdout or, when a large output made the line longer
    than that tail, from the whole file, read only if its size is what the model's output can take (and
    kept without the output's values: the proof holds them)."""
    record = last_json_object(stdout)
    if record or not plan_layers or not path.is_file():
        return record
    values = math.prod(int(size) for size in plan_layers[-1].get("out_shape", ()))
    if path.stat().st_size > PROVER_RECORD_BYTES + BYTES_PER_OUTPUT_VALUE * values:
        return {}
    record = last_json_object(path.read_text(errors="replace"))
    return {key: value for key, value in record.items() if key not in ("output", "output_int")}


def prove_and_report(
    settings: RunSettings, work: Path, run_dir: Path, progress: ProgressTracker | None = None
) -> dict[str, Any]:
    """Prove under the cap with `work` as the child's folder, verify, and draw the timeline there; the
    report names the files as they will be in `run_dir`."""
    model, schedule, chosen_device = settings.model, settings.schedule, settings.device
    proof, events = work / "proof.bin", work / "events.jsonl"
    argv = prover_command(
        model,
        schedule,
        Path(proof.name),
        Path(events.name),
        settings.input_path,
        private_input=settings.private_input,
        threads=settings.threads,
        spill=settings.spill,
        tiles=settings.tiles,
        zero_knowledge=settings.zero_knowledge,
        zk_group_bits=settings.zk_group_bits,
    )
    if settings.memray:
        argv = wrap_with_memray(argv, Path("memray.bin"))
    cores = chosen_device.cores if chosen_device is not None else None
    if progress is not None:
        layers = len(settings.plan_layers) if settings.plan_layers is not None else None
        progress.start_proving(settings.cap if settings.capped else None, layers)
    try:
        result = run_capped(
            argv,
            settings.cap,
            backend=settings.backend,
            events_path=events,
            cwd=work,
            out_dir=work,
            cpus=cores,
            image=settings.image,
            env=child_environment(),
            progress=progress.proving if progress is not None else None,
        )
        verdict, reason = judge(result, proof, model, progress)
        if not settings.capped and verdict == "fits":
            reason = "the proof verified; nothing was capped"
    except BackendUnavailable as error:
        raise RunError(str(error), EXIT_BACKEND_UNAVAILABLE) from error
    except CleanupError as error:
        raise RunError(str(error), EXIT_ERROR) from error
    prover = prover_record(result.stdout, work / "child.stdout", settings.plan_layers)
    finished = result.returncode == 0
    proof_size = proof.stat().st_size if proof.exists() else None
    details: dict[str, Any] = {
        "verdict_reason": reason,
        "model": model,
        "schedule": schedule,
        "device": chosen_device.name if chosen_device else None,
        "cores": min(cores, available_cores()) if cores is not None else None,
        "threads": settings.threads,
        "spill": settings.spill,
        "tiles": [list(pair) for pair in settings.tiles],
        "predicted_peak_bytes": settings.predicted,
        "prove_s": prover.get("prove_s", round(result.wall_s, 6) if finished else None),
        "proof_bytes": prover.get("proof_bytes", proof_size if finished else None),
        "report_dir": str(run_dir),
        "capped": settings.capped,
        "prover": prover,
    }
    if settings.memray:
        details.update(memray_details(work, run_dir))
    report = build_report(result, verdict, list(settings.plan_layers or ()), **details)
    if settings.memray:
        report["notes"].append(MEMRAY_NOTE)
        stderr_note = memray_stderr_note(result.stderr)
        if stderr_note:
            report["notes"].append(stderr_note)
    if not settings.capped:
        report["notes"] = [note for note in report["notes"] if not note.startswith("none:")]
        report["notes"].append(UNCAPPED_NOTE)
    try:
        plot_timeline(report, work / "timeline.png")
        report["timeline_png"] = str(run_dir / "timeline.png")
    except PlotUnavailable as error:
        report["notes"].append(str(error))
    return report
