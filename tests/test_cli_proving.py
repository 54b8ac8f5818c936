"""`edgeprove prove / verify / plan` from the command line: outputs, exit codes, clean errors."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from conftest import edgeprove_process, fill, small_tmpfs, wait_for
from typer.testing import CliRunner

from edgeprove.cli import full_app

app = full_app()

runner = CliRunner()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _cache_env(monkeypatch, cache):
    monkeypatch.setenv("EDGEPROVE_CACHE", str(cache))


@pytest.fixture(scope="module")
def proven(tmp_path_factory, cache):
    import os

    os.environ["EDGEPROVE_CACHE"] = str(cache)
    path = tmp_path_factory.mktemp("proof") / "tiny.proof"
    result = runner.invoke(app, ["prove", "tiny_cnn", "--out", str(path), "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    return path, json.loads(result.stdout)


def test_prove_json_has_the_contract_fields(proven):
    path, record = proven
    for key in (
        "model",
        "digest",
        "schedule",
        "output",
        "output_int",
        "prove_s",
        "proof_bytes",
        "peak_rss_mb",
    ):
        assert key in record
    assert record["proof_bytes"] == path.stat().st_size
    assert len(record["output"]) == len(record["output_int"])


def test_verify_accepts_and_names_the_model_from_the_header(proven):
    path, record = proven
    result = runner.invoke(app, ["verify", str(path), "--json"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)
    assert verdict["accepted"] and verdict["output_int"] == record["output_int"]


def test_verify_rejects_garbage_with_exit_1(tmp_path):
    bad = tmp_path / "bad.proof"
    bad.write_bytes(b"not a proof at all")
    result = runner.invoke(app, ["verify", str(bad)])
    assert result.exit_code == 1
    assert "rejected" in result.output and "Traceback" not in result.output


def test_verify_against_another_model_is_a_mismatch(proven):
    path, _ = proven
    result = runner.invoke(app, ["verify", str(path), "--model", "tiny_mlp", "--json"])
    assert result.exit_code == 2
    assert "not tiny_mlp" in result.output and "Traceback" not in result.output


def test_unknown_model_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["prove", "no_such_model", "--out", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["verify", str(tmp_path / "missing.proof")])
    assert result.exit_code == 2


def test_bad_input_file_is_a_usage_error(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 2)))
    result = runner.invoke(
        app, ["prove", "tiny_cnn", "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "p")]
    )
    assert result.exit_code == 2
    assert not (tmp_path / "p").exists()


def test_input_file_round_trip(tmp_path):
    from edgeprove.model import zoo

    model = zoo.get("tiny_mlp")
    x = np.random.default_rng(1).integers(-128, 128, model.input_shape).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    result = runner.invoke(
        app, ["prove", "tiny_mlp", "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "p"), "--json"]
    )
    assert result.exit_code == 0, result.output
    from edgeprove.model import ops

    assert json.loads(result.stdout)["output_int"] == [int(v) for v in ops.run(model, x).ravel()]


def test_plan_json(tmp_path):
    result = runner.invoke(app, ["plan", "tiny_cnn", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["peak_bytes"] > 0 and len(plan["layers"]) > 0
    baseline = json.loads(runner.invoke(app, ["plan", "tiny_cnn", "--json", "--schedule", "baseline"]).stdout)
    assert baseline["peak_bytes"] >= plan["peak_bytes"]


def prove_process(model: str, out, cache, *extra: str):
    """`edgeprove prove MODEL --out OUT` as a real process with this module's model cache."""
    return edgeprove_process(
        "prove", model, "--out", str(out), *extra, env={**os.environ, "EDGEPROVE_CACHE": str(cache)}
    )


def temporaries(folder):
    return [path.name for path in folder.iterdir() if ".tmp-" in path.name]


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_mid_proof_keeps_the_old_file(tmp_path, cache, signum):
    target = tmp_path / "p.proof"
    target.write_bytes(b"old proof")
    process = prove_process("wc50", target, cache)
    try:
        wait_for(lambda: temporaries(tmp_path), 120, "the prover's temporary file")
        process.send_signal(signal.Signals[signum])
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == 128 + signal.Signals[signum]
    assert stderr.strip().splitlines() == [f"interrupted ({signum}): no proof written; {target} is as it was"]
    assert target.read_bytes() == b"old proof" and temporaries(tmp_path) == []


def test_sigkill_mid_proof_keeps_the_old_file_and_the_next_prove_removes_the_temporary(tmp_path, cache):
    target = tmp_path / "p.proof"
    target.write_bytes(b"old proof")
    process = prove_process("wc50", target, cache)
    (left,) = wait_for(lambda: temporaries(tmp_path), 120, "the prover's temporary file")
    process.kill()
    process.communicate(timeout=10)
    assert target.read_bytes() == b"old proof" and temporaries(tmp_path) == [left]
    result = runner.invoke(app, ["prove", "tiny_cnn", "--out", str(tmp_path / "other.proof")])
    assert result.exit_code == 0, result.output
    assert temporaries(tmp_path) == [] and target.read_bytes() == b"old proof"


def test_prove_onto_a_full_disk_keeps_the_old_file_in_one_line(cache):
    with small_tmpfs("512k") as disk:
        target = disk / "p.proof"
        target.write_bytes(b"old proof")
        fill(disk)
        process = prove_process("tiny_cnn", target, cache)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 2
        assert stderr.strip().splitlines() == [
            f"error: cannot write {target}: No space left on device; no proof written, {target} is as it was"
        ]
        assert target.read_bytes() == b"old proof"
        assert sorted(path.name for path in disk.iterdir()) == ["filler", "filler.tail", "p.proof"]


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("", "--out is empty"),
        (".", "is a folder"),
        ("no/such/folder/p.proof", "does not exist"),
        ("same.jsonl", "--events and --out name the same file"),
    ],
)
def test_bad_out_is_refused_before_proving(tmp_path, monkeypatch, out, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["prove", "tiny_cnn", "--out", out, "--events", "same.jsonl"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_prove_into_a_read_only_folder_is_refused_before_proving():
    with small_tmpfs("1M", read_only=True) as disk:
        result = runner.invoke(app, ["prove", "tiny_cnn", "--out", str(disk / "p.proof")])
        assert result.exit_code == 2
        assert f"cannot write in {disk}" in result.output and "Traceback" not in result.output
