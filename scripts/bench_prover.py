"""Prover benchmark: time, peak memory and proof size of `edgeprove prove` per model and schedule.

Each run is a separate `edgeprove prove --json` process (its peak is the kernel's VmHWM of that process);
times are medians over --repeats runs; the proof of the last run is verified (also timed) and the planner's
prediction is recorded beside the measurement.  Results go to profiles/prover/results.json and a markdown
table profiles/prover/README.md.  Usage:
    python scripts/bench_prover.py wc50 lenet5 --schedules streaming baseline --repeats 3
    python scripts/bench_prover.py --paper0 --repeats 3
    python scripts/bench_prover.py iriscode --private-input --input iris.npy --repeats 5
    python scripts/bench_prover.py wc50 --threads 1 2 --repeats 3
Without --threads the prover takes its default (the cores available); with it, each count is its own row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "profiles" / "prover"


def run_json(argv: list[str]) -> dict:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout)


def measure(
    model: str,
    schedule: str,
    repeats: int,
    workdir: Path,
    private: bool = False,
    given: Path | None = None,
    threads: int | None = None,
) -> dict:
    proof = workdir / f"{model}.{schedule}.proof"
    extra = (["--private-input"] if private else []) + (["--input", str(given)] if given else [])
    count = [] if threads is None else ["--threads", str(threads)]
    # planning first builds a zoo model into its cache, so no measured run includes the build
    planned = ["--private-input"] if private else []
    plan = run_json(["edgeprove", "plan", model, "--schedule", schedule, "--json", *count, *planned])
    runs = []
    for _ in range(repeats):
        argv = ["edgeprove", "prove", model, "--schedule", schedule, "--out", str(proof), "--json"]
        runs.append(run_json([*argv, *extra, *count]))
    start = time.perf_counter()
    verdict = run_json(["edgeprove", "verify", str(proof), "--model", model, "--json"])
    verify_wall = time.perf_counter() - start
    if not verdict["accepted"]:
        raise RuntimeError(f"{model}/{schedule}: the proof was rejected: {verdict['reason']}")
    peaks = [r["peak_rss_mb"] for r in runs]
    return {
        "model": model,
        "schedule": schedule,
        "input": ("private" if private else "public") + (f" {given.name}" if given else " seeded"),
        "threads": runs[-1].get("threads"),
        "repeats": repeats,
        "prove_s": statistics.median(r["prove_s"] for r in runs),
        "prove_s_runs": [r["prove_s"] for r in runs],
        "prove_cpu_s": statistics.median(r["prove_cpu_s"] for r in runs),
        "peak_mb": statistics.median(peaks),
        "peak_mb_runs": peaks,
        "proof_bytes": runs[-1]["proof_bytes"],
        "verify_s": verdict["verify_s"],
        "verify_cpu_s": verdict["verify_cpu_s"],
        "verify_wall_s": round(verify_wall, 3),
        "accepted": verdict["accepted"],
        "predicted_peak_mb": round(plan["peak_bytes"] / 2**20, 1),
        "prediction_error": round(plan["peak_bytes"] / 2**20 / statistics.median(peaks) - 1, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*")
    parser.add_argument("--paper0", action="store_true", help="add every paper0 model")
    parser.add_argument("--schedules", nargs="+", default=["streaming"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--private-input", action="store_true", help="prove with a committed input")
    parser.add_argument("--input", type=Path, help="an input .npy (default: the seeded int8 input)")
    parser.add_argument("--threads", type=int, nargs="+", default=[None], help="the prover's thread counts")
    args = parser.parse_args()
    models = list(args.models)
    if args.paper0:
        from edgeprove.model import zoo

        models += [m["name"] for suite in zoo.paper0_suites().values() for m in suite]
    OUT.mkdir(parents=True, exist_ok=True)
    results_path = OUT / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            for schedule in args.schedules:
                for threads in args.threads:
                    record = measure(
                        model, schedule, args.repeats, Path(tmp), args.private_input, args.input, threads
                    )
                    key = f"{model}/{schedule}" + ("/private" if args.private_input else "")
                    key += "" if threads is None else f"/{threads}t"
                    results[key] = record
                    results_path.write_text(json.dumps(results, indent=1))
                    print(json.dumps(record), flush=True)
    write_table(results)


def write_table(results: dict) -> None:
    lines = [
        "# Prover measurements",
        "",
        "Written by `scripts/bench_prover.py`: each run is its own `edgeprove prove` process; peak is",
        "the process's VmHWM (kernel high-water mark of RSS), times are the median of the runs (witness",
        "generation included), verify is one `edgeprove verify` of the last proof. CPU columns are the",
        "process's CPU time, steadier than wall time while other work shares the machine.",
        "",
        "| model | schedule | input | threads | prove s (median) | prove CPU s | peak MiB "
        "| predicted MiB (err) | proof MiB | verify s | verify CPU s | runs |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results.values():
        lines.append(
            f"| {r['model']} | {r['schedule']} | {r.get('input', 'public seeded')} | "
            f"{r.get('threads') or '–'} | {r['prove_s']:.2f} | "
            f"{r['prove_cpu_s']:.2f} | "
            f"{r['peak_mb']:.1f} | {r['predicted_peak_mb']:.1f} ({r['prediction_error']:+.0%}) | "
            f"{r['proof_bytes'] / 2**20:.2f} | {r['verify_s']:.2f} | {r['verify_cpu_s']:.2f} | "
            f"{r['repeats']} |"
        )
    (OUT / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
