"""`edgeprove bench`: the proof-system core benchmarks, each in its own process."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgeprove.cli import app
from edgeprove.exitcodes import EXIT_USAGE


@app.command()
def bench(
    only: list[str] = typer.Option(None, "--only", help="Run just these (field, sumcheck, commit, lookup)."),
    quick: bool = typer.Option(False, "--quick", help="Small sizes (a smoke run, not a measurement)."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as one JSON object."),
) -> None:
    """Median times and peak RSS of the core pieces: 2^20 sumcheck and commit, 2^16 lookup."""
    from edgeprove import bench as B

    names = only or list(B.BENCHMARKS)
    unknown = [n for n in names if n not in B.BENCHMARKS]
    if unknown:
        listed = escape(", ".join(unknown))
        Console(stderr=True).print(
            f"[red]error:[/red] unknown benchmark(s) {listed}; choose from {', '.join(B.BENCHMARKS)}"
        )
        raise typer.Exit(EXIT_USAGE)
    results = {}
    console = Console(stderr=True)
    for name in names:
        with console.status(f"benchmark {name}…"):
            results[name] = B.run_isolated(name, quick)
    if json_out:
        print(json.dumps(results))
        return
    table = Table(title="edgeprove core benchmarks" + (" (quick)" if quick else ""))
    for col in ("benchmark", "result", "peak RSS MiB"):
        table.add_column(col)
    for name, r in results.items():
        table.add_row(name, _describe(name, r), f"{r['peak_rss_bytes'] / 2**20:.0f}")
    Console().print(table)


def _describe(name: str, r: dict) -> str:
    target = (
        f" (target ≤ {r['target_seconds']} s: {'met' if r['meets_target'] else 'MISSED'})"
        if "target_seconds" in r
        else ""
    )
    if name == "field":
        return (
            f"base mul {r['base_mul_per_s'] / 1e6:.0f} M/s, ext mul {r['ext_mul_per_s'] / 1e6:.1f} M/s, "
            f"ext inner product {r['ext_inner_per_s'] / 1e6:.1f} M/s (2^{r['log_n']})"
        )
    if name == "sumcheck":
        return (
            f"degree 2, 2^{r['log_n']}: prove {r['prove_seconds']:.3f} s{target}, "
            f"verify {r['verify_seconds']:.4f} s"
        )
    if name == "commit":
        return (
            f"2^{r['log_n']} elements: commit {r['commit_seconds']:.3f} s{target}, "
            f"open at 4 points {r['open_seconds']:.3f} s, verify {r['verify_seconds']:.3f} s, "
            f"proof {r['proof_bytes'] / 1024:.0f} KiB, {r['security_bits']:.0f} bits, commit extra "
            f"{r['commit_peak_extra_bytes'] / 2**20:.1f} MiB, state {r['state_bytes'] / 2**20:.1f} MiB "
            f"({r['state_bytes'] / 2 ** r['log_n']:.1f} B per element)"
        )
    return (
        f"2^{r['log_n']} lookups into 2^{r['log_table']}: prove {r['prove_seconds']:.3f} s{target}, "
        f"verify {r['verify_seconds']:.3f} s"
    )
