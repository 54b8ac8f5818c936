"""Where a zero-knowledge proof's extra time goes: its commitments' encoding and hashing, its openings, and
the rest, against the same private-input proof in the clear.

For each model the same seeded private input is proven with and without zero knowledge, alternately, each
proof in a fresh process on one thread (BLAS too), timing in that process the CPU seconds spent inside the
commitments' encoding and hashing (both schemes' ``_leaf_digests``) and inside the openings (``open`` of both
schemes and ``zk_ligero.open_constraints``).  The "floor" is the ratio a zero-knowledge proof would have if
everything but its commitments' encoding and hashing cost what it costs in the clear (design.md section
10.6).  Medians of each round's figures go to profiles/zero_knowledge/phases.json and a markdown table beside
it.  Usage:
    python scripts/profile_zk_phases.py wc50 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from edgeprove.cli import BLAS_THREAD_VARIABLES
from edgeprove.process.atomic import write_atomic

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "profiles" / "zero_knowledge"
CHILD = """
import collections, json, sys, time
from edgeprove import prover
from edgeprove.commit import ligero, zk_ligero
from edgeprove.model.resolve import load_model, seeded_input
spent = collections.Counter()
def timed(module, name, phase):
    inner = getattr(module, name)
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[phase] += time.process_time() - start
    setattr(module, name, wrapper)
for module in (ligero, zk_ligero):
    timed(module, "_leaf_digests", "commit_cpu_s")
    timed(module, "open", "open_cpu_s")
timed(zk_ligero, "open_constraints", "open_cpu_s")
model, mode, path = sys.argv[1:4]
m = load_model(model)
start = time.process_time()
prover.prove(m, seeded_input(m, 0), path, private_input=True, threads=1, zero_knowledge=mode == "zk")
print(json.dumps({"prove_cpu_s": time.process_time() - start, **spent}))
"""
FIELDS = ("prove_cpu_s", "commit_cpu_s", "open_cpu_s")


def prove_once(model: str, mode: str, path: Path) -> dict:
    env = {**os.environ, **{name: "1" for name in BLAS_THREAD_VARIABLES}}
    argv = [sys.executable, "-c", CHILD, model, mode, str(path)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{model} ({mode}): {proc.stderr.strip()[-400:]}")
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    return {field: record.get(field, 0.0) for field in FIELDS}


def measure(model: str, repeats: int, workdir: Path) -> dict:
    """Medians of each mode's phases, the ratio and the floor (each the median of the rounds' own)."""
    rounds = []
    for _ in range(repeats):
        hidden = prove_once(model, "zk", workdir / f"{model}.zk.proof")
        clear = prove_once(model, "clear", workdir / f"{model}.clear.proof")
        rounds.append((hidden, clear))
    row: dict = {"model": model, "repeats": repeats}
    for mode, index in (("zk", 0), ("clear", 1)):
        for field in FIELDS:
            row[f"{mode}_{field}"] = statistics.median(pair[index][field] for pair in rounds)
    row["ratio"] = statistics.median(z["prove_cpu_s"] / c["prove_cpu_s"] for z, c in rounds)
    row["floor"] = statistics.median(
        (c["prove_cpu_s"] + z["commit_cpu_s"] - c["commit_cpu_s"]) / c["prove_cpu_s"] for z, c in rounds
    )
    return row


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | prove CPU s (ZK / clear) | encoding and hashing s | openings s | rest s | ratio | floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        rest = [
            row[f"{mode}_prove_cpu_s"] - row[f"{mode}_commit_cpu_s"] - row[f"{mode}_open_cpu_s"]
            for mode in ("zk", "clear")
        ]
        lines.append(
            f"| {row['model']} | {row['zk_prove_cpu_s']:.2f} / {row['clear_prove_cpu_s']:.2f} "
            f"| {row['zk_commit_cpu_s']:.2f} / {row['clear_commit_cpu_s']:.2f} "
            f"| {row['zk_open_cpu_s']:.2f} / {row['clear_open_cpu_s']:.2f} | {rest[0]:.2f} / {rest[1]:.2f} "
            f"| {row['ratio']:.2f}x | {row['floor']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(model, args.repeats, Path(folder)) for model in args.models]
    OUT.mkdir(parents=True, exist_ok=True)
    write_atomic(OUT / "phases.json", (json.dumps(rows, indent=1) + "\n").encode())
    command = f"python scripts/profile_zk_phases.py {' '.join(args.models)} --repeats {args.repeats}"
    write_atomic(
        OUT / "phases.md",
        (
            "# Zero knowledge: where the extra time goes\n\n"
            f"Made by `{command}`: CPU seconds on one thread, medians; the floor is the ratio if everything "
            "but the commitments' encoding and hashing cost what it costs in the clear.\n\n" + markdown(rows)
        ).encode(),
    )
    print(markdown(rows))


if __name__ == "__main__":
    main()
