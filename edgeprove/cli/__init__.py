"""The `edgeprove` command line: a thin typer layer over the library.

Each submodule registers its commands on `app`; exit codes are in `edgeprove.exitcodes` (and README.md).
"""

from __future__ import annotations

import sys

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
    command = typer.main.get_command(full_app())
    try:
        code = command.main(prog_name="edgeprove", standalone_mode=False)
    except Exception as error:
        if not is_usage_error(error):
            raise
        typer.echo(usage_error_line(error, getattr(command, "commands", {}), sys.argv[1:]), err=True)
        raise SystemExit(error.exit_code) from None
    raise SystemExit(code if isinstance(code, int) else 0)


def is_usage_error(error: Exception) -> bool:
    """A command-line parsing error (click's ClickException, whichever click typer carries): it has an exit
    code and a message to format."""
    return isinstance(getattr(error, "exit_code", None), int) and callable(
        getattr(error, "format_message", None)
    )


def usage_error_line(error: Exception, commands: dict, args: list[str]) -> str:
    """The parsing error as one line, with where to get help: `error: missing argument 'model'; see
    'edgeprove prove --help'` (the command is the first word of `args` that names one of `commands`)."""
    message = " ".join(str(error.format_message()).split()).rstrip(".")  # type: ignore[attr-defined]
    name = next((arg for arg in args if not arg.startswith("-")), None)
    path = f"edgeprove {name}" if name in commands else "edgeprove"
    return f"error: {message}; see '{path} --help'"


def full_app() -> typer.Typer:
    """The app with every command registered (each module adds its own on import)."""
    from edgeprove.cli import bench, harness, models, onnx, proving, study  # noqa: F401

    return app
