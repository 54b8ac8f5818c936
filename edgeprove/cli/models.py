"""`edgeprove models`: list the zoo (computed from the architectures, nothing is built)."""

from __future__ import annotations

import dataclasses
import json

import typer
from rich.console import Console
from rich.table import Table

from edgeprove.cli import app
from edgeprove.model import zoo

PIPED_WIDTH = 160
"""Table width when the output is not a terminal (rich would otherwise assume 80 columns and truncate)."""


def short_count(value: int) -> str:
    """A count in three significant figures: 61.7K, 1.81M, 399M."""
    for scale, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "K")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return str(value)


@app.command()
def models(
    wide: bool = typer.Option(False, "--wide", help="Exact counts and the largest activation."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List the zoo models, one line each: parameters, weight layers, MACs, input shape, what it is;
    `--wide` gives the exact counts and the largest activation."""
    summaries = [zoo.summary(name) for name in zoo.names()]
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(item) for item in summaries], indent=1))
        return
    console = Console()
    if wide:
        if not console.is_terminal:
            console = Console(width=PIPED_WIDTH)
        console.print(wide_table(summaries))
    else:
        console.print(compact_table(summaries, console.width))


def compact_table(summaries: list[zoo.ZooSummary], width: int = 80) -> Table:
    """One line per model within `width` columns, counts rounded to three figures, the description cut to
    what is left."""
    title = f"edgeprove model zoo (v{zoo.ZOO_VERSION}; --wide for exact counts)"
    table = Table(title=title, box=None, pad_edge=False)
    rows = [
        [
            item.name,
            short_count(item.params),
            str(item.weight_layers),
            short_count(item.macs),
            "x".join(map(str, item.input_shape)),
        ]
        for item in summaries
    ]
    used = 0
    for position, column in enumerate(("name", "params", "layers", "MACs", "input")):
        widest = max(len(column), *(len(row[position]) for row in rows))
        justify = "left" if column in ("name", "input") else "right"
        table.add_column(column, justify=justify, no_wrap=True, width=widest)
        used += widest + 2  # and the gap to the next column
    table.add_column("description", no_wrap=True, overflow="ellipsis", width=max(12, width - used))
    for row, item in zip(rows, summaries):
        table.add_row(*row, item.description)
    return table


def wide_table(summaries: list[zoo.ZooSummary]) -> Table:
    """Every figure exactly: parameters, weight layers, MACs, input shape, largest activation."""
    table = Table(title=f"edgeprove model zoo (v{zoo.ZOO_VERSION})")
    for column in ("name", "params", "weight layers", "MACs", "input", "largest activation"):
        table.add_column(column, justify="left" if column in ("name", "input") else "right", no_wrap=True)
    table.add_column("description")
    for item in summaries:
        table.add_row(
            item.name,
            f"{item.params:,}",
            str(item.weight_layers),
            f"{item.macs:,}",
            "x".join(map(str, item.input_shape)),
            f"{item.largest_activation:,}",
            item.description,
        )
    return table
