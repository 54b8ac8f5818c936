"""`edgeprove prove / verify / plan` from the command line: outputs, exit codes, clean errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
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
