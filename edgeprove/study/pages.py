"""A study's index.html: one page over its runs (verdict, peaks against the prediction, time, proof size, each
run's own report page where it was kept) with the study's charts embedded, self-contained like a run's."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from edgeprove.harness.html_report import embedded_png, error_percent, page, size, table, verdict_badge
from edgeprove.process.atomic import write_atomic
from edgeprove.study.suites import Suite


def run_cells(run_id: str, result: dict[str, Any] | None, out_dir: Path) -> list[str]:
    """One run's cells; its id links to runs/<id>.html when that page was kept."""
    link = f'<a href="runs/{html.escape(run_id)}.html">{html.escape(run_id)}</a>'
    name = link if (out_dir / "runs" / f"{run_id}.html").exists() else html.escape(run_id)
    if result is None:
        return [name, "not run", *["–"] * 5]
    if result.get("kind") == "emulated":  # qemu's footprint is in its peak, and its time is not a device's
        peak_rss, proof = size(result.get("peak_rss_bytes")), size(result.get("proof_bytes"))
        return [name, verdict_badge(result.get("verdict", "?")), "–", peak_rss, "–", "–", proof]
    seconds, predicted = result.get("prove_s"), result.get("predicted_peak_bytes")
    error = error_percent(result.get("peak_rss_bytes"), predicted) if result["verdict"] == "fits" else "–"
    return [
        name,
        verdict_badge(result["verdict"]),
        size(result.get("peak_bytes")),
        size(result.get("peak_rss_bytes")),
        size(predicted) + (f" ({error})" if error != "–" else ""),
        f"{seconds:.2f} s" if isinstance(seconds, (int, float)) else "–",
        size(result.get("proof_bytes")),
    ]


def study_page(suite: Suite, results: dict[str, dict[str, Any]], out_dir: Path, charts: list[Path]) -> str:
    """The index page of a study."""
    rows = []
    for spec in suite.runs:
        name, *figures = run_cells(spec.run_id, results.get(spec.run_id), out_dir)
        how = {"prove": spec.schedule, "emulated": f"{spec.schedule} under {spec.arch}"}.get(
            spec.kind, spec.kind
        )
        rows.append([name, html.escape(spec.model), html.escape(how), html.escape(spec.cap_label), *figures])
    header = ["run", "model", "schedule", "cap", "verdict", "peak (kernel)", "peak RSS", "predicted (vs RSS)"]
    header += ["prove time", "proof"]
    finished = sum(spec.run_id in results for spec in suite.runs)
    body = [
        f"<h1>{html.escape(suite.title)}</h1>",
        f"<p>{html.escape(suite.description.strip())}</p>",
        f'<p class="note">Suite <code>{html.escape(suite.path.name)}</code>: {finished} of {len(suite.runs)} '
        f"runs finished; produced by <code>edgeprove study {html.escape(suite.name)}</code>. Each run's JSON "
        "is in <code>runs/</code>.</p>",
    ]
    if suite.notes:
        body += ["<ul>", *[f"<li>{html.escape(note)}</li>" for note in suite.notes], "</ul>"]
    body += ["<h2>Runs</h2>", table(header, rows, numeric=frozenset(range(5, 10)), unbroken=True)]
    for chart in charts:
        image = embedded_png(chart)
        if image:
            body += [f"<h2>{html.escape(chart.stem)}</h2>", image]
    return page(suite.title, body)


def write_study_page(
    suite: Suite, results: dict[str, dict[str, Any]], out_dir: Path, charts: list[Path]
) -> Path:
    """Write <out>/index.html (atomically)."""
    return write_atomic(Path(out_dir) / "index.html", study_page(suite, results, out_dir, charts).encode())
