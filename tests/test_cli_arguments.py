"""Argument validation of `run`, `bench` and `study`: a bad argument is one line on stderr and exit 2, before
anything is started."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

import edgeprove.harness.pipeline as pipeline
from edgeprove.cli import full_app


@pytest.fixture(autouse=True)
def _nothing_runs(monkeypatch, tmp_path):
    """Any capped run reaching the harness is a failure of argument validation."""
    monkeypatch.setenv("EDGEPROVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pipeline, "run_capped", lambda *a, **k: pytest.fail("a capped run was started"))


def refused(arguments: list[str], message: str) -> None:
    result = CliRunner().invoke(full_app(), arguments)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "ram, message",
    [
        (
            "0.5",
            "memory size '0.5' is less than one byte (a number without a unit counts bytes): give a number",
        ),
        ("0", "memory size '0' is less than one byte"),
        ("99999999999999999999999T", "is above 8 EiB"),
        ("six gigs", "cannot parse memory size 'six gigs': give a number with a unit K, M, G or T"),
    ],
)
def test_run_refuses_bad_sizes(ram, message):
    refused(["run", "tiny_mlp", "--ram", ram, "--backend", "none"], message)


@pytest.mark.parametrize(
    "model, message",
    [
        ("no_such_model", "unknown model 'no_such_model'"),
        ("/no/such/folder", "/no/such/folder: no such file or folder"),
        ("", "empty model name"),
        ("missing.onnx", "missing.onnx: no such ONNX file"),
    ],
)
def test_run_refuses_a_model_that_names_nothing_before_starting(tmp_path, model, message):
    refused(["run", model, "--ram", "1G", "--backend", "none", "--out", str(tmp_path / "r")], message)
    assert not (tmp_path / "r").exists()


def test_run_refuses_a_hostile_model_folder_before_starting(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "manifest.json").write_bytes(b"[" * 5000)
    refused(
        ["run", str(tmp_path / "m"), "--ram", "1G", "--backend", "none"],
        "unreadable manifest (nested too deeply)",
    )


def test_bench_prints_unknown_names_as_text():
    refused(
        ["bench", "--only", "[/x]"], "unknown benchmark(s) [/x]; choose from field, sumcheck, commit, lookup"
    )


def test_study_refuses_a_folder_or_a_non_suite_file(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY")
    refused(["study", str(tmp_path)], "unknown suite")
    refused(["study", str(tmp_path / "x.npy")], "unknown suite")


def test_help_shows_flags_without_a_value_type() -> None:
    """A flag takes no value, so `--help` gives it no `<bool>` type, in every command."""
    app = full_app()
    commands = [command.name or command.callback.__name__ for command in app.registered_commands]
    assert {"run", "prove", "verify", "study", "devices", "plan"} <= set(commands)
    for arguments in [["--help"], *([name, "--help"] for name in commands)]:
        result = CliRunner().invoke(app, arguments, terminal_width=200)
        assert result.exit_code == 0, (arguments, result.output)
        assert "--help" in result.output and "<bool>" not in result.output, (arguments, result.output)
    run_help = CliRunner().invoke(app, ["run", "--help"], terminal_width=200).output
    assert "<str>" in run_help or "TEXT" in run_help  # options that take a value keep their type


@pytest.mark.parametrize(
    "arguments, line",
    [
        (["run", "--ram"], "error: Option '--ram' requires an argument; see 'edgeprove run --help'"),
        (["prove"], "error: Missing argument 'model'; see 'edgeprove prove --help'"),
        (["bogus"], "error: No such command 'bogus'; see 'edgeprove --help'"),
        (
            ["verify", "p.bin", "--min-security-bits", "many"],
            "error: Invalid value for '--min-security-bits'",
        ),
    ],
)
def test_a_parsing_error_is_one_line_and_exit_2(tmp_path, arguments, line) -> None:
    """The console command (not the in-process app) turns the parser's boxed error into one line."""
    completed = subprocess.run(
        [sys.executable, "-c", "from edgeprove.cli import main; main()", *arguments],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr.count("\n") == 1 and line in completed.stderr, completed.stderr
