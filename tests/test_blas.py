"""The start-up self-test of float64 products: it passes on a correct BLAS, and wherever a product it sees is
wrong, prove, verify and run stop with one line naming the BLAS and the workaround, before any proof or
verdict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ENTRY_POINT, PROJECT_ROOT

from edgeprove import blas, prover, verifier
from edgeprove.exitcodes import EXIT_INEXACT_BLAS
from edgeprove.model import zoo
from edgeprove.model.resolve import seeded_input

CASE_SHAPES = [(a.shape, b.shape) for _, a, b in blas._cases()]
WRONG_PRODUCT = """
import numpy as np
from edgeprove import blas
def wrong(a, b):
    out = np.matmul(a, b)
    if a.shape == (64, 400):
        out[3, 0] += 2.0 ** 20
    return out
blas._product = wrong
"""
"""sitecustomize for a child: the self-test's matrix-vector product comes out wrong in one entry."""


def wrong_only(shapes: tuple[tuple[int, ...], tuple[int, ...]], error: float):
    """A product that is exact except for one entry of the product of the given shapes."""

    def product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.matmul(a, b)
        if (a.shape, b.shape) == shapes:
            out.flat[out.size // 2] += error
        return out

    return product


@pytest.fixture()
def untested(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """This process's self-test result forgotten, so the next prove or verify runs it again."""
    monkeypatch.setattr(blas, "_verified", False)
    return monkeypatch


def test_this_machine_computes_exact_products(untested: pytest.MonkeyPatch) -> None:
    assert blas.first_wrong_product() is None
    blas.require_exact_blas()
    assert blas._verified


def test_the_blas_is_named_with_numpy_and_the_machine() -> None:
    description = blas.blas_description()
    assert f"numpy {np.__version__}" in description
    assert description.split(" on ")[-1] == __import__("platform").machine()


@pytest.mark.parametrize("shapes", CASE_SHAPES, ids=[name for name, _, _ in blas._cases()])
@pytest.mark.parametrize("error", [1.0, 7.5e13, float("nan")])
def test_one_wrong_entry_in_any_test_product_is_caught(
    untested: pytest.MonkeyPatch, shapes, error: float
) -> None:
    untested.setattr(blas, "_product", wrong_only(shapes, error))
    with pytest.raises(blas.InexactBLAS) as caught:
        blas.require_exact_blas()
    message = str(caught.value)
    assert "\n" not in message
    assert f"{shapes[0][0]}x{shapes[0][1]} by {shapes[1][0]}x{shapes[1][1]}" in message
    assert blas.blas_description() in message
    assert "OPENBLAS_CORETYPE=ARMV8" in message and "QEMU_CPU=cortex-a72" in message
    assert not blas._verified


def test_a_product_of_the_wrong_shape_is_caught(untested: pytest.MonkeyPatch) -> None:
    untested.setattr(blas, "_product", lambda a, b: np.matmul(a, b)[:, :1])
    with pytest.raises(blas.InexactBLAS, match="has shape"):
        blas.require_exact_blas()


def test_the_prover_writes_nothing_on_wrong_products(untested: pytest.MonkeyPatch, tmp_path: Path) -> None:
    untested.setattr(blas, "_product", wrong_only(CASE_SHAPES[0], 1.0))
    model = zoo.get("tiny_mlp")
    with pytest.raises(blas.InexactBLAS):
        prover.prove(model, seeded_input(model, 0), tmp_path / "p.proof")
    assert list(tmp_path.iterdir()) == []


def test_the_verifier_gives_no_verdict_on_wrong_products(
    untested: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = zoo.get("tiny_mlp")
    prover.prove(model, seeded_input(model, 0), tmp_path / "p.proof")
    assert verifier.verify(tmp_path / "p.proof", model).accepted
    untested.setattr(blas, "_verified", False)
    untested.setattr(blas, "_product", wrong_only(CASE_SHAPES[-1], 1.0))
    with pytest.raises(blas.InexactBLAS):
        verifier.verify(tmp_path / "p.proof", model)


def run_with_wrong_products(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`edgeprove ARGUMENTS` in a child whose self-test sees a wrong product."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(WRONG_PRODUCT)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(hook), "HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", ENTRY_POINT, *arguments],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def assert_one_line(completed: subprocess.CompletedProcess[str]) -> None:
    assert completed.returncode == EXIT_INEXACT_BLAS, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert "not exact on this machine" in lines[0] and "64x400 by 400x1" in lines[0]
    assert "OPENBLAS_CORETYPE=ARMV8" in lines[0] and "Traceback" not in completed.stderr


def test_prove_verify_and_run_stop_with_one_line_and_exit_6(tmp_path: Path) -> None:
    proof = tmp_path / "good.proof"
    made = subprocess.run(
        [sys.executable, "-c", ENTRY_POINT, "prove", "tiny_mlp", "--out", str(proof)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=True,
    )
    assert made.returncode == 0
    before = proof.read_bytes()

    proving = run_with_wrong_products(tmp_path, "prove", "tiny_mlp", "--out", str(tmp_path / "new.proof"))
    assert_one_line(proving)
    assert not (tmp_path / "new.proof").exists()

    verifying = run_with_wrong_products(tmp_path, "verify", str(proof), "--json")
    assert_one_line(verifying)
    assert verifying.stdout == "" and proof.read_bytes() == before

    running = run_with_wrong_products(
        tmp_path, "run", "tiny_mlp", "--ram", "1G", "--backend", "none", "--out", str(tmp_path / "run")
    )
    assert_one_line(running)
    assert not (tmp_path / "run").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.proof", "hook"]
