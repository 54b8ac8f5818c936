"""`edgeprove verify` decides which model it checks against, never the proof: zoo names mean the pinned zoo
model, paths come only from --model, and every verdict names the model's digest."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import altered_model
from proofedit import rewrite_header
from typer.testing import CliRunner

from edgeprove import prover
from edgeprove.cli import full_app
from edgeprove.commit import ligero
from edgeprove.model import compiled, zoo
from edgeprove.proof import FORMAT_VERSION

app = full_app()
runner = CliRunner()


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(zoo.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "verify-cache"))


@pytest.fixture(scope="module")
def tiny_proof(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("proof") / "tiny.proof"
    cache = tmp_path_factory.getbasetemp() / "verify-cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(zoo.CACHE_ENV, str(cache))
        result = runner.invoke(app, ["prove", "tiny_mlp", "--out", str(path), "--seed", "1"])
    assert result.exit_code == 0, result.output
    return path


def _one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def test_verdicts_name_the_digest(tiny_proof):
    digest = zoo.get("tiny_mlp").digest
    plain = runner.invoke(app, ["verify", str(tiny_proof)])
    assert plain.exit_code == 0 and f"digest {digest[:16]}…" in _one_line(plain.output)
    record = json.loads(runner.invoke(app, ["verify", str(tiny_proof), "--json"]).stdout)
    assert record["accepted"] and record["digest"] == digest and record["model"] == "tiny_mlp"


def test_a_folder_named_like_a_zoo_model_never_replaces_it(tmp_path, monkeypatch):
    """`tiny_mlp` is the zoo model even beside a folder of that name; `./tiny_mlp` is the folder."""
    monkeypatch.chdir(tmp_path)
    genuine = zoo.get("tiny_mlp")
    lookalike = altered_model(genuine)
    compiled.save(lookalike, tmp_path / "tiny_mlp")
    assert lookalike.digest != genuine.digest
    made = runner.invoke(app, ["prove", "./tiny_mlp", "--out", "p", "--json"])
    assert made.exit_code == 0 and json.loads(made.stdout)["digest"] == lookalike.digest
    for extra in ([], ["--model", "tiny_mlp"]):
        result = runner.invoke(app, ["verify", "p", *extra])
        assert result.exit_code == 2, result.output
        assert f"not tiny_mlp (digest {genuine.digest[:16]}…)" in _one_line(result.output)
    result = runner.invoke(app, ["verify", "p", "--model", "./tiny_mlp"])
    assert result.exit_code == 0 and f"digest {lookalike.digest[:16]}" in result.output
    zoo_proof = runner.invoke(app, ["prove", "tiny_mlp", "--out", "q", "--json"])
    assert json.loads(zoo_proof.stdout)["digest"] == genuine.digest == zoo.pinned_digests()["tiny_mlp"]


def test_a_header_never_names_a_path_to_open(tmp_path, tiny_proof):
    """Without --model only a zoo name in the header is followed: another model's name is a usage error,
    and a path cannot even be a header's model name."""
    model_dir = tmp_path / "elsewhere"
    compiled.save(zoo.get("tiny_mlp"), model_dir)
    rewrite_header(tiny_proof, tmp_path / "named", lambda h: h.update(model="elsewhere"))
    result = runner.invoke(app, ["verify", str(tmp_path / "named")])
    assert result.exit_code == 2 and "not a zoo model; pass --model" in _one_line(result.output)
    rewrite_header(tiny_proof, tmp_path / "pathed", lambda h: h.update(model=str(model_dir)))
    result = runner.invoke(app, ["verify", str(tmp_path / "pathed")])
    assert result.exit_code == 1 and "bad header: model name" in _one_line(result.output)


def test_a_zoo_name_with_another_digest_is_refused_before_the_model_is_built(
    tmp_path, tiny_proof, monkeypatch
):
    """A tiny proof relabelled as a large zoo model is refused against the pinned digest, so it cannot make
    the verifier build (minutes, hundreds of MiB) and cache that model first."""
    from edgeprove.cli import proving

    def never(spec):
        raise AssertionError(f"{spec} was built")

    monkeypatch.setattr(proving, "_model", never)
    rewrite_header(tiny_proof, tmp_path / "p", lambda h: h.update(model="iris-seg"))
    for extra in ([], ["--model", "iris-seg"]):
        result = runner.invoke(app, ["verify", str(tmp_path / "p"), *extra])
        pinned = zoo.pinned_digests()["iris-seg"]
        assert result.exit_code == 2, result.output
        assert f"not iris-seg (digest {pinned[:16]}…)" in _one_line(result.output)


@pytest.mark.parametrize(
    "header",
    [json.dumps({"model": "x" * 5000}).encode(), b"[" * 50_000 + b"]" * 50_000, b'{"model": "\\ud800"}'],
    ids=["long-name", "deep-nesting", "lone-surrogate"],
)
def test_hostile_headers_are_one_line_rejections(tmp_path, header):
    (tmp_path / "p").write_bytes(b"EDGEPRV1" + struct.pack("<HI", FORMAT_VERSION, len(header)) + header)
    result = runner.invoke(app, ["verify", str(tmp_path / "p")])
    assert result.exit_code == 1 and _one_line(result.output).startswith("rejected")


def test_a_proof_name_too_long_for_the_file_system_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["verify", "p" * 300])
    assert result.exit_code == 2 and "File name too long" in _one_line(result.output)


def test_security_floor_is_a_flag(tmp_path):
    """A complete proof with 120 column queries (81 bits) fails the default 100-bit floor, passes at 80."""
    model = zoo.get("tiny_mlp")
    params = ligero.LigeroParams(rate_log=2, queries=120)
    prover.prove(model, np.zeros(model.input_shape, dtype=np.int64), tmp_path / "p", params=params)
    result = runner.invoke(app, ["verify", str(tmp_path / "p")])
    assert result.exit_code == 1 and "81.4 bits of security, below 100" in _one_line(result.output)
    result = runner.invoke(app, ["verify", str(tmp_path / "p"), "--min-security-bits", "80"])
    assert result.exit_code == 0, result.output


def test_a_verdict_says_whether_the_input_is_public_private_or_only_committed(tmp_path):
    """A zero-knowledge proof's input is private; a committed input in a proof that is not zero-knowledge
    is never called private; a public input is public."""
    model = zoo.get("tiny_mlp")
    x = np.random.default_rng(3).integers(-128, 128, model.input_shape)
    said = {}
    for name, kwargs in (
        ("private", {"private_input": True}),
        ("committed", {"private_input": True, "zero_knowledge": False}),
        ("public", {}),
    ):
        prover.prove(model, x, tmp_path / name, **kwargs)
        record = json.loads(runner.invoke(app, ["verify", str(tmp_path / name), "--json"]).stdout)
        assert record["accepted"]
        said[name] = record["input"]
        plain = runner.invoke(app, ["verify", str(tmp_path / name)]).output
        assert ("input private" in plain) == (name == "private")
    assert said == {"private": "private", "committed": "committed", "public": "public"}
