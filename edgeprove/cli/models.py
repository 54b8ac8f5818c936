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


@app.command()
def models(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List the zoo models: parameters, weight layers, MACs, input shape and largest activation."""
    summaries = [zoo.summary(name) for name in zoo.names()]
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(item) for item in summaries], indent=1))
        return
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
    console = Console()
    if not console.is_terminal:
        console = Console(width=PIPED_WIDTH)
    console.print(table)
