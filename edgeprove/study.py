"""Studies: a suite TOML (streaming/) lists runs, each is proven under a real cap, results land in profiles/.

A suite names models x schedules x caps (devices or RAM sizes) and the harness backend. Every run is the
equivalent of `edgeprove run` (prove under the cap, verify outside it) or, for `kind = "ezkl"`, the EZKL
pipeline with each step under the same harness. One JSON per run goes to `<out>/runs/<run-id>.json`; a run
whose JSON exists is skipped, so an interrupted study resumes where it stopped. The README is rebuilt from
the JSONs.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprove.exitcodes import RUN_VERDICT_EXIT
from edgeprove.harness.devices import DeviceError, find_device, load_catalog
from edgeprove.harness.runner import BACKEND_NAMES
from edgeprove.harness.units import format_size, parse_size
from edgeprove.protocol import SCHEDULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SUITES_DIR = PROJECT_ROOT / "streaming"
DEFAULT_PROFILES = Path("profiles")
RUN_KINDS = ("prove", "ezkl")
REPORT_KINDS = ("runs", "paper0", "devices", "peers")
RUN_ID_PATTERN = re.compile(r"[^A-Za-z0-9_.-]+")
INTERRUPT_GRACE_S = 60.0
"""How long a child `edgeprove run` gets to kill its prover and remove its cgroup after Ctrl-C."""
VERDICT_OF_EXIT = {code: verdict for verdict, code in RUN_VERDICT_EXIT.items()}
"""`edgeprove run` exit codes that carry a result; any other code means the run itself could not be done."""
BULKY_PROVER_KEYS = ("output", "output_int", "proof")
MAX_SUITE_BYTES = 1 << 20
"""Largest suite file read (the shipped ones are under 4 KiB)."""
MAX_SUITE_RUNS = 10_000
"""Most runs a suite may expand to, over all its [[runs]] tables (paper0 has 52)."""
MAX_REPEATS = 100
"""Most repeats of one run."""
SUITE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
"""A suite's name, which names its results folder profiles/<name>: no separators, no leading dot."""


class SuiteError(ValueError):
    """A suite name that is not in streaming/, or a suite file that is malformed."""


class RunFailed(RuntimeError):
    """A run could not be carried out at all (the harness was unusable); nothing is recorded for it."""


@dataclass(frozen=True)
class RunSpec:
    """One run of a suite: what to prove (or hand to EZKL), under which cap, how often."""

    run_id: str
    kind: str
    model: str
    schedule: str
    cap_bytes: int
    device: str | None
    cap_label: str
    backend: str
    repeats: int
    time_limit_s: float | None


@dataclass
class Suite:
    """A parsed suite file: its runs and what its README shows."""

    name: str
    path: Path
    title: str
    description: str
    report: str
    timelines: bool
    runs: list[RunSpec]
    notes: list[str] = field(default_factory=list)
    published: dict[str, Any] = field(default_factory=dict)


def suite_names(directory: Path = SUITES_DIR) -> list[str]:
    """The suites shipped in streaming/ (file stems)."""
    return sorted(path.stem for path in directory.glob("*.toml"))


def find_suite(name_or_path: str, directory: Path = SUITES_DIR) -> Path:
    """streaming/NAME.toml for a bare name, else the TOML file at that path; SuiteError if neither exists."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml":
        if candidate.is_file():
            return candidate
        raise SuiteError(f"no suite file {name_or_path}")
    shipped = directory / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    known = ", ".join(suite_names(directory)) or "none"
    raise SuiteError(f"unknown suite {name_or_path!r}; known suites: {known} (or give a path to a .toml)")


def _string_list(table: dict[str, Any], key: str, where: str) -> list[str]:
    """table[key] as a list of strings (a single string is a list of one); [] when absent."""
    value = table.get(key, [])
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SuiteError(f"{where}: {key} must be a list of strings")
    return value


def _caps(table: dict[str, Any], where: str) -> list[tuple[int, str | None, str]]:
    """A run group's caps: (bytes, device name, label) per device ("*" = the whole catalog) and RAM size."""
    caps: list[tuple[int, str | None, str]] = []
    for name in _string_list(table, "devices", where):
        try:
            devices = load_catalog() if name == "*" else [find_device(name)]
        except DeviceError as error:
            raise SuiteError(f"{where}: {error}") from error
        caps.extend((device.budget_bytes, device.name, device.name) for device in devices)
    for size in _string_list(table, "rams", where):
        try:
            caps.append((parse_size(size), None, size))
        except ValueError as error:
            raise SuiteError(f"{where}: {error}") from error
    if not caps:
        raise SuiteError(f"{where}: give devices = [...] or rams = [...]")
    return caps


def make_run_id(kind: str, model: str, schedule: str, cap_label: str) -> str:
    """A file-name-safe id: model-schedule-cap for proofs, ezkl-model-cap for EZKL runs."""
    parts = [kind, model, cap_label] if kind == "ezkl" else [model, schedule, cap_label]
    return RUN_ID_PATTERN.sub("_", "-".join(parts).replace(" ", ""))


def _check_models(models: list[str], kind: str, where: str) -> None:
    """Every model must be a zoo name (EZKL runs export zoo models) or, for proofs, an existing model path."""
    from edgeprove.model import zoo

    known = set(zoo.names())
    for model in models:
        if model not in known and (kind == "ezkl" or not Path(model).exists()):
            raise SuiteError(
                f"{where}: unknown model {model!r} (not in the zoo"
                + (")" if kind == "ezkl" else " and no such file)")
            )


def _run_group(table: dict[str, Any], defaults: dict[str, Any], where: str) -> list[RunSpec]:
    """Expand one [[runs]] table into its models x schedules x caps (at most MAX_SUITE_RUNS)."""
    if not isinstance(table, dict):
        raise SuiteError(f"{where}: not a table")
    kind = table.get("kind", "prove")
    if kind not in RUN_KINDS:
        raise SuiteError(f"{where}: kind must be one of {', '.join(RUN_KINDS)}, not {kind!r}")
    models = _string_list(table, "models", where)
    if not models:
        raise SuiteError(f"{where}: models = [...] is empty")
    _check_models(models, kind, where)
    schedules = _string_list(table, "schedules", where) or ["streaming"]
    unknown = sorted(set(schedules) - set(SCHEDULES))
    if unknown:
        raise SuiteError(f"{where}: unknown schedule {unknown[0]!r}; choose streaming or baseline")
    backend = table.get("backend", defaults["backend"])
    if backend not in BACKEND_NAMES:
        raise SuiteError(f"{where}: unknown backend {backend!r}; choose one of {', '.join(BACKEND_NAMES)}")
    repeats = table.get("repeats", defaults["repeats"])
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= MAX_REPEATS:
        raise SuiteError(f"{where}: repeats must be an integer from 1 to {MAX_REPEATS}")
    limit = table.get("time_limit_s")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 < limit < math.inf
    ):
        raise SuiteError(f"{where}: time_limit_s must be a positive number of seconds")
    caps = _caps(table, where)
    if len(models) * len(schedules) * len(caps) > MAX_SUITE_RUNS:
        raise SuiteError(f"{where}: expands to more than {MAX_SUITE_RUNS:,} runs")
    return [
        RunSpec(
            make_run_id(kind, model, schedule, label),
            kind,
            model,
            schedule,
            cap,
            device,
            label,
            backend,
            repeats,
            float(limit) if limit else None,
        )
        for model in models
        for schedule in (schedules if kind == "prove" else ["ezkl"])
        for cap, device, label in caps
    ]


def load_suite(name_or_path: str, directory: Path = SUITES_DIR) -> Suite:
    """Read and validate a suite (name in streaming/ or a path); SuiteError with one line on any problem."""
    path = find_suite(name_or_path, directory)
    try:
        if path.stat().st_size > MAX_SUITE_BYTES:
            raise SuiteError(f"{path}: larger than {MAX_SUITE_BYTES >> 20} MiB, the ceiling for a suite file")
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SuiteError(f"{path}: {error}") from error
    except RecursionError:
        raise SuiteError(f"{path}: nested too deeply") from None
    report = data.get("report", "runs")
    if report not in REPORT_KINDS:
        raise SuiteError(f"{path}: report must be one of {', '.join(REPORT_KINDS)}")
    defaults = {"backend": data.get("backend", "auto"), "repeats": data.get("repeats", 1)}
    groups = data.get("runs")
    if not isinstance(groups, list) or not groups:
        raise SuiteError(f"{path}: no [[runs]] tables")
    runs: list[RunSpec] = []
    for number, group in enumerate(groups, 1):
        runs += _run_group(group, defaults, f"{path} [[runs]] #{number}")
        if len(runs) > MAX_SUITE_RUNS:
            raise SuiteError(f"{path}: expands to more than {MAX_SUITE_RUNS:,} runs")
    duplicates = sorted(
        run_id for run_id, count in Counter(spec.run_id for spec in runs).items() if count > 1
    )
    if duplicates:
        raise SuiteError(f"{path}: run {duplicates[0]} is listed twice")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not SUITE_NAME.fullmatch(name):
        raise SuiteError(
            f"{path}: name {name!r} must be a plain folder name (A-Z a-z 0-9 _ . -, no leading dot)"
        )
    return Suite(
        name=name,
        path=path,
        title=str(data.get("title", path.stem)),
        description=str(data.get("description", "")),
        report=report,
        timelines=bool(data.get("timelines", False)),
        runs=runs,
        notes=_string_list(data, "notes", str(path)),
        published=_published(data, str(path)),
    )


def _published(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The [published] table: source and hardware strings, a list of systems, and per group a table of
    model = [one cell string per system]; {} when absent."""
    published = data.get("published", {})
    if not isinstance(published, dict):
        raise SuiteError(f"{where}: [published] must be a table")
    systems = _string_list(published, "systems", f"{where} [published]")
    for key, value in published.items():
        if key in ("source", "hardware"):
            if not isinstance(value, str):
                raise SuiteError(f"{where}: [published] {key} must be a string")
        elif key != "systems" and (
            not isinstance(value, dict)
            or not all(isinstance(cells, list) and len(cells) == len(systems) for cells in value.values())
            or not all(isinstance(cell, str) for cells in value.values() for cell in cells)
        ):
            raise SuiteError(f"{where}: [published.{key}] must map each model to one cell string per system")
    return published


def select_runs(runs: list[RunSpec], only: str | None) -> list[RunSpec]:
    """The runs whose id matches the glob `only` (a plain word matches as a substring); all when None."""
    if not only:
        return list(runs)
    pattern = only if any(char in only for char in "*?[") else f"*{only}*"
    return [spec for spec in runs if fnmatch.fnmatch(spec.run_id, pattern)]


def machine_description() -> dict[str, Any]:
    """This machine: CPU model, cores usable, total RAM, OS and Python, recorded with every run."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        ram = int(psutil.virtual_memory().total)
    except ImportError:  # pragma: no cover - psutil is a dependency
        ram = None
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "ram_bytes": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def model_facts(model: str) -> dict[str, Any]:
    """Parameters and weight layers of a zoo model (empty for a model file)."""
    from edgeprove.model import zoo
    from edgeprove.model.ir import ModelError

    try:
        facts = zoo.summary(model)
    except ModelError:
        return {}
    return {"params": facts.params, "weight_layers": facts.weight_layers}


def edgeprove_argv(*arguments: str) -> list[str]:
    """The argv that runs an edgeprove command in a fresh interpreter with the project importable."""
    from edgeprove.harness.children import edgeprove_argv as argv

    return argv(*arguments)


def run_command(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a child to completion; on Ctrl-C let it clean up (it gets the same SIGINT), then re-raise."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        stdout, stderr = process.communicate()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def prove_once(spec: RunSpec, run_dir: Path) -> dict[str, Any]:
    """One `edgeprove run` under the spec's cap: its --json summary (verdict, peaks, times, prediction)."""
    from edgeprove.harness.children import child_environment, last_json_object

    cap = ["--device", spec.device] if spec.device else ["--ram", str(spec.cap_bytes)]
    argv = edgeprove_argv(
        "run",
        spec.model,
        *cap,
        "--backend",
        spec.backend,
        "--schedule",
        spec.schedule,
        "--out",
        str(run_dir),
        "--json",
    )
    completed = run_command(argv, child_environment(None))
    summary = last_json_object(completed.stdout)
    if completed.returncode not in VERDICT_OF_EXIT or "verdict" not in summary:
        last = (completed.stderr.strip().splitlines() or completed.stdout.strip().splitlines() or [""])[-1]
        raise RunFailed(f"edgeprove run exited {completed.returncode}: {last}")
    prover = summary.get("prover") or {}
    summary["prover"] = {key: value for key, value in prover.items() if key not in BULKY_PROVER_KEYS}
    return summary


def worst_verdict(verdicts: list[str]) -> str:
    """The verdict that speaks for repeated attempts: any failure outranks fits."""
    for verdict in ("error", "rejected", "oom"):
        if verdict in verdicts:
            return verdict
    return "fits"


def run_prove(spec: RunSpec, scratch: Path, timeline_png: Path | None) -> dict[str, Any]:
    """Repeat `edgeprove run` for the spec; median prove time, largest peaks, every attempt kept."""
    attempts = []
    for attempt in range(spec.repeats):
        run_dir = scratch / f"attempt{attempt}"
        attempts.append(prove_once(spec, run_dir))
        if timeline_png is not None and attempt == 0 and (run_dir / "timeline.png").exists():
            shutil.copyfile(run_dir / "timeline.png", timeline_png)
        shutil.rmtree(run_dir, ignore_errors=True)
        if attempts[-1]["verdict"] != "fits":
            break
    times = [a["prove_s"] for a in attempts if a["verdict"] == "fits" and isinstance(a.get("prove_s"), float)]
    first = attempts[0]
    return {
        "verdict": worst_verdict([a["verdict"] for a in attempts]),
        "verdict_reason": attempts[-1].get("verdict_reason"),
        "backend": first.get("backend"),
        "prove_s": statistics.median(times) if times else None,
        "prove_s_all": times,
        "peak_bytes": max(a.get("peak_bytes") or 0 for a in attempts) or None,
        "peak_rss_bytes": max(a.get("peak_rss_bytes") or 0 for a in attempts) or None,
        "predicted_peak_bytes": first.get("predicted_peak_bytes"),
        "proof_bytes": first.get("proof_bytes"),
        "peak_layer": attempts[-1].get("peak_layer"),
        "attempts": attempts,
    }


def run_one(spec: RunSpec, timeline_png: Path | None) -> dict[str, Any]:
    """Carry out one run in a scratch folder and return its result record (not yet written)."""
    started = time.time()
    with tempfile.TemporaryDirectory(prefix=f"edgeprove-study-{spec.run_id}-") as scratch:
        if spec.kind == "ezkl":
            from edgeprove.peers.ezkl_runner import run_ezkl

            outcome = run_ezkl(spec.model, spec.cap_bytes, spec.backend, spec.time_limit_s, Path(scratch))
        else:
            outcome = run_prove(spec, Path(scratch), timeline_png)
    return {
        "run_id": spec.run_id,
        "kind": spec.kind,
        "model": spec.model,
        "schedule": spec.schedule,
        "device": spec.device,
        "cap_bytes": spec.cap_bytes,
        "cap": spec.cap_label,
        "requested_backend": spec.backend,
        "repeats": spec.repeats,
        "time_limit_s": spec.time_limit_s,
        **model_facts(spec.model),
        **outcome,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "elapsed_s": round(time.time() - started, 3),
        "machine": machine_description(),
    }


def result_path(out_dir: Path, run_id: str) -> Path:
    """Where a run's JSON lives: <out>/runs/<run-id>.json."""
    return out_dir / "runs" / f"{run_id}.json"


def write_result(out_dir: Path, record: dict[str, Any]) -> Path:
    """Write a run's JSON atomically, so an interrupted write never looks like a finished run."""
    path = result_path(out_dir, record["run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".json.tmp")
    staging.write_text(json.dumps(record, indent=1, default=str) + "\n")
    staging.replace(path)
    return path


def is_finished(out_dir: Path, run_id: str) -> bool:
    """True when the run has a readable result that is not `unavailable` (a missing peer is retried)."""
    try:
        record = json.loads(result_path(out_dir, run_id).read_text())
    except (OSError, ValueError):
        return False
    return record.get("verdict") != "unavailable"


def load_results(out_dir: Path, runs: list[RunSpec]) -> dict[str, dict[str, Any]]:
    """The finished results of these runs, by run id (runs without a readable JSON are absent)."""
    results = {}
    for spec in runs:
        path = result_path(out_dir, spec.run_id)
        try:
            results[spec.run_id] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return results


@dataclass
class StudyOutcome:
    """What one `study` invocation did: runs done now, skipped as already done, and failed to run."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    readme: Path | None = None
    charts: list[Path] = field(default_factory=list)
    chart_note: str | None = None


def run_suite(
    suite: Suite,
    out_dir: Path,
    only: str | None = None,
    force: bool = False,
    on_start: Callable[[RunSpec, int, int], None] | None = None,
    on_done: Callable[[RunSpec, dict[str, Any] | None, str | None], None] | None = None,
) -> StudyOutcome:
    """Run every selected run that has no result yet (all with force), then rebuild the README and charts.

    Ctrl-C propagates as KeyboardInterrupt after the README is rebuilt from what finished.
    """
    selected = select_runs(suite.runs, only)
    outcome = StudyOutcome()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for position, spec in enumerate(selected, 1):
            if not force and is_finished(out_dir, spec.run_id):
                outcome.skipped.append(spec.run_id)
                continue
            if on_start:
                on_start(spec, position, len(selected))
            keep_png = suite.timelines and spec.kind == "prove"
            png = out_dir / "runs" / f"{spec.run_id}.png" if keep_png else None
            if png is not None:
                png.parent.mkdir(parents=True, exist_ok=True)
            try:
                record = run_one(spec, png)
            except RunFailed as error:
                outcome.failed[spec.run_id] = str(error)
                if on_done:
                    on_done(spec, None, str(error))
                continue
            write_result(out_dir, record)
            outcome.done.append(spec.run_id)
            if on_done:
                on_done(spec, record, None)
    finally:
        outcome.readme, outcome.charts, outcome.chart_note = write_readme(
            suite, load_results(out_dir, suite.runs), out_dir
        )
    return outcome


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
    """One sentence naming the machine the results were measured on (from the newest result)."""
    if not results:
        return "No run has finished yet."
    newest = max(results.values(), key=lambda record: record.get("started_utc", ""))
    machine = newest.get("machine", {})
    ram = machine.get("ram_bytes")
    return (
        f"Measured on {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"{format_size(ram) if ram else '?'} RAM, {machine.get('os', '?')}, Python "
        f"{machine.get('python', '?')}; harness backend {newest.get('backend', '?')}."
    )


def write_readme(
    suite: Suite, results: dict[str, dict[str, Any]], out_dir: Path
) -> tuple[Path, list[Path], str | None]:
    """Rebuild <out>/README.md (and the charts) from the run JSONs; returns the README, charts and a note
    when the charts could not be drawn."""
    from edgeprove import study_charts

    sections = report_sections(suite, results)
    charts, note = study_charts.draw(suite, results, out_dir)
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


def conservative_peak(result: dict[str, Any]) -> int | None:
    """The larger of the kernel's peak and the peak RSS: the figure compared with other systems' peaks
    (cgroup v1 does not charge file pages another cgroup cached first, e.g. the memory-mapped weights)."""
    values = [value for value in (result.get("peak_bytes"), result.get("peak_rss_bytes")) if value]
    return max(values) if values else None


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
            streaming = _find(suite, results, model=model, schedule="streaming")
            peak = conservative_peak(streaming) if streaming and streaming.get("verdict") == "fits" else None
            per_param = f"{peak / facts.params / 1000:.3f}" if peak else "–"
            rows.append(
                [
                    model,
                    f"{facts.params:,}",
                    str(facts.weight_layers),
                    _cell(streaming),
                    _cell(_find(suite, results, model=model, schedule="baseline")),
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


def _error_percent(measured: Any, predicted: Any) -> str:
    """(predicted - measured) / measured in percent, or a dash."""
    if not (isinstance(measured, (int, float)) and isinstance(predicted, (int, float)) and measured):
        return "–"
    return f"{100.0 * (predicted - measured) / measured:+.0f}%"


def devices_tables(suite: Suite, results: dict[str, dict[str, Any]]) -> list[str]:
    """The fits / does-not-fit matrix per model: one row per cap (device or RAM size, smallest first), both
    schedules, predicted vs measured."""
    from edgeprove.harness.devices import load_catalog

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
                result = _find(suite, results, model=model, schedule=schedule, cap_label=label)
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
                    _error_percent(result.get("peak_rss_bytes"), result.get("predicted_peak_bytes"))
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
    sections += ["## All runs", "", runs_table(suite, results)]
    return sections
