"""Benchmark of the Ligero commitment: commit, open at 4 points, verify, proof size, commit memory and what
the prover's state holds until the opening."""

from __future__ import annotations

import statistics
import time
import tracemalloc

import numpy as np

from edgeprove import field as F
from edgeprove.commit import ligero
from edgeprove.transcript import Transcript

_POINTS = 4


def bench_commit(log_n: int = 20, repeats: int = 3) -> dict:
    """Median seconds of commit / open at 4 points / verify for 2^log_n random base elements, plus sizes.

    Peak extra memory during commit is measured by tracemalloc (numpy reports its buffers to it; the hash
    objects' OpenSSL contexts, ``ligero.HASHER_BYTES`` each, are outside its view) in a separate, untimed
    run, so tracing overhead does not distort the timings.  ``state_bytes`` is what the state keeps until
    the opening (the uint32 rows and the tree's inner levels).
    """
    if not 0 <= log_n <= ligero.MAX_NUM_VARS:
        raise ValueError(f"log_n must be in [0, {ligero.MAX_NUM_VARS}], got {log_n}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    rng = np.random.default_rng(log_n)
    params = ligero.LIGERO.default_params()
    values = F.random_base(rng, 1 << log_n)
    points = [F.random_ext(rng, log_n) for _ in range(_POINTS)]
    ligero.commit(values, params)  # warm the twiddle and permutation caches

    commit_times, open_times, verify_times = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        commitment, state = ligero.commit(values, params)
        commit_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        opened, proof = ligero.open(state, points, Transcript(), "bench")
        open_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        ligero.verify(commitment, points, opened, proof, Transcript(), "bench", params)
        verify_times.append(time.perf_counter() - start)
        del state

    tracemalloc.start()
    tracemalloc.reset_peak()
    baseline, _ = tracemalloc.get_traced_memory()
    commitment, state = ligero.commit(values, params)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    return {
        "log_n": log_n,
        "rows": 1 << commitment.row_bits,
        "cols": 1 << commitment.col_bits,
        "rate_log": params.rate_log,
        "num_queries": params.num_queries(),
        "security_bits": params.security_bits(log_n),
        "commit_seconds": statistics.median(commit_times),
        "open_seconds": statistics.median(open_times),
        "verify_seconds": statistics.median(verify_times),
        "proof_bytes": proof.nbytes(),
        "state_bytes": state.nbytes(),
        "commit_peak_extra_bytes": peak - baseline,
    }
