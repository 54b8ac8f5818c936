"""Charts of a study's results (PNG, matplotlib): an optional extra, `pip install 'edgeprove[plot]'`.

paper0: prove time and peak memory against parameters (params suite) and depth (depth suite), log scales, the
published systems' points beside ours. devices: each device's budget with the measured and predicted peaks.
peers and plain suites: time and peak per run or step.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from edgeprove.study.results import conservative_peak

PLOT_INSTALL_HINT = "the charts need matplotlib: pip install 'edgeprove[plot]'"
GB = 1e9
MIB = float(1 << 20)
MARKERS = ("s", "^", "D", "v", "P", "X", "o")
HEAVY_EZKL_STEPS = ("gen_settings", "calibrate_settings", "setup", "prove")


def parse_published(cell: str) -> tuple[float | None, float | None]:
    """A published cell "time s / peak GB" (a `~` marks a rough reading) as (seconds, GB); None for "–"."""
    parts = [part.strip().lstrip("~") for part in str(cell).split("/")]
    if len(parts) != 2:
        return None, None
    values = []
    for part in parts:
        try:
            values.append(float(part))
        except ValueError:
            values.append(None)
    return values[0], values[1]


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def draw(suite: Any, results: dict[str, dict[str, Any]], out_dir: Path) -> tuple[list[Path], str | None]:
    """Draw the suite's charts into out_dir: (the PNG paths, None) or ([], why they could not be drawn)."""
    plt = _pyplot()
    if plt is None:
        return [], PLOT_INSTALL_HINT
    if not results:
        return [], None
    drawers = {"paper0": paper0_charts, "devices": devices_chart, "peers": peers_chart}
    return drawers.get(suite.report, runs_chart)(plt, suite, results, Path(out_dir)), None


def _paper0_groups() -> dict[str, list[str]]:
    """paper0's suites as packaged with the zoo: {"params": [model names], "depth": [...]}."""
    text = resources.files("edgeprove").joinpath("data/paper0_suites.json").read_text()
    suites = json.loads(text)["suites"]
    return {group: [entry["name"] for entry in entries] for group, entries in suites.items()}


def _ours(
    suite: Any, results: dict[str, dict[str, Any]], models: list[str], schedule: str, x_of: dict[str, float]
) -> list[tuple[float, float, float]]:
    """(x, prove seconds, peak GB) of our fitting runs of `models` under `schedule`, sorted by x."""
    points = []
    for spec in suite.runs:
        result = results.get(spec.run_id)
        if spec.kind != "prove" or spec.model not in models or spec.schedule != schedule:
            continue
        if result and result.get("verdict") == "fits":
            peak = conservative_peak(result)
            if isinstance(result.get("prove_s"), (int, float)) and peak:
                points.append((x_of[spec.model], result["prove_s"], peak / GB))
    return sorted(points)


def paper0_charts(plt: Any, suite: Any, results: dict[str, dict[str, Any]], out_dir: Path) -> list[Path]:
    """params.png and depth.png: time and peak memory (log-log), ours per schedule, theirs as markers."""
    from edgeprove.model import zoo

    published = suite.published
    systems = list(published.get("systems", []))
    charts = []
    for group, models in _paper0_groups().items():
        if not any(spec.model in models for spec in suite.runs):
            continue
        facts = {model: zoo.summary(model) for model in models}
        x_of = {
            model: float(facts[model].params if group == "params" else facts[model].weight_layers)
            for model in models
        }
        figure, (time_axes, memory_axes) = plt.subplots(1, 2, figsize=(13, 5), dpi=110)
        for schedule, style in (("streaming", "-o"), ("baseline", "--o")):
            points = _ours(suite, results, models, schedule, x_of)
            if points:
                xs, seconds, peaks = zip(*points)
                time_axes.plot(xs, seconds, style, lw=2, label=f"edgeprove {schedule} (2-core VM)")
                memory_axes.plot(xs, peaks, style, lw=2, label=f"edgeprove {schedule} (2-core VM)")
        for number, system in enumerate(systems):
            cells = [
                (x_of[model], *parse_published(row[number]))
                for model, row in published.get(group, {}).items()
                if model in x_of
            ]
            timed = [(x, t) for x, t, _ in cells if t is not None]
            sized = [(x, m) for x, _, m in cells if m is not None]
            marker = MARKERS[number % len(MARKERS)]
            if timed:
                time_axes.plot(
                    *zip(*sorted(timed)), marker=marker, ls=":", alpha=0.8, label=f"{system} (paper0)"
                )
            if sized:
                memory_axes.plot(
                    *zip(*sorted(sized)), marker=marker, ls=":", alpha=0.8, label=f"{system} (paper0)"
                )
        xlabel = "parameters" if group == "params" else "layers"
        for axes, ylabel in ((time_axes, "prove time (s)"), (memory_axes, "peak prover memory (GB)")):
            axes.set_xscale("log")
            axes.set_yscale("log")
            axes.set_xlabel(xlabel)
            axes.set_ylabel(ylabel)
            axes.grid(True, which="both", alpha=0.3)
        memory_axes.legend(fontsize=7)
        figure.suptitle(
            f"paper0 {group} suite: edgeprove on a 2-core VM (whole prove step) vs paper0's "
            "systems on 64 vCPUs / 128 GB (witness generation excluded)",
            fontsize=9,
        )
        figure.tight_layout()
        path = out_dir / f"{group}.png"
        figure.savefig(path)
        plt.close(figure)
        charts.append(path)
    return charts


def devices_chart(plt: Any, suite: Any, results: dict[str, dict[str, Any]], out_dir: Path) -> list[Path]:
    """devices.png: each cap (device budget or RAM size) as a bar, and every model's measured and predicted
    peak under it as markers (a colour per model, a shape per schedule); a run that did not fit is drawn as
    a cross at its peak."""
    specs = [spec for spec in suite.runs if spec.kind == "prove" and spec.run_id in results]
    caps = sorted(
        {(spec.cap_bytes, spec.cap_label, spec.device) for spec in specs}, key=lambda cap: (cap[0], cap[1])
    )
    series = list(dict.fromkeys((spec.model, spec.schedule) for spec in specs))
    figure, axes = plt.subplots(figsize=(11, 2 + 0.07 * len(caps) * max(len(series), 5)), dpi=110)
    rows = {label: row for row, (_, label, _) in enumerate(caps)}
    axes.barh(
        list(rows.values()), [cap / MIB for cap, _, _ in caps], color="#dde5f0", label="cap (app budget)"
    )
    models = list(dict.fromkeys(model for model, _ in series))
    colors = {model: f"C{i % 10}" for i, model in enumerate(models)}
    shapes = {"streaming": "o", "baseline": "s"}
    for index, (model, schedule) in enumerate(series):
        offset = 0.7 * ((index + 0.5) / len(series) - 0.5)
        measured, predicted, killed = [], [], []
        for spec in specs:
            if (spec.model, spec.schedule) != (model, schedule):
                continue
            result, row = results[spec.run_id], rows[spec.cap_label] + offset
            if result.get("predicted_peak_bytes"):
                predicted.append((result["predicted_peak_bytes"] / MIB, row))
            if result.get("verdict") == "oom" and result.get("peak_bytes"):
                killed.append((result["peak_bytes"] / MIB, row))
            elif result.get("peak_bytes"):
                measured.append((result["peak_bytes"] / MIB, row))
        for points, marker, what in (
            (measured, shapes.get(schedule, "o"), f"{model} {schedule}"),
            (predicted, "|", None),
            (killed, "x", f"{model} {schedule} OOM-killed"),
        ):
            if points:
                axes.scatter(*zip(*points), marker=marker, s=40, color=colors[model], label=what)
    names = [label if device else f"RAM {label}" for _, label, device in caps]
    axes.set_yticks(list(rows.values()), names, fontsize=8)
    axes.set_xscale("log")
    axes.set_xlabel("MiB (log); | marks the planner's prediction")
    axes.grid(True, axis="x", which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
    axes.set_title(f"{suite.title} — caps and measured peaks (kernel counter)", fontsize=10)
    figure.tight_layout()
    path = out_dir / "devices.png"
    figure.savefig(path)
    plt.close(figure)
    return [path]


def _bars(
    plt: Any,
    labels: list[str],
    seconds: list[float | None],
    peaks: list[float | None],
    title: str,
    path: Path,
    colors: list[str] | None = None,
) -> Path:
    """Two log-scale bar panels, time (s) and peak (MiB) per label, each bar annotated with its value."""
    figure, (time_axes, memory_axes) = plt.subplots(1, 2, figsize=(12, 0.4 * len(labels) + 2.5), dpi=110)
    rows = list(range(len(labels)))
    panels = (
        (time_axes, seconds, "time (s, log)", "{:.2f} s"),
        (memory_axes, peaks, "peak (MiB, log)", "{:.0f} MiB"),
    )
    for axes, values, xlabel, text in panels:
        axes.barh(rows, [value or 0 for value in values], color=colors or "tab:blue")
        for row, value in zip(rows, values):
            if value:
                axes.text(value, row, " " + text.format(value), va="center", fontsize=7)
        axes.set_yticks(rows, labels, fontsize=8)
        axes.set_xscale("log")
        axes.set_xlabel(xlabel)
        axes.grid(True, axis="x", which="both", alpha=0.3)
        axes.invert_yaxis()
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def peers_chart(plt: Any, suite: Any, results: dict[str, dict[str, Any]], out_dir: Path) -> list[Path]:
    """peers.png: per model, edgeprove's prove step and EZKL's finished heavy steps, time and peak."""
    labels, seconds, peaks, colors = [], [], [], []
    for model in dict.fromkeys(spec.model for spec in suite.runs):
        for spec in suite.runs:
            result = results.get(spec.run_id)
            if spec.model != model or result is None:
                continue
            if spec.kind == "prove" and result.get("verdict") == "fits":
                labels.append(f"edgeprove {model} prove")
                seconds.append(result.get("prove_s"))
                peaks.append((result.get("peak_bytes") or 0) / MIB)
                colors.append("tab:blue")
            for step in result.get("steps", []):
                if step.get("verdict") == "ok" and step["step"] in HEAVY_EZKL_STEPS:
                    labels.append(f"EZKL {model} {step['step']}")
                    seconds.append(step.get("seconds"))
                    peaks.append((step.get("peak_bytes") or 0) / MIB)
                    colors.append("tab:red")
    if not labels:
        return []
    return [
        _bars(
            plt,
            labels,
            seconds,
            peaks,
            f"{suite.title} (same machine, same harness; kernel peak)",
            out_dir / "peers.png",
            colors,
        )
    ]


def runs_chart(plt: Any, suite: Any, results: dict[str, dict[str, Any]], out_dir: Path) -> list[Path]:
    """runs.png: prove time and peak of every run on this machine that fit."""
    fitting = [
        (spec.run_id, results[spec.run_id])
        for spec in suite.runs
        if spec.kind != "emulated"
        and spec.run_id in results
        and results[spec.run_id].get("verdict") == "fits"
    ]
    if not fitting:
        return []
    return [
        _bars(
            plt,
            [run_id for run_id, _ in fitting],
            [r.get("prove_s") for _, r in fitting],
            [(r.get("peak_bytes") or 0) / MIB for _, r in fitting],
            suite.title,
            out_dir / "runs.png",
        )
    ]
