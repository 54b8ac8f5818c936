"""The `edgeprove` command line: a thin typer layer over the library.

Each submodule registers its commands on `app`; exit codes are documented in README.md.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="edgeprove",
    help="Prove quantized neural-network inference layer by layer, and check that it fits a device's memory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2


def main() -> None:
    """Console-script entry point: register every command group, then dispatch."""
    from edgeprove.cli import bench, harness, models, onnx, proving, study  # noqa: F401  (registers commands)

    app()
