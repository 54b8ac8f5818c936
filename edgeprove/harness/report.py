"""The run report: report.json (verdict, peaks, the sampled memory timeline, layer events) and timeline.png.

The PNG needs matplotlib, an optional extra (`pip install 'edgeprove[plot]'`); the JSON never does. Both are
written to a temporary file beside their target and renamed into place (process.atomic), so a full disk
or a signal never leaves a partial one.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
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


def build_report(
    result: RunResult, verdict: str, predicted_layers: list[dict[str, Any]] | None = None, **details: Any
) -> dict[str, Any]:
    """The report as a JSON-ready dict: summary keys, `details` (prover output, memray), the timeline and a
    row per layer run (measured beside the planner's `predicted_layers`, its `layers` list)."""
    start = result.started_at
    timeline = result.timeline
    events = [
        {**event, "t_rel": round(event["t"] - start, 6)}
        if isinstance(event.get("t"), (int, float))
        else event
        for event in timeline.events
    ]
    report = {
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
    report["layers"] = layer_rows(report, predicted_layers or [])
    return report


def layer_rows(report: dict[str, Any], predicted_layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per layer the prover started, in order: when it ran, the largest RSS and kernel counter
    sampled while it ran, and the planner's predicted process peak for it (None where the plan has none).

    A layer ends at the next event (its `end`, or another layer's start), else at the last sample: where a
    killed prover died (`finished` false). A baseline run's first pass has its own rows, phase "build".
    """
    timeline = report["timeline"]
    times, rss, kernel = timeline["t"], timeline["rss_bytes"], timeline["kernel_peak_bytes"]
    events = [event for event in report["events"] if "t_rel" in event]
    predicted = {entry.get("index"): entry.get("process_bytes") for entry in predicted_layers}
    rows: list[dict[str, Any]] = []
    for position, event in enumerate(events):
        if event.get("event") != "start":
            continue
        following = events[position + 1] if position + 1 < len(events) else None
        end = following["t_rel"] if following else (times[-1] if times else event["t_rel"])
        finished = (
            bool(following)
            and following.get("event") == "end"
            and following.get("layer") == event.get("layer")
        )
        window = range(bisect_left(times, event["t_rel"]), bisect_right(times, end))
        sampled = [rss[i] for i in window] + ([event["rss"]] if isinstance(event.get("rss"), int) else [])
        counted = [kernel[i] for i in window if kernel[i]]
        phase = event.get("phase", "prove")
        rows.append(
            {
                "index": event.get("index"),
                "layer": event.get("layer"),
                "phase": phase,
                "start_s": event["t_rel"],
                "end_s": max(end, event["t_rel"]),
                "finished": finished,
                "peak_rss_bytes": max(sampled, default=None),
                "kernel_peak_bytes": max(counted, default=None),
                "predicted_bytes": predicted.get(event.get("index")) if phase != "build" else None,
            }
        )
    return rows


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


COUNTER_NOTE = (
    "RSS: resident memory of the prover's process tree, shared pages counted in full, so it can sit above "
    "the kernel counter (or the cap) when some pages are charged elsewhere. Kernel counter: what the cap "
    "mechanism charges to the run and enforces."
)
"""The legend's note on what each memory counter counts."""


def plot_timeline(report: dict[str, Any], png: Path) -> Path:
    """Draw the run's memory over time, scaled to the usage: RSS, the kernel counter, the planner's
    prediction per layer, the cap (or, when it is far above, its distance from the peak) and a strip of
    layer labels thinned so that none overlap."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise PlotUnavailable(PLOT_INSTALL_HINT) from error
    figure, (axes, strip) = plt.subplots(
        2, 1, figsize=(11, 6.2), dpi=110, sharex=True, gridspec_kw={"height_ratios": [5, 0.8], "hspace": 0.05}
    )
    try:
        _draw_memory(axes, report)
        _draw_layer_strip(strip, report, figure)
        title = f"{report.get('model') or 'run'}: {report['verdict'].upper()}, backend {report['backend']}"
        if report.get("peak_layer"):
            where = "killed in" if report["verdict"] == "oom" else "peak in"
            title += f", {where} {report['peak_layer']}"
        axes.set_title(title, fontsize=10)
        figure.text(0.01, 0.005, COUNTER_NOTE, fontsize=7, color="dimgrey", wrap=True, va="bottom")
        figure.subplots_adjust(left=0.07, right=0.98, top=0.94, bottom=0.14)
        with AtomicFile(png) as handle:
            figure.savefig(handle, format="png")
    finally:
        plt.close(figure)
    return png


def _draw_memory(axes: Any, report: dict[str, Any]) -> None:
    """The main panel: measured counters and the per-layer prediction, scaled to what was used."""
    timeline, rows = report["timeline"], report.get("layers", [])
    times = timeline["t"]
    rss = [value / MIB for value in timeline["rss_bytes"]]
    kernel = [(moment, value / MIB) for moment, value in zip(times, timeline["kernel_peak_bytes"]) if value]
    predicted = [row for row in rows if row.get("predicted_bytes")]
    top = max(
        [1.0, *rss, *(value for _, value in kernel), *(row["predicted_bytes"] / MIB for row in predicted)]
    )
    for position, row in enumerate(rows):
        if position % 2:
            axes.axvspan(row["start_s"], row["end_s"], color="0.94", lw=0)
    axes.plot(times, rss, lw=1.2, color="tab:blue", label="RSS (process tree)")
    if kernel:
        axes.plot(
            *zip(*kernel), lw=1.0, ls="--", color="tab:orange", label=f"kernel counter ({report['backend']})"
        )
    for position, row in enumerate(predicted):
        axes.hlines(
            row["predicted_bytes"] / MIB,
            row["start_s"],
            row["end_s"],
            color="tab:green",
            lw=1.6,
            alpha=0.8,
            label="planner's prediction per layer" if position == 0 else None,
        )
    cap = report["cap_bytes"] / MIB
    peak = report["peak_bytes"] / MIB
    if cap <= top * 1.3:
        top = max(top, cap)
        axes.axhline(cap, color="red", lw=1.5, label=f"cap {cap:,.0f} MiB")
    elif report.get("capped", True):
        axes.annotate(
            f"cap {cap:,.0f} MiB is {cap - peak:,.0f} MiB above the peak ({peak / cap:.1%} of the cap used)",
            xy=(0.99, 0.98),
            xycoords="axes fraction",
            ha="right",
            va="top",
            fontsize=8,
            color="red",
            bbox={"boxstyle": "round", "fc": "white", "ec": "red", "lw": 0.8},
        )
    axes.set_ylim(0, top * 1.15)
    axes.set_ylabel("MiB")
    axes.legend(loc="lower right", fontsize=8, framealpha=0.9)
    axes.grid(axis="y", lw=0.3, alpha=0.6)


def _draw_layer_strip(strip: Any, report: dict[str, Any], figure: Any) -> None:
    """Layer names under the panel, vertical, dropped where they would touch a neighbour (the peak layer's
    name always shown)."""
    rows = report.get("layers", [])
    times = report["timeline"]["t"]
    span = max([times[-1] if times else 0.0, *(row["end_s"] for row in rows), 1e-9])
    strip.set_xlim(0, span)
    strip.set_ylim(0, 1)
    strip.set_yticks([])
    strip.set_xlabel("seconds since start")
    for side in ("top", "right", "left"):
        strip.spines[side].set_visible(False)
    width_px = figure.get_figwidth() * figure.dpi * 0.91
    min_gap = span * 11.0 / width_px
    peak_layer = report.get("peak_layer")
    centres = [(row["start_s"] + row["end_s"]) / 2 for row in rows]
    shown = {position for position, row in enumerate(rows) if row["layer"] == peak_layer}
    last = None
    for position, centre in enumerate(centres):
        near_kept = any(abs(centres[other] - centre) < min_gap for other in shown if other != position)
        if position in shown or ((last is None or centre - last >= min_gap) and not near_kept):
            shown.add(position)
            last = centre
    if rows and rows[0]["start_s"] > 4 * min_gap:
        strip.text(
            rows[0]["start_s"] / 2, 0.95, "start-up", fontsize=7, va="top", ha="center", color="dimgrey"
        )
    for position in sorted(shown):
        row = rows[position]
        label = f"{row['layer']} (build)" if row["phase"] == "build" else str(row["layer"])
        strip.text(
            centres[position],
            0.95,
            label,
            rotation=90,
            fontsize=7,
            va="top",
            ha="center",
            color="black" if row["layer"] == peak_layer else "dimgrey",
            fontweight="bold" if row["layer"] == peak_layer else "normal",
        )
