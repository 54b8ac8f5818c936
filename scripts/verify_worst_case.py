"""How much can a prover make the verifier work?  Proves a model honestly, then with every choice a proof
may make pushed to its limit (column queries, code rate, activation tables as wide as the
model's static bounds allow), and times `edgeprove verify` on each proof in a fresh process: wall and CPU
seconds and the kernel's peak RSS (VmHWM), medians of several runs, with each figure's ratio to the honest
proof.  Hostile proofs that are not complete proofs are refused earlier (headers, section ceilings), so a
complete proof at the limits is the most work a proof can cause.

    python scripts/verify_worst_case.py lenet5 wc50 --repeats 3 [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgeprove import prover
from edgeprove.commit import ligero
from edgeprove.layers import requant
from edgeprove.model.bounds import check_model
from edgeprove.model.resolve import load_model, seeded_input

LIMITS = {
    "honest (defaults)": (ligero.LIGERO.default_params(), False),
    "widest tables": (ligero.LIGERO.default_params(), True),
    "512 queries, rate 1/2": (ligero.LigeroParams(rate_log=1, queries=ligero.MAX_QUERIES), False),
    "512 queries, rate 1/8": (ligero.LigeroParams(rate_log=3, queries=ligero.MAX_QUERIES), False),
    "all limits": (ligero.LigeroParams(rate_log=3, queries=ligero.MAX_QUERIES), True),
}


@contextlib.contextmanager
def widest_tables(model) -> Iterator[None]:
    """Have the prover size every activation table by the model's static bound instead of its data."""
    widths = iter(
        b.q_bits
        for layer, b in zip(model.layers, check_model(model))
        if layer.requantized and layer.kind != "maxpool"
    )
    honest = requant.act_bits_for
    requant.act_bits_for = lambda q: next(widths)
    try:
        yield
    finally:
        requant.act_bits_for = honest


def verify_once(proof: Path, model: str) -> dict:
    """One `edgeprove verify --json` in a fresh interpreter; its verdict record."""
    entry = "import sys; from edgeprove.cli import main; sys.exit(main())"
    argv = [sys.executable, "-c", entry, "verify", str(proof), "--model", model, "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    record = json.loads(done.stdout.strip().splitlines()[-1])
    if not record["accepted"]:
        raise SystemExit(f"{proof}: {record['reason']}")
    return record


def measure(model_name: str, repeats: int, folder: Path) -> list[dict]:
    """Every limit's proof size and median verify figures, with ratios to the honest proof."""
    model = load_model(model_name)
    x = seeded_input(model, 0)
    rows = []
    for label, (params, wide) in LIMITS.items():
        proof = folder / f"{model_name}-{len(rows)}.proof"
        with widest_tables(model) if wide else contextlib.nullcontext():
            prover.prove(model, x, proof, params=params)
        runs = [verify_once(proof, model_name) for _ in range(repeats)]
        row = {
            "model": model_name,
            "limit": label,
            "queries": params.num_queries(),
            "rate_log": params.rate_log,
            "widest_tables": wide,
            "proof_bytes": proof.stat().st_size,
            **{
                key: statistics.median(r[key] for r in runs)
                for key in ("verify_s", "verify_cpu_s", "peak_rss_mb")
            },
        }
        honest = rows[0] if rows else row
        for key in ("verify_s", "verify_cpu_s", "peak_rss_mb", "proof_bytes"):
            row[f"{key}_ratio"] = round(row[key] / honest[key], 2)
        rows.append(row)
        ratios = "  ".join(
            f"{key} {row[key]:.2f} ({row[key + '_ratio']:.2f}x)"
            for key in ("verify_s", "verify_cpu_s", "peak_rss_mb")
        )
        print(f"{model_name:8} {label:24} proof {row['proof_bytes'] / 2**20:7.2f} MiB  {ratios}", flush=True)
    return rows


def main() -> None:
    """Measure each model named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="Also write the rows here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgeprove-worst-") as scratch:
        rows = [row for name in args.models for row in measure(name, args.repeats, Path(scratch))]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
