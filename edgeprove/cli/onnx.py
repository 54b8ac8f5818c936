"""`edgeprove import`: compile a float ONNX model to a compiled integer model folder.

Exit codes: 0 compiled; 2 unreadable or unsupported model, bad calibration inputs, unwritable output.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from edgeprove.cli import app
from edgeprove.exitcodes import EXIT_USAGE
from edgeprove.model.ir import ModelError

err = Console(stderr=True, soft_wrap=True)


@app.command("import")
def import_model(
    model: Path = typer.Argument(..., help="The float ONNX model (.onnx)."),
    out: Path = typer.Option(..., "--out", help="Folder to write the compiled integer model to."),
    calibration: Path | None = typer.Option(
        None,
        "--calibration",
        help="Float calibration inputs (.npy, shape (N, *input shape without batch)); "
        "default: 16 seeded random inputs.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the report."),
) -> None:
    """Compile an ONNX model to the integer IR and report its agreement with onnxruntime."""
    from edgeprove.model.onnx_import import compile_onnx, read_calibration

    try:
        inputs = read_calibration(calibration) if calibration is not None else None
        result = compile_onnx(model, out, inputs, calibration.name if calibration is not None else None)
    except ModelError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    report = result.report
    if as_json:
        payload = dataclasses.asdict(report) | {
            "out": str(out),
            "quantization": dataclasses.asdict(result.quantization),
        }
        typer.echo(json.dumps(payload, indent=1))
        return
    typer.echo(
        f"compiled {model} -> {out}: {report.layers} layers, {report.params:,} parameters, "
        f"digest {report.digest[:16]}"
    )
    typer.echo(report.summary())
