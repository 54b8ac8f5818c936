"""`edgeprove run` (prove a model under a real RAM cap, verify outside it, report) and `edgeprove devices`:
argument parsing, printing and exit codes over `edgeprove.harness.pipeline`."""

from __future__ import annotations

import json
import shlex
import sys
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgeprove import cli
from edgeprove.cli import app
from edgeprove.cli.live import LiveProgress
from edgeprove.cli.proving import ZK_GROUP_HELP
from edgeprove.exitcodes import EXIT_USAGE, RUN_VERDICT_EXIT
from edgeprove.harness.devices import Device, DeviceError, load_catalog
from edgeprove.harness.pipeline import RunError, capped_run
from edgeprove.harness.progress import ProgressLines, ProgressTracker
from edgeprove.harness.report import summary
from edgeprove.harness.runner import BACKEND_NAMES
from edgeprove.harness.units import format_size
from edgeprove.process.interrupts import as_interrupted, signals_as_interrupt
from edgeprove.protocol import SCHEDULES


def fail(message: str, code: int) -> typer.Exit:
    """Print a one-line error on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


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
    table.add_row("verdict", f"[{style}]{word}[/] — {escape(str(report.get('verdict_reason', '')))}")
    table.add_row(
        "model",
        escape(
            f"{report.get('model')} ({report.get('schedule')})"
            + (f", device {report['device']}" if report.get("device") else "")
        ),
    )
    table.add_row("backend", escape(f"{report['backend']} — {report['backend_reason']}"))
    capped = report.get("capped", True)
    if capped:
        table.add_row("cap", format_size(cap))
    else:
        table.add_row("cap", f"none: no --ram or --device (machine RAM {format_size(cap)})")
    headroom = cap - report["peak_bytes"]
    table.add_row(
        "peak (kernel)",
        f"{format_size(report['kernel_peak_bytes'])}"
        + (f", headroom {format_size(headroom)}" if report["verdict"] == "fits" and capped else ""),
    )
    table.add_row("peak RSS", format_size(report["peak_rss_bytes"]))
    died = report["verdict"] == "oom"
    table.add_row(
        "died in layer" if died else "layer at peak", escape(str(report.get("peak_layer") or "n/a"))
    )
    table.add_row("predicted peak", format_size(report.get("predicted_peak_bytes")))
    prove_s = report.get("prove_s")
    cpu_s = (report.get("prover") or {}).get("prove_cpu_s")
    cpu = f" ({cpu_s:.2f} s CPU)" if isinstance(cpu_s, (int, float)) else ""
    table.add_row("prove time", f"{prove_s:.2f} s{cpu}" if isinstance(prove_s, (int, float)) else "n/a")
    threads = report.get("threads")
    spilled = ", waiting commitments on disk (--spill)" if report.get("spill") else ""
    table.add_row("prover", f"{threads} thread{'s' * (threads != 1)}{spilled}" if threads else "n/a")
    if report.get("tiles"):  # layer index:blocks, as `prove --tile` takes them
        table.add_row("tiling (--tile)", " ".join(f"{index}:{blocks}" for index, blocks in report["tiles"]))
    table.add_row("proof size", format_size(report.get("proof_bytes")))
    table.add_row("run folder", escape(str(report["report_dir"])))
    if report.get("memray_error"):
        table.add_row("memray", escape(f"no flamegraph: {report['memray_error']}"))
    console.print(table)
    if report.get("flamegraph"):  # on one line, unwrapped, so that it can be copied
        console.print(f"flamegraph: {report['flamegraph']}", soft_wrap=True, markup=False, highlight=False)
    sites = report.get("memray_top_sites", [])[:10]
    if sites:
        console.print("[bold]top allocation sites at the peak (memray)[/]")
    for site in sites:
        console.print(
            f"  {format_size(site['bytes']):>12}  {site['function']}  {site['file']}:{site['line']}",
            markup=False,
            highlight=False,
        )
    for note in report["notes"]:
        console.print(f"[dim]note: {escape(note)}[/]")
    if report.get("report_html"):  # last, on one line, so that it can be copied or clicked
        console.print(f"report: {report['report_html']}", soft_wrap=True, markup=False, highlight=False)


@app.command()
def run(
    model: str = typer.Argument("wc50", help="Zoo model name, compiled model folder or .onnx file."),
    ram: str | None = typer.Option(None, "--ram", help="Cap, e.g. 512M, 6G, 1.5GiB (binary units)."),
    device: str | None = typer.Option(
        None, "--device", help="Take the cap and cores from devices/NAME.toml."
    ),
    backend: str = typer.Option("auto", "--backend", help="|".join(BACKEND_NAMES)),
    schedule: str = typer.Option("streaming", "--schedule", help="|".join(SCHEDULES)),
    memray: bool = typer.Option(
        False, "--memray", help="Record with memray (slower, heavier) and write a flamegraph."
    ),
    out: str | None = typer.Option(None, "--out", help="Run folder (default profiles/runs/<time>-<model>)."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace an earlier run in --out (only a folder of run files) once this one ends.",
    ),
    image: str | None = typer.Option(None, "--image", help="Docker image for --backend docker."),
    input: str | None = typer.Option(
        None,
        "--input",
        help="Input tensor (.npy) for the prover: int8 values, or floats quantized with the model's input "
        "scale (default: a seeded random int8 input).",
    ),
    private_input: bool = typer.Option(
        False,
        "--private-input",
        help="Commit to the input (int8 range-checked) instead of publishing it; the proof is "
        "zero-knowledge.",
    ),
    no_zero_knowledge: bool = typer.Option(
        False,
        "--no-zero-knowledge",
        help="With --private-input: commit the input but prove without hiding the rest (not zero-knowledge).",
    ),
    zk_group_bits: int | None = typer.Option(
        None, "--zk-group-bits", metavar="BITS", help="The prover's --zk-group-bits. " + ZK_GROUP_HELP
    ),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object instead of the summary."),
    threads: int | None = typer.Option(
        None,
        "--threads",
        help="The prover's threads (default: the device's cores with --device, else the cores available).",
    ),
) -> None:
    """Prove MODEL inside a real RAM cap, verify the proof outside it, and say whether it fits.

    Where the planner says the proof would not fit the cap, the prover keeps commitments that wait for a
    later layer on disk (`prove --spill`) and, unless --threads is given, takes one thread: the first of
    these that fits.

    Exit codes: 0 fits, 3 does not fit, 4 proof rejected, 2 bad input, 5 backend unavailable, 6 this
    machine's float64 products are wrong, 1 error, 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP. Everything is
    checked before anything is created; the run folder appears, complete, only when the run ends.
    """
    if no_zero_knowledge and not private_input:
        typer.echo(
            "error: --no-zero-knowledge needs --private-input (a public input is in the proof)", err=True
        )
        raise typer.Exit(EXIT_USAGE)
    try:
        with signals_as_interrupt(then_ignore=cli.PROCESS_ENTRY):
            code = print_run(
                model,
                ram,
                device,
                backend,
                schedule,
                memray,
                out,
                force,
                image,
                json_output,
                input,
                private_input,
                threads,
                not no_zero_knowledge,
                zk_group_bits,
            )
    except KeyboardInterrupt as error:
        interrupted = as_interrupted(error)
        typer.echo(
            f"interrupted ({interrupted.signal_name}): the prover and its helpers were stopped and the cap "
            "removed; no run folder was written",
            err=True,
        )
        raise typer.Exit(interrupted.exit_code) from None
    raise typer.Exit(code)


def print_run(
    model: str,
    ram: str | None,
    device: str | None,
    backend: str,
    schedule: str,
    memray: bool,
    out: str | None,
    force: bool,
    image: str | None,
    json_output: bool,
    input_path: str | None = None,
    private_input: bool = False,
    threads: int | None = None,
    zero_knowledge: bool = True,
    zk_group_bits: int | None = None,
) -> int:
    """`edgeprove run` with signals raised as Interrupted: the capped run, its summary printed; returns the
    exit code."""
    options = {"--ram": ram, "--device": device, "--backend": backend, "--schedule": schedule, "--out": out}
    options.update({"--image": image, "--input": input_path})
    options["--threads"] = None if threads is None else str(threads)
    options["--zk-group-bits"] = None if zk_group_bits is None else str(zk_group_bits)
    command = shlex.join(
        ["edgeprove", "run", model]
        + [word for name, value in options.items() if value is not None for word in (name, value)]
        + [
            flag
            for flag, given in (
                ("--memray", memray),
                ("--force", force),
                ("--private-input", private_input),
                ("--no-zero-knowledge", private_input and not zero_knowledge),
                ("--json", json_output),
            )
            if given
        ]
    )
    console = Console()
    display: AbstractContextManager[ProgressTracker | None]
    if json_output:
        display = nullcontext(None)
    elif console.is_terminal:
        display = LiveProgress(console)
    else:
        display = nullcontext(ProgressLines(sys.stdout))
    try:
        with display as progress:
            report = capped_run(
                model,
                ram,
                device,
                backend,
                schedule,
                memray,
                out,
                force,
                image,
                progress,
                input_path,
                command,
                private_input=private_input,
                threads=threads,
                zero_knowledge=zero_knowledge,
                zk_group_bits=zk_group_bits,
            )
    except RunError as error:
        raise fail(str(error), error.code) from None
    if json_output:
        typer.echo(json.dumps(summary(report), default=str))
    else:
        print_summary(report, console)
    return RUN_VERDICT_EXIT[report["verdict"]]


@app.command()
def devices(
    wide: bool = typer.Option(
        False, "--wide", help="The full table: also total RAM, arch and where each budget comes from."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the catalog as JSON."),
) -> None:
    """List the device catalog: one line per device (name, the app's memory budget, cores, kind); `--wide`
    adds total RAM, arch and the budget's source."""
    try:
        catalog = load_catalog()
    except DeviceError as error:
        raise fail(str(error), EXIT_USAGE) from error
    if json_output:
        typer.echo(json.dumps([vars(device) for device in catalog]))
        return
    Console().print(wide_device_table(catalog) if wide else device_table(catalog))


def device_table(catalog: list[Device]) -> Table:
    """One line per device, within 80 columns: name, app budget, cores, kind and a short description."""
    table = Table(title="devices (edgeprove run --device NAME; --wide for sources)", box=None, pad_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("app budget", justify="right", no_wrap=True)
    table.add_column("cores", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("device", no_wrap=True, overflow="ellipsis", max_width=32)
    for entry in catalog:
        table.add_row(
            entry.name, format_size(entry.budget_bytes), str(entry.cores), entry.kind, entry.display_name
        )
    return table


def wide_device_table(catalog: list[Device]) -> Table:
    """The full catalog table: name, RAM, app budget, cores, arch and the budget's source."""
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
    return table
