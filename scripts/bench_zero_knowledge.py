"""What zero knowledge costs: the same private-input proof made zero-knowledge and not, in one run.

For each model, `edgeprove prove MODEL --private-input` (zero-knowledge) and the same with
`--no-zero-knowledge` run alternately, --repeats times each, each a separate process (its peak is the
kernel's VmHWM of that process, its CPU seconds the process's own); the ratios are of the medians, and
of each round's pair (median and range), so a noisy neighbour on a shared machine moves both sides of a
pair.  The last proof of each kind is verified (timed).  Results go to profiles/zero_knowledge/results.json
and a markdown table beside it.  Usage:
    python scripts/bench_zero_knowledge.py wc50 --repeats 3
    python scripts/bench_zero_knowledge.py wc50 tiny_cnn --repeats 5 --threads 1 2
Without --threads the prover takes its default (the cores available); with it, each count is its own row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from edgeprove.process.atomic import write_atomic

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "profiles" / "zero_knowledge"
KINDS = {"zero-knowledge": [], "not zero-knowledge": ["--no-zero-knowledge"]}


def run_json(argv: list[str]) -> dict:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout)


def measure(model: str, repeats: int, workdir: Path, threads: int | None) -> dict:
    count = [] if threads is None else ["--threads", str(threads)]
    run_json(["edgeprove", "plan", model, "--json", "--private-input"])  # builds a zoo model first
    runs: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for _ in range(repeats):
        for kind, flags in KINDS.items():
            proof = workdir / f"{model}.{len(flags)}.proof"
            argv = ["edgeprove", "prove", model, "--private-input", *flags, "--out", str(proof), "--json"]
            runs[kind].append(run_json([*argv, *count]))
    verified = {}
    for kind, flags in KINDS.items():
        proof = workdir / f"{model}.{len(flags)}.proof"
        start = time.perf_counter()
        verdict = run_json(["edgeprove", "verify", str(proof), "--model", model, "--json"])
        if not verdict["accepted"]:
            raise RuntimeError(f"{model} ({kind}): the proof was rejected: {verdict['reason']}")
        verified[kind] = {"verify_s": time.perf_counter() - start, "verify_cpu_s": verdict["verify_cpu_s"]}
    row = {"model": model, "threads": runs["zero-knowledge"][0]["threads"], "repeats": repeats}
    for field in ("prove_cpu_s", "prove_s", "peak_rss_mb", "proof_bytes"):
        sides = {kind: [r[field] for r in runs[kind]] for kind in KINDS}
        pairs = [z / n for z, n in zip(sides["zero-knowledge"], sides["not zero-knowledge"])]
        row[field] = {kind: statistics.median(values) for kind, values in sides.items()}
        row[field]["ratio"] = statistics.median(pairs)
        row[field]["ratio_range"] = [min(pairs), max(pairs)]
    row["verify_cpu_s"] = {kind: verified[kind]["verify_cpu_s"] for kind in KINDS}
    return row


FIGURES = (("prove_cpu_s", 1, 2), ("prove_s", 1, 2), ("peak_rss_mb", 1, 1), ("proof_bytes", 1e6, 2))
"""Each table figure: its field, the unit it is divided by, its decimals (proof sizes in MB)."""


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | threads | prove CPU s (ZK / not, ratio) | prove wall s | peak VmHWM MiB | proof MB "
        "| verify CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = []
        for field, scale, digits in FIGURES:
            value = row[field]
            zk, plain = value["zero-knowledge"] / scale, value["not zero-knowledge"] / scale
            cells.append(f"{zk:,.{digits}f} / {plain:,.{digits}f} (**{value['ratio']:.2f}x**)")
        verify = row["verify_cpu_s"]
        cells.append(f"{verify['zero-knowledge']:.2f} / {verify['not zero-knowledge']:.2f}")
        lines.append(f"| {row['model']} | {row['threads']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[None])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for model in args.models:
            for threads in args.threads:
                rows.append(measure(model, args.repeats, Path(folder), threads))
    OUT.mkdir(parents=True, exist_ok=True)
    write_atomic(OUT / "results.json", (json.dumps(rows, indent=1) + "\n").encode())
    write_atomic(
        OUT / "README.md",
        (
            "# What zero knowledge costs\n\nMade by `python scripts/bench_zero_knowledge.py "
            + " ".join(args.models)
            + f" --repeats {args.repeats}"
            + ("" if args.threads == [None] else " --threads " + " ".join(map(str, args.threads)))
            + "`: medians, ratios the median of each round's pair.\n\n"
            + markdown(rows)
        ).encode(),
    )
    print(markdown(rows))


if __name__ == "__main__":
    main()
