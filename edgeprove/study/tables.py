"""A study's README: its markdown tables (every run, and the paper0, devices or peers comparison), rebuilt
from the run JSONs with the charts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeprove.harness.devices import load_catalog
from edgeprove.harness.html_report import error_percent
from edgeprove.harness.units import format_size
from edgeprove.study.charts import draw as draw_charts
from edgeprove.study.results import conservative_peak
from edgeprove.study.suites import Suite


def _seconds(value: Any) -> str:
    """A time cell: 1.23 s, or a dash."""
    return f"{value:.2f}" if isinstance(value, (int, float)) else "–"


def _mib(value: Any) -> str:
    """A memory cell in MiB, or a dash."""
    return f"{value / (1 << 20):.1f}" if isinstance(value, (int, float)) and value else "–"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def runs_table(suite: Suite, results: dict[str, dict[str, Any]]) -> str:
    """Every prove run: verdict, median prove time, kernel peak, peak RSS, prediction, proof size."""
    header = [
        "run",
        "model",
        "schedule",
        "cap",
        "verdict",
        "prove s",
        "peak MiB",
        "peak RSS MiB",
        "predicted MiB",
        "proof KiB",
    ]
    rows = []
    for spec in suite.runs:
        result = results.get(spec.run_id)
        if spec.kind != "prove":
            continue
        if result is None:
            rows.append([spec.run_id, spec.model, spec.schedule, spec.cap_label, "not run", *["–"] * 5])
            continue
        proof = result.get("proof_bytes")
        rows.append(
            [
                spec.run_id,
                spec.model,
                spec.schedule,
                spec.cap_label,
                result["verdict"],
                _seconds(result.get("prove_s")),
                _mib(result.get("peak_bytes")),
                _mib(result.get("peak_rss_bytes")),
                _mib(result.get("predicted_peak_bytes")),
                f"{proof / 1024:.0f}" if proof else "–",
            ]
        )
    return markdown_table(header, rows)


def machine_line(results: dict[str, dict[str, Any]]) -> str:
    """One sentence naming the machine the results were measured on (from the newest result; the backend
    from the newest run on this machine, emulated runs being measured without one)."""
    if not results:
        return "No run has finished yet."
    newest = max(results.values(), key=lambda record: record.get("started_utc", ""))
    native = [record for record in results.values() if record.get("kind") != "emulated"]
    measured = max(native, key=lambda record: record.get("started_utc", "")) if native else newest
    machine = newest.get("machine", {})
    ram = machine.get("ram_bytes")
    return (
        f"Measured on {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"{format_size(ram) if ram else '?'} RAM, {machine.get('os', '?')}, Python "
        f"{machine.get('python', '?')}; harness backend {measured.get('backend', '?')}."
    )


def write_readme(
    suite: Suite, results: dict[str, dict[str, Any]], out_dir: Path
) -> tuple[Path, list[Path], str | None]:
    """Rebuild <out>/README.md (and the charts) from the run JSONs; returns the README, charts and a note
    when the charts could not be drawn."""
    sections = report_sections(suite, results)
    charts, note = draw_charts(suite, results, out_dir)
    finished = sum(spec.run_id in results for spec in suite.runs)
    lines = [
        f"# {suite.title}",
        "",
        suite.description.strip(),
        "",
        f"Suite `{suite.path.name}`: {finished} of {len(suite.runs)} runs finished. "
        f"Produced by `edgeprove study {suite.name}`; each run's JSON is in `runs/`.",
        "",
        machine_line(results),
        "",
        *[f"- {line}" for line in suite.notes],
        "",
        *sections,
    ]
    if note:
        lines += ["", f"Charts not drawn: {note}"]
    lines += [""] + [f"![{chart.stem}]({chart.name})" for chart in charts]
    readme = out_dir / "README.md"
    readme.write_text("\n".join(lines).rstrip() + "\n")
    return readme, charts, note


def _cell(result: dict[str, Any] | None) -> str:
    """The cell "time s / peak MiB" of a prove result (conservative peak), its verdict if it did not fit, or
    a dash."""
    if result is None:
        return "–"
    if result.get("verdict") != "fits":
        return str(result.get("verdict", "?"))
    return f"{_seconds(result.get('prove_s'))} / {_mib(conservative_peak(result))}"


def _find(suite: Suite, results: dict[str, dict[str, Any]], **wanted: Any) -> dict[str, Any] | None:
    """The result of the first run whose spec fields equal `wanted`."""
    for spec in suite.runs:
        if all(getattr(spec, key) == value for key, value in wanted.items()) and spec.run_id in results:
            return results[spec.run_id]
    return None


def paper0_tables(suite: Suite, results: dict[str, dict[str, Any]]) -> list[str]:
    """One table per paper0 suite: our streaming and baseline figures beside the published systems'."""
    from edgeprove.model import zoo

    published = suite.published
    systems = list(published.get("systems", []))
    membership = {entry["name"]: group for group, entries in _paper0_groups().items() for entry in entries}
    sections = []
    for group in ("params", "depth"):
        figures = published.get(group, {})
        models = [spec.model for spec in suite.runs if membership.get(spec.model) == group]
        models = list(dict.fromkeys(models))
        if not models:
            continue
        header = [
            "model",
            "params",
            "layers",
            "ours streaming s / MiB",
            "ours baseline s / MiB",
            "KB / param",
            *[f"{system} s / GB" for system in systems],
        ]
        rows = []
        for model in models:
            facts = zoo.summary(model)
            streaming = _find(suite, results, kind="prove", model=model, schedule="streaming")
            peak = conservative_peak(streaming) if streaming and streaming.get("verdict") == "fits" else None
            per_param = f"{peak / facts.params / 1000:.3f}" if peak else "–"
            rows.append(
                [
                    model,
                    f"{facts.params:,}",
                    str(facts.weight_layers),
                    _cell(streaming),
                    _cell(_find(suite, results, kind="prove", model=model, schedule="baseline")),
                    per_param,
                    *(figures.get(model, [""] * len(systems))),
                ]
            )
        sections += [f"## paper0 {group} suite", "", markdown_table(header, rows), ""]
    if published:
        sections += [
            f"Published figures: {published.get('source', '?')}; their hardware: "
            f"{published.get('hardware', '?')}. Ours: the machine named above.",
            "",
        ]
    return sections


def _paper0_groups() -> dict[str, list[dict[str, Any]]]:
    """paper0's suites as packaged with the zoo: {"params": [...], "depth": [...]}."""
    from importlib import resources

    text = resources.files("edgeprove").joinpath("data/paper0_suites.json").read_text()
    return json.loads(text)["suites"]


def devices_tables(suite: Suite, results: dict[str, dict[str, Any]]) -> list[str]:
    """The fits / does-not-fit matrix per model: one row per cap (device or RAM size, smallest first), both
    schedules, predicted vs measured."""
    cores = {device.name: str(device.cores) for device in load_catalog()}
    sections = []
    for model in dict.fromkeys(spec.model for spec in suite.runs if spec.kind == "prove"):
        specs = [spec for spec in suite.runs if spec.model == model and spec.kind == "prove"]
        caps = sorted(
            {(spec.cap_bytes, spec.cap_label, spec.device) for spec in specs},
            key=lambda cap: (cap[0], cap[1]),
        )
        schedules = list(dict.fromkeys(spec.schedule for spec in specs))
        header = ["cap", "budget", "cores"]
        for schedule in schedules:
            header += [f"{schedule}", "peak MiB", "peak RSS MiB", "predicted MiB", "pred. vs RSS", "prove s"]
        rows = []
        for cap_bytes, label, device in caps:
            row = [
                label if device else f"RAM {label}",
                format_size(cap_bytes),
                cores.get(device or "", "all"),
            ]
            for schedule in schedules:
                result = _find(suite, results, kind="prove", model=model, schedule=schedule, cap_label=label)
                if result is None:
                    row += ["not run", "–", "–", "–", "–", "–"]
                    continue
                fits = result["verdict"] == "fits"
                verdict = {"fits": "FITS", "oom": "DOES NOT FIT"}.get(result["verdict"], result["verdict"])
                if result["verdict"] == "oom" and result.get("peak_layer"):
                    verdict += f" (killed in {result['peak_layer']})"
                row += [
                    verdict,
                    _mib(result.get("peak_bytes")),
                    _mib(result.get("peak_rss_bytes")),
                    _mib(result.get("predicted_peak_bytes")),
                    error_percent(result.get("peak_rss_bytes"), result.get("predicted_peak_bytes"))
                    if fits
                    else "–",
                    _seconds(result.get("prove_s")),
                ]
            rows.append(row)
        sections += [f"## {model}: fits / does not fit", "", markdown_table(header, rows), ""]
        if any(results.get(spec.run_id, {}).get("verdict") == "oom" for spec in specs):
            sections += [
                "DOES NOT FIT: the kernel OOM-killed the prover at the cap; its peaks are what it "
                "reached before dying, in the layer named.",
                "",
            ]
    return sections


def emulated_tables(suite: Suite, results: dict[str, dict[str, Any]]) -> list[str]:
    """Peak memory under ARM emulation beside this machine's: the prover's own part (its peak RSS above an
    interpreter that only imports numpy, both measured the same way) and the device budgets it fits."""
    specs = [spec for spec in suite.runs if spec.kind == "emulated"]
    if not specs:
        return []
    budgets = [device.budget_bytes for device in load_catalog()]
    header = ["model", "schedule", "platform", "peak RSS MiB", "python + numpy MiB", "prover above it MiB"]
    header += ["est. device peak MiB", "budgets it holds"]
    rows = []
    for model, schedule in dict.fromkeys((spec.model, spec.schedule) for spec in specs):
        group = [spec for spec in specs if (spec.model, spec.schedule) == (model, schedule)]
        finished = [
            results[spec.run_id] for spec in group if results.get(spec.run_id, {}).get("verdict") == "fits"
        ]
        native_peak = _largest_native_peak(suite, results, model, schedule)
        baselines = [r["native_python_numpy_bytes"] for r in finished if r.get("native_python_numpy_bytes")]
        if native_peak is not None:
            baseline = max(baselines) if baselines else None
            above = native_peak - baseline if baseline is not None and native_peak > baseline else None
            rows.append(
                [model, schedule, "x86-64, native", _mib(native_peak), _mib(baseline), _mib(above)]
                + [_mib(native_peak), _fitting(native_peak, budgets)]
            )
        for spec in group:
            emulated = results.get(spec.run_id)
            platform = f"{spec.arch} under qemu"
            if emulated is None or emulated.get("verdict") != "fits":
                verdict = "not run" if emulated is None else emulated.get("verdict", "no verdict")
                rows.append([model, schedule, platform, verdict, *["–"] * 4])
                continue
            estimate = emulated.get("estimated_device_peak_bytes")
            rows.append(
                [
                    model,
                    schedule,
                    platform,
                    _mib(emulated.get("peak_rss_bytes")),
                    _mib(emulated.get("emulated_python_numpy_bytes")),
                    _mib(emulated.get("prover_above_python_numpy_bytes")),
                    _mib(estimate),
                    _fitting(estimate, budgets),
                ]
            )
    return [
        "## ARM under emulation: peak memory",
        "",
        markdown_table(header, rows),
        "",
        "Each emulated row is one `edgeprove run` inside an ARM Debian userland under qemu user-mode "
        "emulation (`scripts/arm64.sh`), measured without a cap (qemu has no cgroups and ignores "
        "setrlimit). Its peak RSS includes qemu's own footprint, so beside it is an interpreter that only "
        "imports numpy, under the same emulation; the prover's own part is the difference. The x86-64 row "
        "is the largest peak RSS of the suite's native runs of the model. The estimated device peak adds "
        "the prover's part to python + numpy measured natively on this machine. It is an estimate, not a "
        "device measurement: qemu's translated-code cache grows with the code a process runs and stays in "
        "the prover's part (it overstates), while a device's page size (16 KiB on some), its allocator "
        "(Android's), its numpy build (Debian's here under emulation, PyPI's natively) and its own python + "
        "numpy footprint can move it either way. Emulated times are not device times and are not reported.",
        "",
    ]


def _largest_native_peak(
    suite: Suite, results: dict[str, dict[str, Any]], model: str, schedule: str
) -> int | None:
    """The largest peak RSS among the suite's native runs of `model` under `schedule` that fit."""
    peaks = [
        results[spec.run_id].get("peak_rss_bytes")
        for spec in suite.runs
        if spec.kind == "prove"
        and (spec.model, spec.schedule) == (model, schedule)
        and spec.run_id in results
        if results[spec.run_id].get("verdict") == "fits"
    ]
    peaks = [peak for peak in peaks if isinstance(peak, int) and peak > 0]
    return max(peaks) if peaks else None


def _fitting(peak: Any, budgets: list[int]) -> str:
    """How many device budgets (of devices/) hold `peak`: "20 of 20", or a dash."""
    if not isinstance(peak, (int, float)) or not peak or not budgets:
        return "–"
    return f"{sum(peak <= budget for budget in budgets)} of {len(budgets)}"


def _ratio(numerator: Any, denominator: Any) -> str:
    """numerator / denominator as "12.3x", or a dash."""
    if isinstance(numerator, (int, float)) and isinstance(denominator, (int, float)) and denominator:
        return f"{numerator / denominator:.1f}x"
    return "–"


def peers_tables(suite: Suite, results: dict[str, dict[str, Any]]) -> list[str]:
    """Per model: edgeprove's prove step beside every EZKL step (time, kernel peak, peak RSS), and ratios."""
    sections = []
    for model in dict.fromkeys(spec.model for spec in suite.runs if spec.kind == "ezkl"):
        ours = _find(suite, results, model=model, kind="prove", schedule="streaming")
        theirs = _find(suite, results, model=model, kind="ezkl")
        header = ["system", "step", "result", "time s", "peak MiB", "peak RSS MiB"]
        rows = []
        if ours:
            rows.append(
                [
                    "edgeprove (streaming)",
                    "prove (witness + commitments + proof)",
                    ours["verdict"],
                    _seconds(ours.get("prove_s")),
                    _mib(ours.get("peak_bytes")),
                    _mib(ours.get("peak_rss_bytes")),
                ]
            )
        if theirs:
            version = theirs.get("ezkl_version") or "not installed"
            for step in theirs.get("steps", []):
                note = " (cached SRS)" if step.get("srs_cached") else ""
                rows.append(
                    [
                        f"EZKL {version}",
                        step["step"] + note,
                        step["verdict"],
                        _seconds(step.get("seconds")),
                        _mib(step.get("peak_bytes")),
                        _mib(step.get("peak_rss_bytes")),
                    ]
                )
        sections += [f"## {model}: edgeprove and EZKL", "", markdown_table(header, rows), ""]
        if theirs and theirs.get("verdict") == "unavailable":
            sections += [f"EZKL could not run here: {theirs.get('verdict_reason')}", ""]
            continue
        if theirs:
            facts = [f"EZKL outcome: **{theirs['verdict']}** — {theirs.get('verdict_reason')}."]
            rows_needed = theirs.get("num_rows")
            if isinstance(rows_needed, int) and rows_needed > 0:
                calibrated = any(
                    step["step"] == "calibrate_settings" and step["verdict"] == "ok"
                    for step in theirs.get("steps", [])
                )
                power = max(1, rows_needed - 1).bit_length()
                facts.append(
                    f"EZKL's circuit has {rows_needed:,} rows (at least 2^{power}); logrows "
                    f"{theirs.get('logrows')} in its "
                    + ("calibrated settings." if calibrated else "uncalibrated settings.")
                )
            if theirs.get("time_limit_s"):
                facts.append(f"Time limit {theirs['time_limit_s']:.0f} s, cap {theirs.get('cap')}.")
            sections += [" ".join(facts), ""]
        if ours and theirs and theirs.get("verdict") == "fits":
            ratio_rows = [
                [
                    "prove time (EZKL prove / edgeprove prove)",
                    _ratio(theirs.get("prove_s"), ours.get("prove_s")),
                ],
                ["prove peak (kernel)", _ratio(theirs.get("prove_peak_bytes"), ours.get("peak_bytes"))],
                ["prove peak RSS", _ratio(theirs.get("prove_peak_rss_bytes"), ours.get("peak_rss_bytes"))],
                [
                    "setup time (EZKL setup / edgeprove prove)",
                    _ratio(theirs.get("setup_s"), ours.get("prove_s")),
                ],
                ["setup peak RSS", _ratio(theirs.get("setup_peak_rss_bytes"), ours.get("peak_rss_bytes"))],
                ["proof size", _ratio(theirs.get("proof_bytes"), ours.get("proof_bytes"))],
            ]
            sections += [markdown_table(["ratio", "EZKL / edgeprove"], ratio_rows), ""]
    return sections


def report_sections(suite: Suite, results: dict[str, dict[str, Any]]) -> list[str]:
    """The README's tables for the suite's report kind, then every prove run."""
    builders = {"paper0": paper0_tables, "devices": devices_tables, "peers": peers_tables}
    sections = builders[suite.report](suite, results) if suite.report in builders else []
    sections += emulated_tables(suite, results)
    sections += ["## All runs", "", runs_table(suite, results)]
    return sections
