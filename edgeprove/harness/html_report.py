"""report.html: one self-contained page per run (verdict, figures, the timeline embedded, the per-layer table
of predicted against measured memory, the flamegraph linked, the command and environment), and the page
pieces a study's index reuses. Plain HTML and inline CSS, no script, so that it opens anywhere offline."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from edgeprove.harness.units import format_size
from edgeprove.process.atomic import write_atomic

VERDICT_WORDS = {
    "fits": ("FITS", "good"),
    "oom": ("DOES NOT FIT", "bad"),
    "rejected": ("PROOF REJECTED", "bad"),
    "error": ("ERROR", "warn"),
}
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 96em; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.verdict { font-weight: bold; padding: 0.15em 0.5em; border-radius: 0.3em; color: white; }
.good { background: #2a7d2e; } .bad { background: #b3261e; } .warn { background: #a86b00; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.2em 0.7em; text-align: left; border-bottom: 1px solid #ddd; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td:first-child, table.figures td, table.figures th { white-space: nowrap; }
table.figures { font-size: 13px; }
tr.peak td { font-weight: bold; } tr.died td { color: #b3261e; font-weight: bold; }
code, pre { font: 12.5px ui-monospace, monospace; background: #f4f4f4; }
pre { padding: 0.6em; overflow-x: auto; white-space: pre-wrap; }
img { max-width: 100%; border: 1px solid #ddd; }
.note { color: #555; font-size: 0.92em; }
"""


def page(title: str, body: list[str]) -> str:
    """A whole HTML document around `body` (lines of HTML already escaped)."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{STYLE}</style></head><body>",
            *body,
            "</body></html>",
            "",
        ]
    )


def table(
    header: list[str] | None,
    rows: list[list[str]],
    numeric: frozenset[int] = frozenset(),
    classes: dict[int, str] | None = None,
    unbroken: bool = False,
) -> str:
    """An HTML table of already-escaped cells (no header row when `header` is None); columns in `numeric`
    right-aligned; `classes` maps a row's position to its CSS class; `unbroken` keeps each cell on one
    line."""
    lines = ['<table class="figures">' if unbroken else "<table>"]
    if header is not None:
        head = "".join(
            f"<th{' class=n' if i in numeric else ''}>{cell}</th>" for i, cell in enumerate(header)
        )
        lines.append(f"<tr>{head}</tr>")
    for position, row in enumerate(rows):
        cells = "".join(f"<td{' class=n' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row))
        css = (classes or {}).get(position)
        lines.append(f'<tr class="{css}">{cells}</tr>' if css else f"<tr>{cells}</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def verdict_badge(verdict: str) -> str:
    """The verdict as a coloured word."""
    word, css = VERDICT_WORDS.get(verdict, (verdict.upper(), "warn"))
    return f'<span class="verdict {css}">{html.escape(word)}</span>'


def size(value: Any) -> str:
    """Bytes in binary units, or a dash."""
    return html.escape(format_size(value)) if isinstance(value, int) else "–"


def embedded_png(png: Path) -> str | None:
    """`<img>` with the PNG inside it as a data URI (None when there is no PNG)."""
    try:
        data = base64.b64encode(Path(png).read_bytes()).decode()
    except OSError:
        return None
    return f'<img alt="memory timeline" src="data:image/png;base64,{data}">'


def error_percent(measured: Any, predicted: Any) -> str:
    """How far the prediction is from the measurement, as a signed percentage of the measurement (a dash
    when either is missing)."""
    if not (isinstance(measured, (int, float)) and isinstance(predicted, (int, float)) and measured > 0):
        return "–"
    return f"{100.0 * (predicted - measured) / measured:+.0f}%"


def figures_rows(report: dict[str, Any]) -> list[list[str]]:
    """The run's figures as (name, value) cells."""
    cap, peak = report.get("cap_bytes"), report.get("peak_bytes")
    capped = report.get("capped", True)
    prover = report.get("prover") or {}
    rows = [
        ["model", html.escape(f"{report.get('model')} ({report.get('schedule')})")],
        ["device", html.escape(str(report.get("device") or "–"))],
        ["backend", html.escape(f"{report.get('backend')}: {report.get('backend_reason', '')}")],
        ["cap", size(cap) if capped else f"none (machine RAM {size(cap)})"],
        ["peak (kernel counter)", size(report.get("kernel_peak_bytes"))],
        ["peak RSS (process tree)", size(report.get("peak_rss_bytes"))],
    ]
    if capped and isinstance(cap, int) and isinstance(peak, int):
        rows.append(["headroom", f"{size(cap - peak)} ({peak / cap:.1%} of the cap used)"])
    died = report.get("verdict") == "oom"
    rows += [
        [
            "layer " + ("it died in" if died else "at the peak"),
            html.escape(str(report.get("peak_layer") or "–")),
        ],
        [
            "predicted peak",
            f"{size(report.get('predicted_peak_bytes'))} "
            f"({error_percent(report.get('peak_rss_bytes'), report.get('predicted_peak_bytes'))} against the "
            "peak RSS)",
        ],
        ["prove time", _seconds(report.get("prove_s")) + _cpu(prover.get("prove_cpu_s"))],
        ["proof size", size(report.get("proof_bytes"))],
        ["wall time under the cap", _seconds(report.get("wall_s"))],
    ]
    return rows


def layer_table(report: dict[str, Any]) -> str:
    """Per layer: when it ran, measured RSS and kernel counter, the planner's prediction and its error."""
    rows, classes = [], {}
    for position, row in enumerate(report.get("layers", [])):
        if row.get("layer") == report.get("peak_layer"):
            classes[position] = "died" if report.get("verdict") == "oom" else "peak"
        name = f"{row.get('layer')} (build)" if row.get("phase") == "build" else str(row.get("layer"))
        rows.append(
            [
                str(row.get("index")),
                html.escape(name),
                f"{row['start_s']:.2f}–{row['end_s']:.2f}",
                size(row.get("peak_rss_bytes")),
                size(row.get("kernel_peak_bytes")),
                size(row.get("predicted_bytes")),
                error_percent(row.get("peak_rss_bytes"), row.get("predicted_bytes")),
            ]
        )
    if not rows:
        return '<p class="note">No layer started: the prover never reached its first layer.</p>'
    header = ["#", "layer", "seconds", "peak RSS", "kernel counter", "predicted", "prediction error"]
    return table(header, rows, numeric=frozenset({0, 3, 4, 5, 6}), classes=classes)


def run_page(report: dict[str, Any], timeline_png: Path | None) -> str:
    """The whole report.html of one run."""
    title = f"edgeprove run: {report.get('model')}"
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{verdict_badge(report['verdict'])} {html.escape(str(report.get('verdict_reason', '')))}</p>",
        table(None, figures_rows(report)),
    ]
    image = embedded_png(timeline_png) if timeline_png is not None else None
    body.append("<h2>Memory over time</h2>")
    body.append(
        image
        or "<p class=\"note\">No timeline: matplotlib is not installed (pip install 'edgeprove[plot]').</p>"
    )
    body += ["<h2>Per layer: predicted against measured</h2>", layer_table(report)]
    if report.get("flamegraph") or report.get("memray_error"):
        body.append("<h2>Allocations (memray)</h2>")
        if report.get("flamegraph"):
            body.append('<p><a href="flamegraph.html">flamegraph.html</a> (in this folder)</p>')
        if report.get("memray_error"):
            body.append(f'<p class="note">No flamegraph: {html.escape(report["memray_error"])}</p>')
        sites = [
            [
                size(site["bytes"]),
                html.escape(site["function"]),
                html.escape(f"{site['file']}:{site['line']}"),
            ]
            for site in report.get("memray_top_sites", [])[:10]
        ]
        if sites:
            body.append(table(["at the peak", "function", "where"], sites, numeric=frozenset({0})))
    if report.get("notes"):
        body.append("<h2>Notes</h2><ul>")
        body += [f"<li>{html.escape(note)}</li>" for note in report["notes"]]
        body.append("</ul>")
    body += [
        "<h2>Command and environment</h2>",
        f"<pre>{html.escape(str(report.get('command') or ''))}</pre>",
    ]
    environment = report.get("environment") or {}
    body.append(table(None, [[html.escape(str(k)), html.escape(str(v))] for k, v in environment.items()]))
    prover_argv = html.escape(" ".join(report.get("argv", [])))
    body.append(f'<p class="note">Prover command under the cap: <code>{prover_argv}</code></p>')
    return page(title, body)


def write_run_page(report: dict[str, Any], folder: Path, timeline_png: Path | None) -> Path:
    """Write report.html into `folder` (atomically)."""
    return write_atomic(Path(folder) / "report.html", run_page(report, timeline_png).encode())


def _seconds(value: Any) -> str:
    return f"{value:.2f} s" if isinstance(value, (int, float)) else "–"


def _cpu(value: Any) -> str:
    return f" ({value:.2f} s CPU)" if isinstance(value, (int, float)) else ""
