"""The study: suites load and expand, the tiny suite runs for real under the harness, results resume, bad
input exits 2 with one line, Ctrl-C exits 130 keeping finished runs; ONNX export matches onnxruntime; EZKL
steps run under the cap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgeprove.harness.devices import load_catalog
from edgeprove.model import zoo
from edgeprove.model.ops import linear_map
from edgeprove.study.charts import parse_published
from edgeprove.study.results import is_finished, load_results, result_path, write_result
from edgeprove.study.suites import SuiteError, load_suite, select_runs, suite_names
from edgeprove.study.tables import emulated_tables

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINT = "import sys; from edgeprove.cli import main; sys.exit(main())"
MIB = 1 << 20
SHIPPED_SUITES = ("arm-models", "ci-smoke", "edge-models", "paper0", "peers", "wc50-devices", "zk-devices")


def study_argv(*arguments: str) -> list[str]:
    """`edgeprove study ...` in a fresh interpreter."""
    return [sys.executable, "-c", ENTRY_POINT, "study", *arguments]


def run_study(*arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `edgeprove study` to completion from the project root."""
    return subprocess.run(
        study_argv(*arguments), capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=timeout, check=False
    )


def write_suite(folder: Path, body: str, name: str = "custom") -> Path:
    """A suite file in `folder` with the given TOML body."""
    path = folder / f"{name}.toml"
    path.write_text(body)
    return path


def test_shipped_suites_load_and_expand() -> None:
    assert set(SHIPPED_SUITES) <= set(suite_names())
    paper0 = load_suite("paper0")
    assert len(paper0.runs) == 2 * len(zoo.paper0_suites())
    assert {spec.schedule for spec in paper0.runs} == {"streaming", "baseline"}
    assert all(spec.cap_bytes == 20 << 30 for spec in paper0.runs)
    edge = load_suite("edge-models")
    models = {"lenet5", "wc50", "mobilenetv2", "resnet18", "iriscode", "iris-seg-small", "iris-seg"}
    assert {spec.model for spec in edge.runs} == models
    assert {spec.schedule for spec in edge.runs if spec.device is not None} == {"streaming"}
    full_size = sorted(spec.cap_label for spec in edge.runs if spec.model == "iris-seg")
    assert full_size == ["1G", "android-go-3gb", "iphone-se-3"]  # about 20 minutes a run: three caps only
    assert set(paper0.published["params"]) <= set(zoo.paper0_suites())
    devices = load_suite("wc50-devices")
    catalog = sorted(path.stem for path in (PROJECT_ROOT / "devices").glob("*.toml"))
    assert sorted({spec.device for spec in devices.runs if spec.device}) == catalog
    assert len([spec for spec in devices.runs if spec.device]) == 2 * len(catalog)
    peers = load_suite("peers")
    assert {spec.kind for spec in peers.runs} == {"prove", "ezkl"}
    limits = [spec.time_limit_s for spec in peers.runs if spec.model == "wc50" and spec.kind == "ezkl"]
    assert limits == [1200]


def test_emulated_runs_expand_per_architecture(tmp_path: Path) -> None:
    body = "[[runs]]\nkind = 'emulated'\narches = ['arm64', 'armhf']\nmodels = ['tiny_mlp']\nrams = ['2G']\n"
    suite = load_suite(str(write_suite(tmp_path, body)))
    assert [spec.run_id for spec in suite.runs] == [
        "arm64-tiny_mlp-streaming-2G",
        "armhf-tiny_mlp-streaming-2G",
    ]
    assert {(spec.kind, spec.backend) for spec in suite.runs} == {("emulated", "none")}
    default = load_suite(str(write_suite(tmp_path, body.replace("arches = ['arm64', 'armhf']\n", ""))))
    assert [spec.arch for spec in default.runs] == ["arm64"]
    arm = load_suite("arm-models")
    emulated = {(spec.arch, spec.model) for spec in arm.runs if spec.kind == "emulated"}
    assert emulated == {(arch, model) for arch in ("arm64", "armhf") for model in ("lenet5", "wc50")}
    assert {spec.model for spec in arm.runs if spec.kind == "prove"} == {"lenet5", "wc50"}
    assert all(spec.kind == "prove" for spec in load_suite("edge-models").runs)


def fake_emulated_run(monkeypatch: pytest.MonkeyPatch, peak_mib: float, qemu_mib: float, native_mib: float):
    """run_emulated with the emulator, the interpreter baselines and the prove runs replaced by fixed peaks
    (sizes in MiB): what the runner computes from them."""
    from edgeprove.study import runner

    baselines = iter([int(qemu_mib * MIB), int(native_mib * MIB)])
    monkeypatch.setattr(runner, "check_emulator", lambda: None)
    monkeypatch.setattr(runner, "python_numpy_peak", lambda argv: next(baselines))
    outcome = {"verdict": "fits", "peak_rss_bytes": int(peak_mib * MIB), "attempts": [{"environment": {}}]}
    monkeypatch.setattr(runner, "run_prove", lambda spec, scratch, png: dict(outcome))
    suite_text = "[[runs]]\nkind = 'emulated'\nmodels = ['tiny_mlp']\nrams = ['2G']\n"
    return suite_text, runner


def test_emulated_run_takes_the_interpreter_out_and_adds_the_native_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, runner = fake_emulated_run(monkeypatch, 400.0, 60.0, 25.0)
    spec = load_suite(str(write_suite(tmp_path, body))).runs[0]
    record = runner.run_emulated(spec, tmp_path)
    assert record["prover_above_python_numpy_bytes"] == 340 * MIB
    assert record["estimated_device_peak_bytes"] == 365 * MIB
    body, runner = fake_emulated_run(monkeypatch, 50.0, 60.0, 25.0)  # a peak below the baseline: no estimate
    record = runner.run_emulated(spec, tmp_path)
    assert record["prover_above_python_numpy_bytes"] is None
    assert record["estimated_device_peak_bytes"] is None


def test_private_input_runs_have_their_own_ids(tmp_path: Path) -> None:
    body = "[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G']\n"
    suite = load_suite(
        str(
            write_suite(
                tmp_path, body + "[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G']\nprivate_input = true\n"
            )
        )
    )
    assert [(spec.run_id, spec.private_input) for spec in suite.runs] == [
        ("tiny_mlp-streaming-1G", False),
        ("tiny_mlp-streaming-1G-private", True),
    ]
    for bad in ("private_input = 'yes'\n", "kind = 'ezkl'\nprivate_input = true\n"):
        with pytest.raises(SuiteError, match="private_input must be true or false"):
            load_suite(str(write_suite(tmp_path, body + bad)))
    edge = load_suite("edge-models")
    assert {spec.model for spec in edge.runs if spec.private_input} == {"iriscode"}


def test_python_numpy_peak_of_this_interpreter_is_plausible() -> None:
    from edgeprove.study.runner import python_numpy_peak

    assert 5 * MIB < python_numpy_peak([sys.executable]) < 1 << 30


def test_emulated_runs_need_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeprove.study import runner

    monkeypatch.setattr(runner.os, "geteuid", lambda: 1000)
    with pytest.raises(runner.RunFailed, match="emulated runs need root"):
        runner.check_emulator()


def test_emulated_table_subtracts_the_interpreter_and_counts_budgets(tmp_path: Path) -> None:
    body = (
        "report = 'devices'\n[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G', '3G']\n"
        "[[runs]]\nkind = 'emulated'\narches = ['arm64', 'armhf']\nmodels = ['tiny_mlp', 'tiny_cnn']\n"
        "rams = ['2G']\n"
    )
    suite = load_suite(str(write_suite(tmp_path, body)))
    arm64 = {
        "verdict": "fits",
        "kind": "emulated",
        "peak_rss_bytes": 400 * MIB,
        "emulated_python_numpy_bytes": 60 * MIB,
        "native_python_numpy_bytes": 25 * MIB,
        "prover_above_python_numpy_bytes": 340 * MIB,
        "estimated_device_peak_bytes": 365 * MIB,
    }
    results = {
        "tiny_mlp-streaming-1G": {"verdict": "fits", "peak_rss_bytes": 60 * MIB},
        "tiny_mlp-streaming-3G": {"verdict": "fits", "peak_rss_bytes": 62 * MIB},
        "arm64-tiny_mlp-streaming-2G": arm64,
        "arm64-tiny_cnn-streaming-2G": {"verdict": "error"},
        "armhf-tiny_cnn-streaming-2G": {},
    }
    section = "\n".join(emulated_tables(suite, results))
    budgets = [device.budget_bytes for device in load_catalog()]
    holding = sum(budget >= 365 * MIB for budget in budgets)
    lines = section.splitlines()
    native = lines.index(
        "| tiny_mlp | streaming | x86-64, native | 62.0 | 25.0 | 37.0 | 62.0 | "
        f"{len(budgets)} of {len(budgets)} |"
    )
    assert lines[native + 1] == (
        "| tiny_mlp | streaming | arm64 under qemu | 400.0 | 60.0 | 340.0 | 365.0 | "
        f"{holding} of {len(budgets)} |"
    )
    assert lines[native + 2] == "| tiny_mlp | streaming | armhf under qemu | not run | – | – | – | – |"
    assert "| tiny_cnn | streaming | arm64 under qemu | error | – | – | – | – |" in lines
    assert "| tiny_cnn | streaming | armhf under qemu | no verdict | – | – | – | – |" in lines
    assert section.count("x86-64, native") == 1
    assert "not device times" in section
    assert emulated_tables(load_suite("ci-smoke"), {}) == []


def test_emulated_results_stay_out_of_native_charts_and_pages(tmp_path: Path) -> None:
    from edgeprove.study.charts import _ours
    from edgeprove.study.pages import run_cells

    body = "[[runs]]\nkind = 'emulated'\nmodels = ['tiny_mlp']\nrams = ['2G']\n"
    suite = load_suite(str(write_suite(tmp_path, body)))
    record = {"kind": "emulated", "verdict": "fits", "prove_s": 700.0, "peak_rss_bytes": 138 * MIB}
    record["predicted_peak_bytes"] = 80 * MIB
    assert _ours(suite, {suite.runs[0].run_id: record}, ["tiny_mlp"], "streaming", {"tiny_mlp": 1.0}) == []
    cells = run_cells(suite.runs[0].run_id, record, tmp_path)
    assert "700" not in " ".join(cells) and cells[2] == cells[4] == cells[5] == "–"


def test_run_ids_are_unique_and_only_selects(tmp_path: Path) -> None:
    suite = load_suite("ci-smoke")
    ids = [spec.run_id for spec in suite.runs]
    assert len(ids) == len(set(ids))
    assert [spec.run_id for spec in select_runs(suite.runs, "baseline")] == ["tiny_mlp-baseline-1G"]
    assert len(select_runs(suite.runs, "tiny_mlp-*")) == 2
    assert select_runs(suite.runs, None) == suite.runs


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("name = 'x'\n", "no [[runs]]"),
        ("[[runs]]\nmodels = ['tiny_mlp']\n", "devices = [...] or rams"),
        ("[[runs]]\nmodels = ['tiny_mlp']\nschedules = ['eager']\nrams = ['1G']\n", "unknown schedule"),
        ("[[runs]]\nmodels = ['tiny_mlp']\ndevices = ['toaster']\n", "toaster"),
        ("[[runs]]\nmodels = ['tiny_mlp']\nrams = ['lots']\n", "lots"),
        ("[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G']\nbackend = 'magic'\n", "unknown backend"),
        ("[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G']\nrepeats = 0\n", "repeats"),
        ("[[runs]]\nkind = 'snark'\nmodels = ['tiny_mlp']\nrams = ['1G']\n", "kind must be"),
        ("[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G', '1G']\n", "listed twice"),
        ("[[runs]\n", "custom.toml"),
        ("[[runs]]\nmodels = ['no_such_model']\nrams = ['1G']\n", "unknown model"),
        ("[[runs]]\nkind = 'ezkl'\nmodels = ['tests']\nrams = ['1G']\n", "not in the zoo"),
        ("runs = ['tiny_mlp']\n", "[[runs]] #1: not a table"),
        ("[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G']\nrepeats = true\n", "repeats must be an integer"),
        ("[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G']\nrepeats = 1000000\n", "from 1 to 100"),
        ("[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G']\ntime_limit_s = nan\n", "time_limit_s must be"),
        ("[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G']\ntime_limit_s = inf\n", "time_limit_s must be"),
        (
            "name = '../../etc'\n[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G']\n",
            "must be a plain folder name",
        ),
        ("name = '.hidden'\n[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G']\n", "must be a plain folder name"),
        ("published = 5\n[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G']\n", "[published] must be a table"),
        (
            "[published]\nsystems = ['a', 'b']\n[published.params]\nFC_3_layers = ['1 / 2']\n"
            "[[runs]]\nmodels = ['tiny_mlp']\nrams = ['1G']\n",
            "[published.params] must map each model to one cell string per system",
        ),
        (
            "[[runs]]\nmodels = ["
            + ", ".join(["'tiny_mlp'"] * 200)
            + "]\nrams = ["
            + ", ".join(f"'{size}M'" for size in range(100, 200))
            + "]\n",
            "expands to more than 10,000 runs",
        ),
        ("a = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        (
            "[[runs]]\nkind = 'emulated'\narches = ['riscv64']\nmodels = ['tiny_mlp']\nrams = ['1G']\n",
            "riscv64",
        ),
        (
            "[[runs]]\nkind = 'emulated'\nmodels = ['tiny_mlp']\nrams = ['1G']\nbackend = 'auto'\n",
            "measured without a cap",
        ),
        (
            "[[runs]]\narches = ['arm64']\nmodels = ['tiny_mlp']\nrams = ['1G']\n",
            'for kind = "emulated" only',
        ),
        ("[[runs]]\nkind = 'emulated'\nmodels = ['tests']\nrams = ['1G']\n", "not in the zoo"),
        (
            "[[runs]]\nkind = 'emulated'\narches = []\nmodels = ['tiny_mlp']\nrams = ['1G']\n",
            "arches = [] is empty",
        ),
        (
            "[[runs]]\nkind = 'emulated'\nmodels = ['tiny_mlp']\ndevices = ['*']\n",
            "no devices or time_limit_s",
        ),
        (
            "[[runs]]\nkind = 'emulated'\nmodels = ['tiny_mlp']\nrams = ['1G']\ntime_limit_s = 60\n",
            "no devices or time_limit_s",
        ),
    ],
)
def test_malformed_suites_are_refused(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(SuiteError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_suite(str(write_suite(tmp_path, body)))


def test_a_suite_file_above_the_ceiling_is_not_read(tmp_path: Path) -> None:
    path = write_suite(tmp_path, "")
    with path.open("r+b") as handle:
        handle.truncate((1 << 20) + 1)
    with pytest.raises(SuiteError, match="larger than 1 MiB, the ceiling for a suite file"):
        load_suite(str(path))


@pytest.mark.parametrize(
    "arguments",
    [("no-such-suite",), ("missing.toml",), ("ci-smoke", "--only", "nothing-matches-this")],
)
def test_bad_suite_exits_2_with_one_line(tmp_path: Path, arguments: tuple[str, ...]) -> None:
    completed = run_study(*arguments, "--out", str(tmp_path / "out"))
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in completed.stderr + completed.stdout


def test_malformed_suite_file_exits_2(tmp_path: Path) -> None:
    path = write_suite(tmp_path, "[[runs]]\nmodels = ['tiny_mlp']\n")
    completed = run_study(str(path), "--out", str(tmp_path / "out"))
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [completed.stderr.strip()]
    assert "rams" in completed.stderr


def test_ci_smoke_suite_runs_for_real_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    suite = load_suite("ci-smoke")
    first = run_study("ci-smoke", "--out", str(out))
    assert first.returncode == 0, first.stderr
    results = load_results(out, suite.runs)
    assert set(results) == {spec.run_id for spec in suite.runs}
    for spec in suite.runs:
        record = results[spec.run_id]
        assert record["verdict"] == "fits"
        assert record["verdict_reason"] == "the proof verified outside the cap"
        assert record["cap_bytes"] == spec.cap_bytes and record["model"] == spec.model
        assert record["peak_bytes"] > 0 and record["prove_s"] > 0 and record["proof_bytes"] > 0
        assert record["attempts"][0]["schedule"] == spec.schedule
        assert record["machine"]["cores"] >= 1
    readme = (out / "README.md").read_text()
    assert "3 of 3 runs finished" in readme
    assert "| rpi-zero-2w | 362.00 MiB | 4 | FITS |" in readme
    assert all(spec.run_id in readme for spec in suite.runs)
    pytest.importorskip("matplotlib")
    assert (out / "devices.png").stat().st_size > 0
    assert all((out / "runs" / f"{spec.run_id}.png").exists() for spec in suite.runs)
    index = (out / "index.html").read_text()
    assert "3 of 3 runs finished" in index and index.count('class="verdict good">FITS<') == 3
    for spec in suite.runs:  # each run's own page is kept beside its JSON, and the index links it
        assert f'href="runs/{spec.run_id}.html"' in index
        assert "the proof verified outside the cap" in (out / "runs" / f"{spec.run_id}.html").read_text()
    assert "data:image/png;base64," in index and "index: " in first.stdout

    stamps = {spec.run_id: result_path(out, spec.run_id).stat().st_mtime_ns for spec in suite.runs}
    removed = suite.runs[0].run_id
    result_path(out, removed).unlink()
    second = run_study("ci-smoke", "--out", str(out))
    assert second.returncode == 0, second.stderr
    assert "1 run(s) done, 2 skipped" in " ".join(second.stdout.split())
    for spec in suite.runs[1:]:
        assert result_path(out, spec.run_id).stat().st_mtime_ns == stamps[spec.run_id]
    assert result_path(out, removed).exists()

    forced = run_study("ci-smoke", "--out", str(out), "--only", suite.runs[1].run_id, "--force")
    assert forced.returncode == 0, forced.stderr
    assert result_path(out, suite.runs[1].run_id).stat().st_mtime_ns != stamps[suite.runs[1].run_id]
    assert result_path(out, suite.runs[2].run_id).stat().st_mtime_ns == stamps[suite.runs[2].run_id]


def test_ctrl_c_exits_130_and_keeps_finished_runs(tmp_path: Path) -> None:
    suite_file = write_suite(
        tmp_path,
        "\n".join(
            [
                "report = 'runs'",
                "[[runs]]",
                "models = ['tiny_mlp']",
                "rams = ['1G']",
                "[[runs]]",
                "models = ['lenet5']",
                "rams = ['1G']",
                "repeats = 20",
            ]
        ),
        name="interrupt",
    )
    out = tmp_path / "out"
    process = subprocess.Popen(
        study_argv(str(suite_file), "--out", str(out)),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    first = result_path(out, "tiny_mlp-streaming-1G")
    deadline = time.monotonic() + 120
    while not first.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(3)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stdout and "Traceback" not in stderr
    assert first.exists() and not result_path(out, "lenet5-streaming-1G").exists()
    assert "1 of 2 runs finished" in (out / "README.md").read_text()


def test_unavailable_results_are_retried(tmp_path: Path) -> None:
    write_result(tmp_path, {"run_id": "ezkl-x", "verdict": "unavailable"})
    write_result(tmp_path, {"run_id": "done", "verdict": "oom"})
    assert not is_finished(tmp_path, "ezkl-x")
    assert is_finished(tmp_path, "done")
    assert not is_finished(tmp_path, "never-ran")


def test_parse_published_cells() -> None:
    assert parse_published("2.1 / 1.6") == (2.1, 1.6)
    assert parse_published("~20 / 8.0") == (20.0, 8.0)
    assert parse_published("27 / ~12.5") == (27.0, 12.5)
    assert parse_published("–") == (None, None)


def float_reference(name: str, inputs: np.ndarray) -> np.ndarray:
    """The zoo float model's forward pass (batch first), written out from the documented float semantics."""
    model = zoo.float_model(name)
    values = {-1: np.moveaxis(inputs, 0, 1)}
    for index, layer in enumerate(model.layers):
        if layer.has_weights:
            weight, bias = model.parameters(index)
            acc = linear_map(layer, weight, values[layer.source]) + bias.reshape(-1, 1, 1, 1)
        else:
            window = layer.kernel**2 if layer.kind == "avgpool" else layer.in_shape[1] * layer.in_shape[2]
            acc = linear_map(layer, None, values[layer.source]) / window
        if layer.residual is not None:
            acc = acc + values[layer.residual]
        values[index] = np.maximum(acc, 0.0) if layer.activation == "relu" else acc
    return np.moveaxis(values[len(model.layers) - 1], 1, 0).reshape(len(inputs), -1)


@pytest.mark.parametrize("name", ["tiny_mlp", "tiny_cnn", "lenet5"])
def test_onnx_export_matches_onnxruntime(tmp_path: Path, name: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    from edgeprove.peers.onnx_export import export_zoo_model

    path = export_zoo_model(name, tmp_path / f"{name}.onnx")
    session = ort.InferenceSession(str(path))
    shape = zoo.summary(name).input_shape
    inputs = np.random.default_rng(7).uniform(-1.0, 1.0, size=(3, *shape))
    got = np.concatenate([session.run(None, {"input": row[None].astype(np.float32)})[0] for row in inputs])
    expected = float_reference(name, inputs)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * float(np.max(np.abs(expected))))


@pytest.fixture(scope="module")
def srs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One local test SRS folder shared by the EZKL tests (gen_srs is the slow step)."""
    return tmp_path_factory.mktemp("srs")


def test_ezkl_pipeline_proves_and_verifies_under_the_cap(tmp_path: Path, srs_dir: Path) -> None:
    pytest.importorskip("ezkl")
    from edgeprove.peers.ezkl_runner import STEPS, run_ezkl

    result = run_ezkl("tiny_mlp", 4 << 30, "auto", 600, tmp_path, srs_dir)
    assert result["verdict"] == "fits", result["verdict_reason"]
    assert [step["step"] for step in result["steps"]] == list(STEPS)
    assert all(step["verdict"] == "ok" and step["peak_bytes"] > 0 for step in result["steps"])
    assert result["prove_s"] > 0 and result["setup_s"] > 0 and result["proof_bytes"] > 0
    assert result["prove_peak_bytes"] == result["steps"][STEPS.index("prove")]["peak_bytes"]
    assert (srs_dir / f"kzg{result['logrows']}.srs").exists()


def test_ezkl_step_over_the_cap_is_oom(tmp_path: Path, srs_dir: Path) -> None:
    pytest.importorskip("ezkl")
    from edgeprove.peers.ezkl_runner import run_ezkl

    result = run_ezkl("tiny_mlp", 160 << 20, "auto", 600, tmp_path, srs_dir)
    assert result["verdict"] == "oom", result["verdict_reason"]
    assert result["failed_step"] in ("setup", "prove")
    assert result["prove_s"] is None or result["failed_step"] == "prove"


def test_ezkl_time_limit_stops_the_pipeline(tmp_path: Path) -> None:
    pytest.importorskip("ezkl")
    from edgeprove.peers.ezkl_runner import run_ezkl

    result = run_ezkl("tiny_mlp", 4 << 30, "auto", 2, tmp_path, tmp_path / "fresh-srs")
    assert result["verdict"] == "timeout", result["verdict_reason"]
    assert result["steps"][-1]["verdict"] == "timeout"
    assert result["prove_s"] is None


def test_ezkl_step_entry_point_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    from edgeprove.peers.ezkl_runner import main

    assert main(["mine_bitcoin", "x", "y"]) == 2
    assert "usage" in capsys.readouterr().err


def test_study_results_json_round_trip(tmp_path: Path) -> None:
    record = {"run_id": "a-b-c", "verdict": "fits", "prove_s": 1.5}
    path = write_result(tmp_path, record)
    assert json.loads(path.read_text()) == record
    assert not list(path.parent.glob("*.tmp"))
