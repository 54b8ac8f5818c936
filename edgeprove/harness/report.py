"""The run report: report.json (verdict, peaks, the sampled memory timeline, layer events) and timeline.png.

The PNG needs matplotlib, an optional extra (`pip install 'edgeprove[plot]'`); the JSON never does. Both are
written to a temporary file beside their target and renamed into place (process.atomic), so a full disk
or a signal never leaves a partial one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeprove.harness.runner import RunResult
from edgeprove.process.atomic import AtomicFile, write_atomic

MIB = float(1 << 20)
PLOT_INSTALL_HINT = "timeline.png needs matplotlib: pip install 'edgeprove[plot]'"
SUMMARY_KEYS = (
    "verdict",
    "backend",
    "cap_bytes",
    "peak_bytes",
    "peak_rss_bytes",
    "peak_layer",
    "predicted_peak_bytes",
    "prove_s",
    "proof_bytes",
    "report_dir",
)


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed, so the PNG timeline cannot be drawn."""


def build_report(result: RunResult, verdict: str, **details: Any) -> dict[str, Any]:
    """The report as a JSON-ready dict: summary keys, `details` (prover output, memray) and the timeline."""
    start = result.started_at
    timeline = result.timeline
    events = [
        {**event, "t_rel": round(event["t"] - start, 6)}
        if isinstance(event.get("t"), (int, float))
        else event
        for event in timeline.events
    ]
    return {
        "verdict": verdict,
        "backend": result.backend,
        "backend_reason": result.backend_reason,
        "cap_bytes": result.cap_bytes,
        "peak_bytes": result.peak_bytes,
        "kernel_peak_bytes": result.kernel_peak_bytes,
        "peak_rss_bytes": result.peak_rss_bytes,
        "ru_maxrss_bytes": result.ru_maxrss_bytes,
        "peak_layer": result.peak_layer,
        "returncode": result.returncode,
        "oom_killed": result.oom_killed,
        "cap_exceeded": result.cap_exceeded,
        "wall_s": round(result.wall_s, 6),
        "argv": result.argv,
        "notes": result.notes,
        **details,
        "timeline": {
            "t": [round(moment - start, 6) for moment in timeline.times],
            "rss_bytes": timeline.rss,
            "kernel_peak_bytes": timeline.kernel,
        },
        "events": events,
    }


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The keys `edgeprove run --json` promises first, then the rest, without the bulky timeline."""
    bulky = {"timeline", "events", "argv"}
    ordered = {key: report.get(key) for key in SUMMARY_KEYS}
    ordered.update({key: value for key, value in report.items() if key not in bulky and key not in ordered})
    return ordered


def write_report(report: dict[str, Any], run_dir: Path) -> Path:
    """Write report.json into the run folder."""
    return write_atomic(
        Path(run_dir) / "report.json", (json.dumps(report, indent=1, default=str) + "\n").encode()
    )


def load_report(path: Path) -> dict[str, Any]:
    """Read a report.json back."""
    return json.loads(Path(path).read_text())


def plot_timeline(report: dict[str, Any], png: Path) -> Path:
    """Draw RSS and the kernel counter over time with the cap, the predicted peak and layer starts marked.

    When the cap dwarfs the usage, a second panel zooms in on the usage.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise PlotUnavailable(PLOT_INSTALL_HINT) from error
    usage_top = max(
        [1, *report["timeline"]["rss_bytes"], *(v for v in report["timeline"]["kernel_peak_bytes"] if v)]
    )
    zoom = report["cap_bytes"] > 3 * usage_top
    figure, panels = plt.subplots(2 if zoom else 1, 1, figsize=(11, 8 if zoom else 5), dpi=110, squeeze=False)
    _draw_timeline(panels[0][0], report, max(report["cap_bytes"], usage_top))
    if zoom:
        _draw_timeline(panels[1][0], report, usage_top)
        panels[1][0].set_title(
            f"zoomed on usage (the cap, {report['cap_bytes'] / MIB:.0f} MiB, is off this scale)", fontsize=9
        )
    title = f"{report.get('model') or 'run'}: {report['verdict'].upper()} — backend {report['backend']}"
    if report.get("peak_layer"):
        where = "killed in" if report["verdict"] == "oom" else "peak in"
        title += f", {where} {report['peak_layer']}"
    panels[0][0].set_title(title, fontsize=10)
    try:
        figure.tight_layout()
        with AtomicFile(png) as handle:
            figure.savefig(handle, format="png")
    finally:
        plt.close(figure)
    return png


def _draw_timeline(axes: Any, report: dict[str, Any], top_bytes: int) -> None:
    """One panel: RSS, kernel counter, the cap and prediction where they fit, layer starts labelled."""
    timeline = report["timeline"]
    top = top_bytes / MIB
    axes.plot(
        timeline["t"], [value / MIB for value in timeline["rss_bytes"]], lw=1.2, label="RSS (process tree)"
    )
    kernel = [
        (moment, value / MIB) for moment, value in zip(timeline["t"], timeline["kernel_peak_bytes"]) if value
    ]
    if kernel:
        axes.plot(*zip(*kernel), lw=1.0, ls="--", label=f"kernel peak counter ({report['backend']})")
    cap = report["cap_bytes"] / MIB
    if cap <= top * 1.25:
        axes.axhline(cap, color="red", lw=1.5, label=f"cap {cap:.0f} MiB")
    predicted = (report.get("predicted_peak_bytes") or 0) / MIB
    if 0 < predicted <= top * 1.25:
        axes.axhline(predicted, color="green", lw=1, ls=":", label=f"predicted peak {predicted:.0f} MiB")
    starts = [event for event in report["events"] if event.get("event") == "start" and "t_rel" in event]
    label_every = max(1, len(starts) // 25)
    for position, event in enumerate(starts):
        axes.axvline(event["t_rel"], color="grey", lw=0.4, alpha=0.6)
        if position % label_every == 0:
            axes.text(
                event["t_rel"],
                top * 1.01,
                str(event.get("layer", "")),
                rotation=90,
                fontsize=6,
                va="bottom",
                ha="center",
                color="dimgrey",
            )
    axes.set_xlabel("seconds since start")
    axes.set_ylabel("MiB")
    axes.set_ylim(0, top * 1.25)
    axes.legend(loc="lower right", fontsize=8)
