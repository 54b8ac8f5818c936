"""Drive EZKL (Halo2, ONNX in) step by step, each step a child process under the same capped harness.

The pipeline is offline: gen_settings, calibrate_settings, compile_circuit, gen_srs (a local test SRS, cached
per logrows), setup, gen_witness, prove, verify. Each step's time and peak are measured like edgeprove's own
runs, so the two can be compared in one table. Needs the `compare` extra (`pip install 'edgeprove[compare]'`).

Run one step by hand: `python -m edgeprove.peers.ezkl_runner STEP WORKDIR SRS_DIR [TIME_LIMIT_S]`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

STEPS = (
    "gen_settings",
    "calibrate_settings",
    "compile_circuit",
    "gen_srs",
    "setup",
    "gen_witness",
    "prove",
    "verify",
)
SETUP_STEPS = ("gen_settings", "calibrate_settings", "compile_circuit", "gen_srs", "setup")
INSTALL_HINT = "ezkl is not installed here: pip install 'edgeprove[compare]'"
TIMEOUT_CODES = (-signal.SIGALRM, 128 + signal.SIGALRM)
INPUT_SEED = 0
CALIBRATION_TARGET = "resources"
"""EZKL's calibration target that favours small circuits (the other, `accuracy`, favours precision)."""


class EzklFailed(RuntimeError):
    """An EZKL step returned failure (False) rather than raising."""


def ezkl_version() -> str | None:
    """The installed EZKL version, or None when ezkl cannot be imported."""
    try:
        from importlib.metadata import version

        import ezkl  # noqa: F401
    except ImportError:
        return None
    return version("ezkl")


def srs_path(srs_dir: Path, logrows: int) -> Path:
    """The cached local test SRS for 2^logrows rows."""
    return Path(srs_dir) / f"kzg{logrows}.srs"


def settings_logrows(workdir: Path) -> tuple[int, int | None]:
    """(logrows, num_rows) from the circuit settings EZKL wrote."""
    settings = json.loads((Path(workdir) / "settings.json").read_text())
    return int(settings["run_args"]["logrows"]), settings.get("num_rows")


def write_input(model_name: str, workdir: Path) -> Path:
    """A seeded uniform [-1, 1) input in EZKL's input.json format, shaped like the zoo model's input."""
    from edgeprove.model import zoo

    shape = zoo.summary(model_name).input_shape
    values = np.random.default_rng(INPUT_SEED).uniform(-1.0, 1.0, size=(1, *shape))
    path = Path(workdir) / "input.json"
    path.write_text(json.dumps({"input_data": [values.reshape(-1).tolist()]}))
    return path


def _await(value: Any) -> Any:
    """EZKL returns coroutines from some calls and plain values from others; resolve either."""
    return asyncio.run(value) if inspect.isawaitable(value) else value


def perform_step(step: str, workdir: Path, srs_dir: Path) -> dict[str, Any]:
    """Carry out one EZKL step on the files in workdir; return what it measured (seconds, sizes)."""
    import ezkl

    files = {
        name: str(Path(workdir) / name)
        for name in (
            "model.onnx",
            "input.json",
            "settings.json",
            "model.compiled",
            "vk.key",
            "pk.key",
            "witness.json",
            "proof.json",
        )
    }
    extra: dict[str, Any] = {}
    started = time.perf_counter()
    if step == "gen_settings":
        arguments = ezkl.PyRunArgs()
        arguments.input_visibility = "public"
        arguments.output_visibility = "public"
        arguments.param_visibility = "fixed"
        outcome = _await(
            ezkl.gen_settings(files["model.onnx"], files["settings.json"], py_run_args=arguments)
        )
    elif step == "calibrate_settings":
        outcome = _await(
            ezkl.calibrate_settings(
                files["input.json"], files["model.onnx"], files["settings.json"], CALIBRATION_TARGET
            )
        )
    elif step == "compile_circuit":
        outcome = _await(
            ezkl.compile_circuit(files["model.onnx"], files["model.compiled"], files["settings.json"])
        )
    elif step == "gen_srs":
        logrows, _ = settings_logrows(workdir)
        path = srs_path(srs_dir, logrows)
        extra["srs_cached"] = path.exists()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = path.with_suffix(f".tmp{os.getpid()}")
            _await(ezkl.gen_srs(str(staging), logrows))
            staging.replace(path)
        outcome = True
    elif step == "setup":
        logrows, _ = settings_logrows(workdir)
        outcome = _await(
            ezkl.setup(
                files["model.compiled"], files["vk.key"], files["pk.key"], str(srs_path(srs_dir, logrows))
            )
        )
        extra["pk_bytes"] = Path(files["pk.key"]).stat().st_size
    elif step == "gen_witness":
        outcome = _await(
            ezkl.gen_witness(files["input.json"], files["model.compiled"], files["witness.json"])
        )
    elif step == "prove":
        logrows, _ = settings_logrows(workdir)
        outcome = _await(
            ezkl.prove(
                files["witness.json"],
                files["model.compiled"],
                files["pk.key"],
                files["proof.json"],
                str(srs_path(srs_dir, logrows)),
            )
        )
        extra["proof_bytes"] = Path(files["proof.json"]).stat().st_size
    elif step == "verify":
        logrows, _ = settings_logrows(workdir)
        outcome = _await(
            ezkl.verify(
                files["proof.json"], files["settings.json"], files["vk.key"], str(srs_path(srs_dir, logrows))
            )
        )
    else:
        raise ValueError(f"unknown EZKL step {step!r}; steps: {', '.join(STEPS)}")
    seconds = time.perf_counter() - started
    if outcome is False:
        raise EzklFailed(f"ezkl {step} returned False")
    return {"step": step, "seconds": round(seconds, 4), **extra}


def step_argv(step: str, workdir: Path, srs_dir: Path, time_limit_s: float | None) -> list[str]:
    """The child command for one step (the time limit is enforced inside the child with an alarm)."""
    argv = [sys.executable, "-m", "edgeprove.peers.ezkl_runner", step, str(workdir), str(srs_dir)]
    return argv + ([str(max(1, math.ceil(time_limit_s)))] if time_limit_s is not None else [])


def classify(result: Any, step_output: dict[str, Any]) -> tuple[str, str]:
    """A step's verdict and reason: ok, oom, timeout or error (from the harness's RunResult)."""
    if result.does_not_fit:
        return "oom", result.overrun
    if result.returncode in TIMEOUT_CODES:
        return "timeout", "the time limit ran out during this step"
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [""])[-1]
        return "error", f"exited {result.returncode}: {last[:300]}"
    return "ok", f"took {step_output.get('seconds', result.wall_s):.2f} s"


def run_step(
    step: str, workdir: Path, srs_dir: Path, cap_bytes: int, backend: str, time_limit_s: float | None
) -> dict[str, Any]:
    """Run one step as a child under the cap; its verdict, time, kernel peak and peak RSS."""
    from edgeprove.harness.children import child_environment, last_json_object
    from edgeprove.harness.runner import run_capped

    logs = Path(workdir) / "logs" / step
    result = run_capped(
        step_argv(step, workdir, srs_dir, time_limit_s),
        cap_bytes,
        backend=backend,
        out_dir=logs,
        env=child_environment(),
        writable_dirs=[Path(workdir), Path(srs_dir)],
    )
    output = last_json_object(result.stdout)
    verdict, reason = classify(result, output)
    return {
        "step": step,
        "verdict": verdict,
        "reason": reason,
        "seconds": output.get("seconds") if verdict == "ok" else None,
        "wall_s": round(result.wall_s, 3),
        "peak_bytes": result.peak_bytes,
        "peak_rss_bytes": result.peak_rss_bytes,
        "backend": result.backend,
        "backend_reason": result.backend_reason,
        **{key: value for key, value in output.items() if key not in ("step", "seconds")},
    }


def summarize(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's verdict (fits when every step succeeded), setup and prove figures, and where it stopped."""
    failed = next((step for step in steps if step["verdict"] != "ok"), None)
    by_name = {step["step"]: step for step in steps}
    setup_steps = [by_name[name] for name in SETUP_STEPS if name in by_name]
    prove = by_name.get("prove", {})
    verdict = "fits" if failed is None else failed["verdict"]
    return {
        "verdict": verdict,
        "verdict_reason": "every EZKL step succeeded and the proof verified"
        if failed is None
        else f"{failed['step']}: {failed['reason']}",
        "failed_step": failed["step"] if failed else None,
        "prove_s": prove.get("seconds"),
        "peak_bytes": max((step["peak_bytes"] or 0 for step in steps), default=0) or None,
        "peak_rss_bytes": max((step["peak_rss_bytes"] or 0 for step in steps), default=0) or None,
        "prove_peak_bytes": prove.get("peak_bytes"),
        "prove_peak_rss_bytes": prove.get("peak_rss_bytes"),
        "setup_s": by_name["setup"]["seconds"] if "setup" in by_name else None,
        "setup_peak_bytes": by_name["setup"]["peak_bytes"] if "setup" in by_name else None,
        "setup_peak_rss_bytes": by_name["setup"]["peak_rss_bytes"] if "setup" in by_name else None,
        "preprocessing_s": sum(step["wall_s"] for step in setup_steps),
        "proof_bytes": prove.get("proof_bytes"),
        "backend": steps[0]["backend"] if steps else None,
        "steps": steps,
    }


def run_ezkl(
    model: str,
    cap_bytes: int,
    backend: str,
    time_limit_s: float | None,
    workdir: Path,
    srs_dir: Path | None = None,
) -> dict[str, Any]:
    """Export the zoo model to ONNX and run every EZKL step under the cap until one fails or time runs out.

    Returns the run's result fields; verdict `unavailable` when ezkl cannot be imported here.
    """
    from edgeprove.model import zoo
    from edgeprove.peers.onnx_export import export_zoo_model

    version = ezkl_version()
    if version is None:
        return {"verdict": "unavailable", "verdict_reason": INSTALL_HINT, "steps": []}
    srs_dir = Path(srs_dir or zoo.cache_dir().parent / "ezkl-srs")
    workdir = Path(workdir)
    export_zoo_model(model, workdir / "model.onnx")
    write_input(model, workdir)
    deadline = time.monotonic() + time_limit_s if time_limit_s is not None else None
    steps: list[dict[str, Any]] = []
    for step in STEPS:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            steps.append(
                {
                    "step": step,
                    "verdict": "timeout",
                    "reason": "the time limit ran out before this step",
                    "seconds": None,
                    "wall_s": 0.0,
                    "peak_bytes": None,
                    "peak_rss_bytes": None,
                    "backend": steps[-1]["backend"] if steps else backend,
                    "backend_reason": "",
                }
            )
            break
        steps.append(run_step(step, workdir, srs_dir, cap_bytes, backend, remaining))
        if steps[-1]["verdict"] != "ok":
            break
    outcome = summarize(steps)
    outcome["ezkl_version"] = version
    outcome["input"] = f"seeded uniform [-1, 1) float input (seed {INPUT_SEED})"
    if (workdir / "settings.json").exists():
        outcome["logrows"], outcome["num_rows"] = settings_logrows(workdir)
    return outcome


def main(argv: list[str]) -> int:
    """Child entry point: one step; prints its JSON line; exit 1 with a one-line error when it fails."""
    if len(argv) not in (3, 4) or argv[0] not in STEPS:
        print(
            f"usage: python -m edgeprove.peers.ezkl_runner {{{','.join(STEPS)}}} WORKDIR SRS_DIR [SECONDS]",
            file=sys.stderr,
        )
        return 2
    if len(argv) == 4:
        signal.alarm(int(argv[3]))  # SIGALRM's default action ends the process: the step's time limit
    try:
        print(json.dumps(perform_step(argv[0], Path(argv[1]), Path(argv[2]))))
    except Exception as error:  # EZKL raises plain RuntimeErrors from Rust; report them on one line
        message = " ".join(str(error).split())[:500]
        print(f"error: ezkl {argv[0]} failed: {type(error).__name__}: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
