"""`edgeprove study SUITE`: run a suite of capped proofs (and peer provers); write JSONs, README, charts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from edgeprove.cli import app
from edgeprove.exitcodes import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from edgeprove.harness.units import format_size

VERDICT_STYLE = {"fits": "green", "ok": "green", "oom": "red", "timeout": "red", "rejected": "red"}


def describe(record: dict[str, Any]) -> str:
    """One progress line for a finished run: verdict, prove time, peak."""
    verdict = record.get("verdict", "?")
    style = VERDICT_STYLE.get(verdict, "yellow")
    prove_s = record.get("prove_s")
    time_text = f"{prove_s:.2f} s" if isinstance(prove_s, (int, float)) else "–"
    where = f" (under {escape(str(record['arch']))} emulation)" if record.get("arch") else ""
    return (
        f"[{style}]{escape(str(verdict))}[/]  prove {time_text}{where}  "
        f"peak {format_size(record.get('peak_bytes'))}"
    )


@app.command()
def study(
    suite_name: str = typer.Argument(..., metavar="SUITE", help="A suite in streaming/ or a path to a TOML."),
    out: Path | None = typer.Option(None, "--out", help="Results folder (default profiles/<suite>)."),
    only: str | None = typer.Option(None, "--only", help="Run only run ids matching this glob or word."),
    force: bool = typer.Option(False, "--force", help="Run again even where a result exists."),
) -> None:
    """Run a study suite: one JSON per run in OUT/runs/, then OUT/README.md with tables and charts.

    Resumable: runs with a JSON are skipped. Exit codes: 0 the suite completed (runs that do not fit are
    results), 1 some runs could not be carried out, 2 usage or bad suite, 130 Ctrl-C (partial results kept).
    """
    from edgeprove.study.results import DEFAULT_PROFILES
    from edgeprove.study.runner import run_suite
    from edgeprove.study.suites import SuiteError, load_suite, select_runs

    try:
        suite = load_suite(suite_name)
    except SuiteError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if not select_runs(suite.runs, only):
        typer.echo(f"error: no run of suite {suite.name} matches --only {only!r}", err=True)
        raise typer.Exit(EXIT_USAGE)
    out_dir = Path(os.path.realpath(out or DEFAULT_PROFILES / suite.name))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        typer.echo(f"error: cannot create {out_dir}: {error.strerror}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    console = Console()
    console.print(
        f"[bold]{escape(suite.title)}[/] — {len(suite.runs)} runs, results in {escape(str(out_dir))}"
    )

    status = console.status("checking which runs are done", spinner="dots")
    counter = {"position": ""}

    def on_start(spec: Any, position: int, total: int) -> None:
        counter["position"] = f"[{position}/{total}]"
        status.update(
            f"{counter['position']} {escape(f'{spec.run_id} (model {spec.model}, cap {spec.cap_label})')}"
        )

    def on_done(spec: Any, record: dict[str, Any] | None, error: str | None) -> None:
        result = (
            describe(record) if record is not None else f"[bold yellow]could not run[/]: {escape(str(error))}"
        )
        console.print(f"[dim]{counter['position']}[/] {escape(spec.run_id)}  {result}")

    try:
        with status:
            outcome = run_suite(suite, out_dir, only, force, on_start, on_done)
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted[/]: finished runs are kept; run the same command to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    console.print(
        f"{len(outcome.done)} run(s) done, {len(outcome.skipped)} skipped (already done), "
        f"{len(outcome.failed)} could not run; README: {outcome.readme}"
    )
    console.print(f"index: {outcome.index}", soft_wrap=True, markup=False, highlight=False)
    if outcome.chart_note:
        console.print(f"[dim]note: {escape(outcome.chart_note)}[/]")
    raise typer.Exit(EXIT_ERROR if outcome.failed else EXIT_OK)
