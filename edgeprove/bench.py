"""Core benchmarks: field throughput, sumcheck, Ligero commitment and LogUp-GKR (``edgeprove bench``).

Each benchmark runs in its own child process (``python -m edgeprove.bench NAME``) so its peak RSS does
not mix with the others'.  The child reports the kernel's high-water mark of its own address space
(VmHWM): wait4's ru_maxrss would not do here, because Linux carries the forking parent's RSS over exec
into the child's maximum.  Times are medians of repeats.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import numpy as np

from edgeprove import field as F
from edgeprove import sumcheck
from edgeprove.process.peak import own_peak_rss_bytes
from edgeprove.transcript import Transcript

BENCHMARKS = ("field", "sumcheck", "commit", "lookup")
TARGETS = {
    "sumcheck": ("prove_seconds", 0.5),
    "commit": ("commit_seconds", 1.0),
    "lookup": ("prove_seconds", 2.0),
}
"""Speed targets on a 2-core machine: (result key, seconds)."""


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_field(log_n: int = 20, repeats: int = 5) -> dict:
    """Multiplications per second for base x base, ext x ext and an exact ext inner product."""
    rng = np.random.default_rng(0)
    n = 1 << log_n
    a, b = F.random_base(rng, n), F.random_base(rng, n)
    ea, eb = F.random_ext(rng, n), F.random_ext(rng, n)
    base = _median_seconds(lambda: F.mul(a, b), repeats)
    ext = _median_seconds(lambda: F.ext_mul(ea, eb), repeats)
    inner = _median_seconds(lambda: F.ext_inner(ea, eb), repeats)
    return {
        "log_n": log_n,
        "base_mul_per_s": n / base,
        "ext_mul_per_s": n / ext,
        "ext_inner_per_s": n / inner,
        "base_mul_seconds": base,
        "ext_mul_seconds": ext,
        "ext_inner_seconds": inner,
    }


def bench_sumcheck(log_n: int = 20, repeats: int = 3) -> dict:
    """Degree-2 sumcheck of sum_x f(x) g(x) over 2^log_n base-field entries, prove and verify."""
    rng = np.random.default_rng(1)
    f, g = F.random_base(rng, 1 << log_n), F.random_base(rng, 1 << log_n)
    terms = [(1, (0, 1))]
    prove_times, verify_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        proof, _, finals, total = sumcheck.prove([f, g], terms, 2, Transcript(), "bench")
        prove_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        _, final = sumcheck.verify(total, log_n, 2, proof, Transcript(), "bench")
        if not F.ext_eq(final, sumcheck.combine_terms(terms, finals)):
            raise AssertionError("benchmark sumcheck did not verify")
        verify_times.append(time.perf_counter() - start)
    return {
        "log_n": log_n,
        "prove_seconds": statistics.median(prove_times),
        "verify_seconds": statistics.median(verify_times),
    }


def run_one(name: str, quick: bool = False) -> dict:
    """Run one benchmark in this process (quick: small sizes, for tests)."""
    if name == "field":
        return bench_field(12 if quick else 20, 2 if quick else 5)
    if name == "sumcheck":
        return bench_sumcheck(10 if quick else 20, 1 if quick else 3)
    if name == "commit":
        from edgeprove.commit.bench import bench_commit

        return bench_commit(10 if quick else 20, 1 if quick else 3)
    if name == "lookup":
        from edgeprove.lookup import bench_lookup

        return bench_lookup(8 if quick else 16, 8 if quick else 16, 1 if quick else 3)
    raise ValueError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")


def run_isolated(name: str, quick: bool = False) -> dict:
    """Run one benchmark in a child process; the child adds its own peak RSS (``peak_rss_bytes``)."""
    argv = [sys.executable, "-m", "edgeprove.bench", name] + (["--quick"] if quick else [])
    child = subprocess.run(argv, capture_output=True, text=True)
    if child.returncode != 0:
        last = child.stderr.strip().splitlines()[-1] if child.stderr.strip() else f"exit {child.returncode}"
        raise RuntimeError(f"benchmark {name} failed: {last}")
    result = json.loads(child.stdout)
    if name in TARGETS:
        key, limit = TARGETS[name]
        result["target_seconds"] = limit
        result["meets_target"] = result[key] <= limit
    return result


if __name__ == "__main__":
    record = run_one(sys.argv[1], quick="--quick" in sys.argv[2:])
    record["peak_rss_bytes"] = own_peak_rss_bytes()
    print(json.dumps(record))
