"""The `edgeprove` command line: a thin typer layer over the library.

Each submodule registers its commands on `app`; exit codes are in `edgeprove.exitcodes` (and README.md).
"""

from __future__ import annotations

import typer
import typer.core


def _flag_type_hidden(display_type_rich):  # type: ignore[no-untyped-def]
    """Wrap TyperOption.display_type_rich so that a flag (one that takes no value, as `--json` or `--help`)
    shows no type column in `--help`; some typer releases print `<bool>` there, as if it took a value."""

    def display(self, ctx):  # type: ignore[no-untyped-def]
        return None if getattr(self, "is_flag", False) else display_type_rich(self, ctx)

    return display


if hasattr(typer.core.TyperOption, "display_type_rich"):
    typer.core.TyperOption.display_type_rich = _flag_type_hidden(typer.core.TyperOption.display_type_rich)

app = typer.Typer(
    name="edgeprove",
    help="Prove quantized neural-network inference layer by layer, and check that it fits a device's memory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
PROCESS_ENTRY = False
"""True when the command runs as the process (main()): its exit is the interpreter's, so after an
interruption its signals stay ignored until then. False when the app is called in-process (tests)."""


def main() -> None:
    """Console-script entry point: register every command group, then dispatch.

    BLAS runs single-threaded unless the environment says otherwise: our GEMMs are small or skinny, and
    measured on 2 cores a second BLAS thread only spins (FC_50_layers prove 14.4 s -> 9.2 s wall, verify
    2.8 s -> 1.6 s, with other work on the machine).  This must happen before numpy is imported.
    """
    import os

    global PROCESS_ENTRY
    PROCESS_ENTRY = True
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    full_app()()


def full_app() -> typer.Typer:
    """The app with every command registered (each module adds its own on import)."""
    from edgeprove.cli import bench, harness, models, onnx, proving, study  # noqa: F401

    return app
