"""Running a suite: each run that has no result yet, as a child `edgeprove run` (or the EZKL pipeline), then
the README rebuilt; resumable, and Ctrl-C keeps what finished."""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprove.exitcodes import RUN_VERDICT_EXIT
from edgeprove.harness.children import child_environment, edgeprove_argv, last_json_object
from edgeprove.harness.environment import machine_description
from edgeprove.study.pages import write_study_page
from edgeprove.study.results import is_finished, load_results, write_result
from edgeprove.study.suites import PROJECT_ROOT, RunSpec, Suite, select_runs
from edgeprove.study.tables import write_readme

INTERRUPT_GRACE_S = 60.0
"""How long a child `edgeprove run` gets to kill its prover and remove its cgroup after Ctrl-C."""
VERDICT_OF_EXIT = {code: verdict for verdict, code in RUN_VERDICT_EXIT.items()}
"""`edgeprove run` exit codes that carry a result; any other code means the run itself could not be done."""
BULKY_PROVER_KEYS = ("output", "output_int", "proof")
PYTHON_NUMPY_PEAK = (
    "import numpy; print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
)
"""Prints the VmHWM (KiB) of an interpreter that has imported numpy."""
EMULATOR = PROJECT_ROOT / "scripts" / "arm64.sh"
"""Runs a command in an ARM Debian root file system through qemu user-mode emulation (emulated runs)."""


class RunFailed(RuntimeError):
    """A run could not be carried out at all (the harness was unusable); nothing is recorded for it."""


def model_facts(model: str) -> dict[str, Any]:
    """Parameters and weight layers of a zoo model (empty for a model file)."""
    from edgeprove.model import zoo
    from edgeprove.model.ir import ModelError

    try:
        facts = zoo.summary(model)
    except ModelError:
        return {}
    return {"params": facts.params, "weight_layers": facts.weight_layers}


def run_command(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a child in a process group of its own to completion; on Ctrl-C (or SIGTERM turned into one) send
    SIGINT to that whole group, so whatever the child started stops too, give it time to clean up, kill what
    is left, then re-raise."""
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate()
    except KeyboardInterrupt:
        _signal_group(process, signal.SIGINT)
        try:
            process.wait(INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(process, signal.SIGKILL)
        process.wait()
        raise
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def _signal_group(process: subprocess.Popen[str], signum: int) -> None:
    """Send `signum` to the child's process group (gone already: nothing to do)."""
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def last_line(completed: subprocess.CompletedProcess[str]) -> str:
    """The child's last line of stderr (or else stdout): its reason when it failed."""
    return (completed.stderr.strip().splitlines() or completed.stdout.strip().splitlines() or [""])[-1]


def emulated_argv(arch: str, bind: Path, *command: str) -> list[str]:
    """The argv that runs `command` in the emulated ARM root file system, with `bind` visible inside."""
    return [str(EMULATOR), "--arch", arch, "--bind", str(bind), "--", *command]


def check_emulator() -> None:
    """RunFailed unless this process can run the emulator: it needs root (chroot, mounts) and the script."""
    if not os.access(EMULATOR, os.X_OK):
        raise RunFailed(
            f"{EMULATOR} is missing or not executable; emulated runs need the repository's scripts/"
        )
    if os.geteuid() != 0:
        raise RunFailed(f"emulated runs need root ({EMULATOR.name} builds and enters a chroot); run as root")


def prove_once(spec: RunSpec, run_dir: Path) -> dict[str, Any]:
    """One `edgeprove run` under the spec's cap (under ARM emulation for an emulated spec): its --json
    summary (verdict, peaks, times, prediction)."""
    cap = ["--device", spec.device] if spec.device else ["--ram", str(spec.cap_bytes)]
    arguments = ["run", spec.model, *cap, "--backend", spec.backend, "--schedule", spec.schedule]
    arguments += ["--private-input"] if spec.private_input else []
    arguments += ["--out", str(run_dir), "--json"]
    if spec.arch is None:
        argv, what = edgeprove_argv(*arguments), "edgeprove run"
    else:
        argv = emulated_argv(spec.arch, run_dir.parent, "edgeprove", *arguments)
        what = f"{EMULATOR.name} --arch {spec.arch} edgeprove run"
    completed = run_command(argv, child_environment())
    summary = last_json_object(completed.stdout)
    if completed.returncode not in VERDICT_OF_EXIT or "verdict" not in summary:
        raise RunFailed(f"{what} exited {completed.returncode}: {last_line(completed)}")
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
        if timeline_png is not None and attempt == 0:
            for kept, name in (
                (timeline_png, "timeline.png"),
                (timeline_png.with_suffix(".html"), "report.html"),
            ):
                if (run_dir / name).exists():
                    shutil.copyfile(run_dir / name, kept)
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


def python_numpy_peak(argv: list[str]) -> int:
    """VmHWM in bytes of the interpreter `argv` importing numpy and exiting: what any prover process holds
    before its own work (under emulation, qemu's footprint included); RunFailed when it cannot be run."""
    completed = run_command([*argv, "-c", PYTHON_NUMPY_PEAK], child_environment())
    words = completed.stdout.split()
    if completed.returncode != 0 or not words or not words[-1].isdigit() or int(words[-1]) <= 0:
        raise RunFailed(
            f"{' '.join(argv)} could not measure python + numpy (exit {completed.returncode}): "
            f"{last_line(completed)}"
        )
    return int(words[-1]) * 1024


def run_emulated(spec: RunSpec, scratch: Path) -> dict[str, Any]:
    """The prove runs of `run_prove` under ARM emulation, after the interpreter baselines that separate the
    prover's own memory from qemu's: python + numpy alone, measured under the same emulation and natively."""
    check_emulator()
    emulated_baseline = python_numpy_peak(emulated_argv(str(spec.arch), scratch, "python3"))
    native_baseline = python_numpy_peak([sys.executable])
    outcome = run_prove(spec, scratch, None)
    environment = outcome["attempts"][0].get("environment") or {}
    peak = outcome.get("peak_rss_bytes")
    above = peak - emulated_baseline if peak is not None and peak > emulated_baseline else None
    return {
        **outcome,
        "emulated_machine": environment.get("machine"),
        "emulated_numpy": environment.get("numpy"),
        "emulated_python_numpy_bytes": emulated_baseline,
        "native_python_numpy_bytes": native_baseline,
        "prover_above_python_numpy_bytes": above,
        "estimated_device_peak_bytes": above + native_baseline if above is not None else None,
    }


def run_one(spec: RunSpec, timeline_png: Path | None) -> dict[str, Any]:
    """Carry out one run in a scratch folder and return its result record (not yet written)."""
    started = time.time()
    with tempfile.TemporaryDirectory(prefix=f"edgeprove-study-{spec.run_id}-") as scratch:
        if spec.kind == "ezkl":
            from edgeprove.peers.ezkl_runner import run_ezkl

            outcome = run_ezkl(spec.model, spec.cap_bytes, spec.backend, spec.time_limit_s, Path(scratch))
        elif spec.kind == "emulated":
            outcome = run_emulated(spec, Path(scratch))
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
        "arch": spec.arch,
        "private_input": spec.private_input,
        **model_facts(spec.model),
        **outcome,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "elapsed_s": round(time.time() - started, 3),
        "machine": machine_description(),
    }


@dataclass
class StudyOutcome:
    """What one `study` invocation did: runs done now, skipped as already done, and failed to run."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    readme: Path | None = None
    index: Path | None = None
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
        results = load_results(out_dir, suite.runs)
        outcome.readme, outcome.charts, outcome.chart_note = write_readme(suite, results, out_dir)
        outcome.index = write_study_page(suite, results, out_dir, outcome.charts)
    return outcome
