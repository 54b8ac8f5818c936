"""Verification cost is set by the model: complete proofs with every prover choice at its limit (column
queries, code rate, table widths) verify within a fixed memory cap under a real cgroup."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import require, widest_tables
from proofedit import read_sections, replace, rewrite_header, write_sections

from edgeprove import prover
from edgeprove.commit import ligero
from edgeprove.harness.backends import BackendUnavailable, Cgroup1Backend
from edgeprove.harness.runner import run_capped
from edgeprove.layers import requant
from edgeprove.model import zoo
from edgeprove.model.resolve import seeded_input
from edgeprove.proof import SECTION_COMMIT

VERIFY_CAP = 128 << 20
"""The honest lenet5 proof verifies in about 55 MiB; the limits measured up to 1.08x that (see docs)."""
ENTRY = "import sys; from edgeprove.cli import main; sys.exit(main())"
LIMITS = {
    "queries-rate-half": ligero.LigeroParams(rate_log=1, queries=ligero.MAX_QUERIES),
    "all-rate-eighth": ligero.LigeroParams(rate_log=3, queries=ligero.MAX_QUERIES),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A zoo cache for these tests; they need a real cgroup v1 cap (CI has one)."""
    try:
        Cgroup1Backend().probe()
    except BackendUnavailable as error:
        require(False, str(error))
    return tmp_path_factory.mktemp("limits-cache")


@pytest.mark.parametrize("limit", list(LIMITS))
def test_a_proof_at_the_limits_verifies_under_a_fixed_cap(tmp_path, cache, monkeypatch, limit):
    monkeypatch.setenv(zoo.CACHE_ENV, str(cache))
    model = zoo.get("lenet5")
    with monkeypatch.context() as patch:
        widest_tables(patch, model)
        prover.prove(model, seeded_input(model, 0), tmp_path / "p", params=LIMITS[limit])
    argv = [sys.executable, "-c", ENTRY, "verify", str(tmp_path / "p"), "--model", "lenet5", "--json"]
    result = run_capped(argv, VERIFY_CAP, backend="cgroup1", out_dir=tmp_path / "run")
    assert not result.oom_killed and result.returncode == 0, result.stdout + result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["accepted"] and record["peak_rss_mb"] < VERIFY_CAP / 2**20


@pytest.mark.parametrize("hostile", ["table-width", "queries"])
def test_a_proof_past_the_limits_is_refused_under_the_same_cap(tmp_path, cache, monkeypatch, hostile):
    """A table wider than the model's bound and a 100,000-query header are refused before any work."""
    monkeypatch.setenv(zoo.CACHE_ENV, str(cache))
    model = zoo.get("lenet5")
    prover.prove(model, seeded_input(model, 0), tmp_path / "honest")
    if hostile == "queries":
        rewrite_header(tmp_path / "honest", tmp_path / "p", lambda h: h["ligero"].update(queries=100_000))
    else:
        prefix, sections = read_sections(tmp_path / "honest")
        index = next(i for i, (kind, _) in enumerate(sections) if kind == SECTION_COMMIT)
        wide = requant.MAX_SPLIT_BITS - model.layers[0].shift
        sections[index] = (SECTION_COMMIT, replace(sections[index][1], ("act_bits",), wide))
        write_sections(tmp_path / "p", prefix, sections)
    argv = [sys.executable, "-c", ENTRY, "verify", str(tmp_path / "p"), "--model", "lenet5", "--json"]
    result = run_capped(argv, VERIFY_CAP, backend="cgroup1", out_dir=tmp_path / "run")
    assert not result.oom_killed and result.returncode == 1, result.stderr
    assert not json.loads(result.stdout.strip().splitlines()[-1])["accepted"]
