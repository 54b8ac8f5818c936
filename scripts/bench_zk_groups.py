"""What the size of a zero-knowledge proof's shared commitments trades: bytes against peak memory and time.

For each model and each group size 2^G (``ZkLigeroParams.group_vars``, design.md section 10.2.1), the same
seeded private input is proven in zero knowledge, the sizes alternating round by round, each proof in a
fresh process (its peak is that process's VmHWM, its CPU seconds its own; BLAS on one thread, as the
command line runs it); the proof is verified once per size.  Medians go to
profiles/zero_knowledge/groups.json and a markdown table beside it.  Usage:
    python scripts/bench_zk_groups.py wc50 --groups 0 17 18 19 20 --repeats 3 --threads 1
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
import json, sys, time
from edgeprove import prover, verifier
from edgeprove.commit.zk_ligero import ZkLigeroParams
from edgeprove.model.resolve import load_model, seeded_input
from edgeprove.process.peak import own_peak_rss_bytes
model, group_vars, threads, path, check = sys.argv[1:6]
m = load_model(model)
result = prover.prove(m, seeded_input(m, 0), path, private_input=True, threads=int(threads),
                      params=ZkLigeroParams(group_vars=int(group_vars)))
record = {"prove_cpu_s": result.prove_cpu_s, "prove_s": result.prove_s, "proof_bytes": result.proof_bytes,
          "peak_rss_mb": own_peak_rss_bytes() / 2**20}
if check == "verify":
    verdict = verifier.verify(path, m)
    if not verdict.accepted:
        raise SystemExit(f"rejected: {verdict.reason}")
print(json.dumps(record))
"""


def prove_once(model: str, group_vars: int, threads: int, path: Path, verify: bool) -> dict:
    argv = [sys.executable, "-c", CHILD, model, str(group_vars), str(threads), str(path)]
    env = {**os.environ, **{name: os.environ.get(name, "1") for name in BLAS_THREAD_VARIABLES}}
    proc = subprocess.run([*argv, "verify" if verify else "-"], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{model} at 2^{group_vars}: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(model: str, groups: list[int], repeats: int, threads: int, workdir: Path) -> list[dict]:
    runs: dict[int, list[dict]] = {g: [] for g in groups}
    for round_ in range(repeats):
        for g in groups:
            runs[g].append(prove_once(model, g, threads, workdir / f"{model}.{g}.proof", round_ == 0))
    fields = ("prove_cpu_s", "prove_s", "peak_rss_mb", "proof_bytes")
    return [
        {"model": model, "group_vars": g, "threads": threads, "repeats": repeats}
        | {field: statistics.median(r[field] for r in runs[g]) for field in fields}
        for g in groups
    ]


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | threads | group size | proof MB | peak VmHWM MiB | prove CPU s | prove wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['threads']} | 2^{row['group_vars']} | {row['proof_bytes'] / 1e6:.2f} "
            f"| {row['peak_rss_mb']:.1f} | {row['prove_cpu_s']:.2f} | {row['prove_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--groups", type=int, nargs="+", default=[0, 17, 18, 19, 20])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for model in args.models:
            rows += measure(model, args.groups, args.repeats, args.threads, Path(folder))
    OUT.mkdir(parents=True, exist_ok=True)
    write_atomic(OUT / "groups.json", (json.dumps(rows, indent=1) + "\n").encode())
    command = (
        f"python scripts/bench_zk_groups.py {' '.join(args.models)} --groups "
        f"{' '.join(map(str, args.groups))} --repeats {args.repeats} --threads {args.threads}"
    )
    write_atomic(
        OUT / "groups.md",
        (
            f"# Zero knowledge: group size against bytes and memory\n\nMade by `{command}`: medians.\n\n"
            + markdown(rows)
        ).encode(),
    )
    print(markdown(rows))


if __name__ == "__main__":
    main()
