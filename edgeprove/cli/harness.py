"""`edgeprove run` (prove a model under a real RAM cap, verify outside it, report) and `edgeprove devices`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from edgeprove.cli import EXIT_OK, EXIT_USAGE, app
from edgeprove.harness.backends import BackendUnavailable, CleanupError
from edgeprove.harness.devices import Device, DeviceError, find_device, load_catalog
from edgeprove.harness.memray_tools import (
    MEMRAY_NOTE,
    memray_available,
    top_sites,
    wrap_with_memray,
    write_flamegraph,
)
from edgeprove.harness.runner import (
    BACKEND_NAMES,
    CapTooSmall,
    RunResult,
    check_cap,
    choose_backend,
    run_capped,
)
from edgeprove.harness.units import format_size, parse_size
from edgeprove.model.ir import ModelError
from edgeprove.model.resolve import check_model_spec
from edgeprove.report import PlotUnavailable, build_report, plot_timeline, summary, write_report

EXIT_ERROR = 1
EXIT_DOES_NOT_FIT = 3
EXIT_PROOF_REJECTED = 4
EXIT_BACKEND_UNAVAILABLE = 5
EXIT_INTERRUPTED = 130
SCHEDULES = ("streaming", "baseline")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RUNS_DIR = Path("profiles") / "runs"
ENTRY_POINT = "import sys; from edgeprove.cli import main; sys.exit(main())"
PLAN_TIMEOUT_S = 600
VERDICT_EXIT = {
    "fits": EXIT_OK,
    "oom": EXIT_DOES_NOT_FIT,
    "rejected": EXIT_PROOF_REJECTED,
    "error": EXIT_ERROR,
}


def edgeprove_argv(*arguments: str) -> list[str]:
    """The argv that runs an edgeprove command in a fresh interpreter (this one's executable)."""
    return [sys.executable, "-c", ENTRY_POINT, *arguments]


def prover_command(model: str, schedule: str, proof: Path, events: Path) -> list[str]:
    """The capped child: `edgeprove prove MODEL --schedule S --out PROOF --json --events EVENTS`."""
    return edgeprove_argv(
        "prove", model, "--schedule", schedule, "--out", str(proof), "--json", "--events", str(events)
    )


def verify_command(proof: Path, model: str) -> list[str]:
    """The uncapped check: `edgeprove verify PROOF --model MODEL --json` (exit 0 accepted, 1 rejected)."""
    return edgeprove_argv("verify", str(proof), "--model", model, "--json")


def child_environment(threads: int | None) -> dict[str, str]:
    """This environment, with the project importable and the thread pools sized to the device's cores."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
    return env


def predict_peak(model: str, schedule: str) -> int | None:
    """The planner's predicted peak (`edgeprove plan ... --json`); None if it is missing or fails."""
    try:
        completed = subprocess.run(
            edgeprove_argv("plan", model, "--schedule", schedule, "--json"),
            capture_output=True,
            text=True,
            timeout=PLAN_TIMEOUT_S,
            env=child_environment(None),
            check=False,
        )
        peak = last_json_object(completed.stdout).get("peak_bytes") if completed.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None
    return peak if isinstance(peak, int) else None


def last_json_object(text: str) -> dict[str, Any]:
    """The last line of `text` that parses as a JSON object ({} when none does)."""
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def fail(message: str, code: int) -> typer.Exit:
    """Print a one-line error on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def resolve_cap(ram: str | None, device_name: str | None) -> tuple[int, Device | None]:
    """The cap in bytes and the device it came from, from exactly one of --ram and --device."""
    if (ram is None) == (device_name is None):
        raise fail(
            "give exactly one of --ram SIZE (e.g. 6G) or --device NAME (see `edgeprove devices`)", EXIT_USAGE
        )
    if ram is not None:
        try:
            return parse_size(ram), None
        except ValueError as error:
            raise fail(str(error), EXIT_USAGE) from error
    try:
        device = find_device(str(device_name))
    except DeviceError as error:
        raise fail(str(error), EXIT_USAGE) from error
    return device.budget_bytes, device


def default_run_dir(model: str, schedule: str) -> Path:
    """profiles/runs/<UTC time>-<model>-<schedule>, unique per run."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = Path(model).stem.replace(os.sep, "_")
    return DEFAULT_RUNS_DIR / f"{stamp}-{name}-{schedule}-{os.getpid()}"


def verify_outside_cap(proof: Path, model: str) -> tuple[str, str]:
    """Verify the proof without a cap: ('fits'|'rejected'|'error', the reason)."""
    if not proof.exists():
        return "error", "the prover exited 0 but wrote no proof file"
    completed = subprocess.run(
        verify_command(proof, model), capture_output=True, text=True, check=False, env=child_environment(None)
    )
    detail = (completed.stdout.strip().splitlines() or completed.stderr.strip().splitlines() or [""])[-1]
    if completed.returncode == 0:
        return "fits", "the proof verified outside the cap"
    if completed.returncode == 1:
        return "rejected", detail
    return "error", f"verify exited {completed.returncode}: {detail}"


def memray_details(capture: Path, run_dir: Path) -> dict[str, Any]:
    """Flamegraph HTML and top allocation sites at the peak; failures become a note, not a crash."""
    if not capture.exists():
        return {"memray_error": "no memray capture was written (the child died before memray started)"}
    details: dict[str, Any] = {"memray_capture": str(capture)}
    try:
        details["flamegraph"] = str(write_flamegraph(capture, run_dir / "flamegraph.html"))
        details["memray_top_sites"] = top_sites(capture)
    except Exception as error:  # a truncated capture (OOM kill) can fail in many ways
        details["memray_error"] = f"{type(error).__name__}: {error}"
    return details


def judge(result: RunResult, proof: Path, model: str) -> tuple[str, str]:
    """The verdict and its one-line reason: oom, error, or (after verifying) fits / rejected."""
    if result.does_not_fit:
        how = "OOM-killed by the kernel" if result.oom_killed else "allocation failed at the cap"
        return "oom", how
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [""])[-1]
        return "error", f"prover exited {result.returncode}: {last}"
    return verify_outside_cap(proof, model)


def print_summary(report: dict[str, Any], console: Console) -> None:
    """The human summary: verdict, backend and why, cap, peaks, layer at the peak, prediction, time."""
    styles = {
        "fits": ("FITS", "bold green"),
        "oom": ("DOES NOT FIT", "bold red"),
        "rejected": ("PROOF REJECTED", "bold red"),
        "error": ("ERROR", "bold yellow"),
    }
    word, style = styles[report["verdict"]]
    cap = report["cap_bytes"]
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("verdict", f"[{style}]{word}[/] — {report.get('verdict_reason', '')}")
    table.add_row(
        "model",
        f"{report.get('model')} ({report.get('schedule')})"
        + (f", device {report['device']}" if report.get("device") else ""),
    )
    table.add_row("backend", f"{report['backend']} — {report['backend_reason']}")
    table.add_row("cap", format_size(cap))
    headroom = cap - report["peak_bytes"]
    table.add_row(
        "peak (kernel)",
        f"{format_size(report['kernel_peak_bytes'])}"
        + (f", headroom {format_size(headroom)}" if report["verdict"] == "fits" else ""),
    )
    table.add_row("peak RSS", format_size(report["peak_rss_bytes"]))
    table.add_row("layer at peak", str(report.get("peak_layer") or "n/a"))
    table.add_row("predicted peak", format_size(report.get("predicted_peak_bytes")))
    prove_s = report.get("prove_s")
    table.add_row("prove time", f"{prove_s:.2f} s" if isinstance(prove_s, (int, float)) else "n/a")
    table.add_row("proof size", format_size(report.get("proof_bytes")))
    table.add_row("report", str(report["report_dir"]))
    console.print(table)
    for site in report.get("memray_top_sites", [])[:10]:
        console.print(
            f"  {format_size(site['bytes']):>12}  {site['function']}  {site['file']}:{site['line']}"
        )
    for note in report["notes"]:
        console.print(f"[dim]note: {note}[/]")


@app.command()
def run(
    model: str = typer.Argument("wc50", help="Zoo model name, compiled model folder or .onnx file."),
    ram: str | None = typer.Option(None, "--ram", help="Cap, e.g. 512M, 6G, 1.5GiB (binary units)."),
    device: str | None = typer.Option(
        None, "--device", help="Take the cap and cores from devices/NAME.toml."
    ),
    backend: str = typer.Option("auto", "--backend", help="auto|cgroup2|systemd|cgroup1|docker|rlimit|none"),
    schedule: str = typer.Option("streaming", "--schedule", help="streaming|baseline"),
    memray: bool = typer.Option(
        False, "--memray", help="Record with memray (slower, heavier) and write a flamegraph."
    ),
    out: Path | None = typer.Option(None, "--out", help="Run folder (default profiles/runs/<time>-<model>)."),
    image: str | None = typer.Option(None, "--image", help="Docker image for --backend docker."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object instead of the summary."),
) -> None:
    """Prove MODEL inside a real RAM cap, verify the proof outside it, and say whether it fits.

    Exit codes: 0 fits, 3 does not fit, 4 proof rejected, 2 usage, 5 backend unavailable, 1 error, 130 Ctrl-C.
    """
    cap, chosen_device = resolve_cap(ram, device)
    if backend not in BACKEND_NAMES:
        raise fail(f"unknown backend {backend!r}; choose one of {', '.join(BACKEND_NAMES)}", EXIT_USAGE)
    if schedule not in SCHEDULES:
        raise fail(f"unknown schedule {schedule!r}; choose streaming or baseline", EXIT_USAGE)
    try:
        check_model_spec(model)
    except ModelError as error:
        raise fail(str(error), EXIT_USAGE) from None
    if memray and not memray_available():
        raise fail(
            "--memray needs memray, which is not installed here. Fix: pip install 'edgeprove[memray]'",
            EXIT_BACKEND_UNAVAILABLE,
        )
    try:
        check_cap(cap)
        choose_backend(backend, image)
    except CapTooSmall as error:
        raise fail(str(error), EXIT_USAGE) from error
    except BackendUnavailable as error:
        raise fail(str(error), EXIT_BACKEND_UNAVAILABLE) from error
    run_dir = (out or default_run_dir(model, schedule)).resolve()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise fail(f"cannot create run folder {run_dir}: {error.strerror}", EXIT_USAGE) from error
    proof, events = run_dir / "proof.bin", run_dir / "events.jsonl"
    events.unlink(missing_ok=True)
    argv = prover_command(model, schedule, proof, events)
    capture = run_dir / "memray.bin"
    if memray:
        argv = wrap_with_memray(argv, capture)
    cores = chosen_device.cores if chosen_device is not None else None
    threads = min(cores, len(os.sched_getaffinity(0))) if cores is not None else None
    try:
        predicted = predict_peak(model, schedule)
        result = run_capped(
            argv,
            cap,
            backend=backend,
            events_path=events,
            out_dir=run_dir,
            cpus=cores,
            image=image,
            env=child_environment(threads),
        )
        verdict, reason = judge(result, proof, model)
    except BackendUnavailable as error:
        raise fail(str(error), EXIT_BACKEND_UNAVAILABLE) from error
    except CleanupError as error:
        raise fail(str(error), EXIT_ERROR) from error
    except KeyboardInterrupt:
        typer.echo("interrupted: the child was killed and its cap removed", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    prover = last_json_object(result.stdout)
    finished = result.returncode == 0
    proof_size = proof.stat().st_size if proof.exists() else None
    details: dict[str, Any] = {
        "verdict_reason": reason,
        "model": model,
        "schedule": schedule,
        "device": chosen_device.name if chosen_device else None,
        "cores": threads,
        "predicted_peak_bytes": predicted,
        "prove_s": prover.get("prove_s", round(result.wall_s, 6) if finished else None),
        "proof_bytes": prover.get("proof_bytes", proof_size if finished else None),
        "report_dir": str(run_dir),
        "prover": prover,
    }
    if memray:
        details.update(memray_details(capture, run_dir))
    report = build_report(result, verdict, **details)
    if memray:
        report["notes"].append(MEMRAY_NOTE)
    try:
        report["timeline_png"] = str(plot_timeline(report, run_dir / "timeline.png"))
    except PlotUnavailable as error:
        report["notes"].append(str(error))
    write_report(report, run_dir)
    if json_output:
        typer.echo(json.dumps(summary(report), default=str))
    else:
        print_summary(report, Console())
    raise typer.Exit(VERDICT_EXIT[verdict])


@app.command()
def devices(json_output: bool = typer.Option(False, "--json", help="Print the catalog as JSON.")) -> None:
    """List the device catalog: name, RAM, the app's memory budget, cores, arch and the budget's source."""
    try:
        catalog = load_catalog()
    except DeviceError as error:
        raise fail(str(error), EXIT_USAGE) from error
    if json_output:
        typer.echo(json.dumps([vars(device) for device in catalog]))
        return
    table = Table(title="devices (edgeprove run --device NAME)")
    for column in ("name", "RAM", "app budget", "cores", "arch", "source"):
        table.add_column(column, overflow="fold")
    for entry in catalog:
        table.add_row(
            entry.name,
            format_size(entry.ram_bytes),
            format_size(entry.budget_bytes),
            str(entry.cores),
            entry.arch,
            entry.source,
        )
    Console().print(table)
