"""`edgeprove run` and `edgeprove devices`: verdicts, exit codes, the run folder and one-line errors.

Most tests route the capped child to a stand-in prover script that keeps the real commands' contract (JSON
on stdout, layer events, a proof file; verify exits 0 or 1). The signal, SIGKILL and full-disk tests run the
real `edgeprove run` as a process on the tiny zoo models, pausing a chosen phase with a sitecustomize hook.
"""

import importlib.util
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import (
    edgeprove_process,
    fill,
    gone,
    own_cgroups,
    paused_pid,
    pausing_env,
    small_tmpfs,
    wait_for,
)
from typer.testing import CliRunner, Result

import edgeprove.harness.pipeline as pipeline
from edgeprove.cli import full_app
from edgeprove.harness.backends import BackendUnavailable, Cgroup1Backend, cgroup_name

STAND_IN_PROVER = """
import json, sys, time
import numpy
command = sys.argv[1]
if command == "prove":
    mib, proof, events, verdict = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    fill = sys.argv[7] if len(sys.argv) > 7 else None
    started = time.time()
    blocks = []
    with open(events, "a") as log:
        for index in range(4):
            log.write(json.dumps({"event": "start", "layer": f"conv{index}", "index": index,
                                  "t": time.time(), "rss": 0}) + "\\n")
            log.flush()
            blocks.append(numpy.ones((mib << 20) // 32))
            time.sleep(float(sys.argv[6]))
            log.write(json.dumps({"event": "end", "layer": f"conv{index}", "index": index,
                                  "t": time.time(), "rss": 0}) + "\\n")
            log.flush()
        log.write(json.dumps({"event": "done", "t": time.time()}) + "\\n")
    open(proof, "wb").write(verdict.encode() * 64)
    if fill:  # the disk fills up after the proof: the harness's own files must fail cleanly
        try:
            with open(fill, "wb") as out:
                while True:
                    out.write(bytes(4096))
                    out.flush()
        except OSError:
            pass
    print(json.dumps({"model": "stand-in", "digest": "0" * 64, "schedule": "streaming", "output": [0.5],
                      "output_int": [1], "prove_s": time.time() - started, "prove_cpu_s": time.process_time(),
                      "proof_bytes": 64 * len(verdict),
                      "peak_rss_mb": 0}))
else:
    sys.exit(0 if open(sys.argv[2], "rb").read(4) == b"GOOD" else 1)
"""
INTERRUPTED = (
    "interrupted ({}): the prover and its helpers were stopped and the cap removed; no run folder was written"
)
SUMMARY_KEYS = {
    "verdict",
    "backend",
    "cap_bytes",
    "peak_bytes",
    "peak_rss_bytes",
    "peak_layer",
    "predicted_peak_bytes",
    "prove_s",
    "proof_bytes",
    "report_dir",
}


@pytest.fixture()
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Route the CLI's prover and verifier commands to the stand-in; MODEL is 'MiB:GOOD|EVIL[:sleep[:fill]]'
    (fill: a file the stand-in grows until the disk is full, after writing its proof)."""
    script = tmp_path / "prover.py"
    script.write_text(STAND_IN_PROVER)
    stand_in_inputs: list[str | None] = []
    stand_in_threads: list[int | None] = []
    stand_in_spill: list[bool] = []
    stand_in_tiles: list[tuple] = []
    planned_threads: list[int | None] = []

    def prover(
        model: str,
        schedule: str,
        proof: Path,
        events: Path,
        input_path: str | None = None,
        *,
        private_input: bool = False,
        threads: int | None = None,
        spill: bool = False,
        tiles: tuple = (),
        zero_knowledge: bool = True,
        zk_group_bits: int | None = None,
    ) -> list[str]:
        stand_in_inputs.append(input_path)
        stand_in_threads.append(threads)
        stand_in_spill.append(spill)
        stand_in_tiles.append(tiles)
        mib, verdict, *pause = model.split(":")
        pause = pause or ["0.02"]
        return [sys.executable, str(script), "prove", mib, str(proof), str(events), verdict, *pause]

    monkeypatch.setattr(pipeline, "prover_command", prover)

    def planned(
        model,
        schedule,
        threads=None,
        private_input=False,
        spill=False,
        fit=None,
        memory=None,
        zero_knowledge=True,
        zk_group_bits=None,
    ) -> None:
        planned_threads.append(threads)

    monkeypatch.setattr(pipeline, "check_model", planned)
    monkeypatch.setattr(pipeline, "check_model_spec", lambda model: None)
    monkeypatch.setattr(
        pipeline,
        "verify_command",
        lambda proof, model: [sys.executable, str(script), "verify", str(proof)],
    )
    return {
        "script": script,
        "inputs": stand_in_inputs,
        "threads": stand_in_threads,
        "spill": stand_in_spill,
        "tiles": stand_in_tiles,
        "planned": planned_threads,
    }


def require(module: str) -> None:
    """An optional extra that CI installs: missing there is a failure, locally a skip."""
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {module} installed")
        pytest.skip(f"{module} is not installed")


def invoke(*arguments: str) -> Result:
    return CliRunner().invoke(full_app(), ["run", *arguments])


def real_cap_backend() -> str:
    try:
        Cgroup1Backend().probe()
    except BackendUnavailable:
        return "rlimit"
    return "cgroup1"


def test_an_input_file_goes_to_the_prover_and_a_bad_one_is_refused_first(
    stand_in: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((1, 3, 4, 4), np.float32))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    result = invoke(
        "10:GOOD", "--ram", "400M", "--backend", real_cap_backend(), "--out", str(out), "--input", "x.npy"
    )
    assert result.exit_code == 0, result.output
    assert stand_in["inputs"] == [str(tmp_path / "x.npy")]
    np.save(tmp_path / "b.npy", np.zeros(3, bool))
    result = invoke("10:GOOD", "--ram", "400M", "--out", str(tmp_path / "run2"), "--input", "b.npy")
    assert result.exit_code == 2 and "--input: input b.npy: holds bool values" in result.output
    assert not (tmp_path / "run2").exists() and len(stand_in["inputs"]) == 1
    with pytest.raises(pipeline.RunError, match=r"the model takes \(3, 4, 5\), 60 values") as caught:
        pipeline.checked_input("x.npy", [3, 4, 5])
    assert caught.value.code == 2


def test_the_prover_child_gets_the_input_file() -> None:
    argv = pipeline.prover_command("m", "streaming", Path("p"), Path("e"), "/in/x.npy")
    assert argv[-2:] == ["--input", "/in/x.npy"] and "--input" not in pipeline.prover_command(
        "m", "streaming", Path("p"), Path("e")
    )


def test_fits_writes_report_and_timeline(stand_in: dict, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = invoke("100:GOOD", "--ram", "400M", "--backend", real_cap_backend(), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert SUMMARY_KEYS <= set(summary)
    assert summary["verdict"] == "fits" and summary["cap_bytes"] == 400 << 20
    assert summary["peak_rss_bytes"] > 100 << 20 and summary["proof_bytes"] == 256
    assert summary["peak_layer"] in {"conv0", "conv1", "conv2", "conv3", None}
    assert summary["report_dir"] == str(out)
    assert summary["predicted_peak_bytes"] is None or isinstance(summary["predicted_peak_bytes"], int)
    report = json.loads((out / "report.json").read_text())
    assert len(report["timeline"]["t"]) == len(report["timeline"]["rss_bytes"]) > 10
    started = [e["layer"] for e in report["events"] if e["event"] == "start"]
    assert started == ["conv0", "conv1", "conv2", "conv3"]
    assert report["prover"]["model"] == "stand-in"
    assert (out / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [row["layer"] for row in report["layers"]] == ["conv0", "conv1", "conv2", "conv3"]
    assert all(row["finished"] and row["peak_rss_bytes"] > 0 for row in report["layers"])
    assert report["command"].startswith("edgeprove run 100:GOOD --ram 400M")
    assert report["environment"]["numpy"] and report["report_html"] == str(out / "report.html")
    page = (out / "report.html").read_text()
    assert ">FITS<" in page and "conv3" in page and "data:image/png;base64," in page


def test_summary_is_human_readable(stand_in: dict, tmp_path: Path) -> None:
    result = invoke("50:GOOD", "--ram", "400M", "--backend", "rlimit", "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    for label in (
        "FITS",
        "backend",
        "rlimit",
        "cap",
        "400.00 MiB",
        "peak RSS",
        "layer at peak",
        "predicted peak",
        "prove time",
        " s CPU)",
        "proof size",
        "RLIMIT_DATA",
    ):
        assert label in result.output


def test_progress_lines_when_stdout_is_not_a_terminal(stand_in: dict, tmp_path: Path) -> None:
    """A phase line each for plan, prove and verify, a line per layer with memory against the cap, then the
    summary; `--json` prints only its object."""
    result = invoke("20:GOOD", "--ram", "400M", "--backend", "none", "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("plan: checking 20:GOOD (streaming)")
    assert lines[1] == "prove: proving under cap 400.00 MiB"
    layers = [line for line in lines if line.startswith("prove: layer ")]
    assert [line.split(",")[0] for line in layers] == [
        f"prove: layer {k} (conv{k - 1})" for k in (1, 2, 3, 4)
    ]
    assert all("memory" in line and "of cap 400.00 MiB" in line for line in layers)
    verify = next(index for index, line in enumerate(lines) if line.startswith("verify: "))
    assert verify > lines.index(layers[-1]) and lines[verify + 1].startswith("verdict")
    assert lines[-1] == f"report: {tmp_path / 'r' / 'report.html'}"
    quiet = invoke("20:GOOD", "--ram", "400M", "--backend", "none", "--out", str(tmp_path / "j"), "--json")
    assert quiet.exit_code == 0 and json.loads(quiet.output)["verdict"] == "fits"


def test_does_not_fit_exits_3(stand_in: dict, tmp_path: Path) -> None:
    backend = real_cap_backend()
    result = invoke("900:GOOD", "--ram", "300M", "--backend", backend, "--out", str(tmp_path / "r"), "--json")
    assert result.exit_code == 3, result.output
    summary = json.loads(result.output)
    assert summary["verdict"] == "oom" and summary["peak_layer"] in {"conv0", "conv1", "conv2"}
    assert json.loads((tmp_path / "r" / "report.json").read_text())["verdict"] == "oom"


def test_does_not_fit_names_the_layer_it_died_in_as_it_happens(stand_in: dict, tmp_path: Path) -> None:
    result = invoke(
        "900:GOOD", "--ram", "300M", "--backend", real_cap_backend(), "--out", str(tmp_path / "r")
    )
    assert result.exit_code == 3, result.output
    died = [line for line in result.output.splitlines() if " in layer conv" in line]
    assert len(died) == 1 and died[0].startswith("prove: ") and " after " in died[0]
    assert "DOES NOT FIT" in result.output and "died in layer" in result.output


def test_rejected_proof_exits_4(stand_in: dict, tmp_path: Path) -> None:
    result = invoke("20:EVIL", "--ram", "400M", "--backend", "none", "--out", str(tmp_path / "r"), "--json")
    assert result.exit_code == 4, result.output
    assert json.loads(result.output)["verdict"] == "rejected"


def test_prover_failure_is_an_error(stand_in: dict, tmp_path: Path) -> None:
    result = invoke("x:GOOD", "--ram", "400M", "--backend", "none", "--out", str(tmp_path / "r"), "--json")
    assert result.exit_code == 1
    summary = json.loads(result.output)
    assert summary["verdict"] == "error" and "ValueError" in summary["verdict_reason"]


def test_device_sets_cap_and_cores(stand_in: dict, tmp_path: Path) -> None:
    result = invoke(
        "20:GOOD", "--device", "rpi-zero-2w", "--backend", "none", "--out", str(tmp_path / "r"), "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["cap_bytes"] == 362 << 20 and summary["device"] == "rpi-zero-2w"
    assert summary["cores"] == summary["threads"] == min(4, len(os.sched_getaffinity(0)))
    assert stand_in["threads"] == stand_in["planned"] == [summary["threads"]]


@pytest.mark.parametrize(("arguments", "expected"), [(["--threads", "3"], 3), ([], None)])
def test_the_prover_and_the_planner_get_the_threads(
    stand_in: dict, tmp_path: Path, arguments: list[str], expected: int | None
) -> None:
    """--threads as given, else the cores this process may run on (no device names any)."""
    result = invoke(
        "20:GOOD", "--ram", "1G", "--backend", "none", "--out", str(tmp_path / "r"), "--json", *arguments
    )
    assert result.exit_code == 0, result.output
    threads = expected or len(os.sched_getaffinity(0))
    assert json.loads(result.output)["threads"] == threads
    assert stand_in["threads"] == stand_in["planned"] == [threads]


def test_the_thread_count_reaches_the_child_commands() -> None:
    argv = pipeline.prover_command("m", "streaming", Path("p"), Path("e"), None, threads=3)
    assert argv[-2:] == ["--threads", "3"]
    assert "--threads" not in pipeline.prover_command("m", "streaming", Path("p"), Path("e"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--ram", "lots"], "cannot parse memory size 'lots'"),
        (["--device", "nokia-3310"], "unknown device 'nokia-3310'"),
        (["--ram", "1G", "--device", "rpi4-2g"], "exactly one of --ram"),
        ([], "exactly one of --ram"),
        (["--ram", "10M"], "below the 64.00 MiB"),
        (["--ram", "1G", "--backend", "zram"], "unknown backend 'zram'"),
        (["--ram", "1G", "--schedule", "eager"], "unknown schedule 'eager'"),
        (["--ram", "1G", "--threads", "0"], "--threads: threads must be an integer in [1, 256]"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    stand_in: dict, tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = invoke(
        "20:GOOD",
        *arguments,
        "--backend" if "--backend" not in arguments else "--json",
        *(["none"] if "--backend" not in arguments else []),
        "--out",
        str(tmp_path / "r"),
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "r").exists()


def test_docker_unreachable_exits_5(stand_in: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require("docker")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    result = invoke("20:GOOD", "--ram", "1G", "--backend", "docker", "--out", str(tmp_path / "r"))
    assert result.exit_code == 5
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Docker is not reachable" in lines[0] and "Fix:" in lines[0]
    assert not (tmp_path / "r").exists()


def test_memray_missing_exits_5(stand_in: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "memray_available", lambda: False)
    result = invoke("20:GOOD", "--ram", "1G", "--memray", "--out", str(tmp_path / "r"))
    assert result.exit_code == 5 and "pip install 'edgeprove[memray]'" in result.output


def test_memray_writes_flamegraph_and_top_sites(stand_in: dict, tmp_path: Path) -> None:
    require("memray")
    out = tmp_path / "r"
    result = invoke("60:GOOD", "--ram", "1G", "--backend", "none", "--memray", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert Path(summary["flamegraph"]).read_text().lstrip().lower().startswith("<!doctype html")
    top = summary["memray_top_sites"][0]
    assert top["file"] == str(stand_in["script"]) and top["bytes"] >= 60 << 20
    assert any("memray" in note and "slower" in note for note in summary["notes"])


def test_ctrl_c_exits_130_and_leaves_nothing(stand_in: dict, tmp_path: Path) -> None:
    backend = real_cap_backend()
    handlers = [signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        result = invoke("10:GOOD:5", "--ram", "400M", "--backend", backend, "--out", str(tmp_path / "r"))
    finally:
        timer.cancel()
    assert result.exit_code == 130, result.output
    # the progress lines on stdout, then the one line on stderr
    lines = result.output.strip().splitlines()
    assert lines[-1] == INTERRUPTED.format("SIGINT") and all(
        line.startswith(("plan:", "prove:")) for line in lines[:-1]
    )
    # called in-process, the command gives this process its signal handlers back
    assert handlers == [signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]
    if backend == "cgroup1":
        assert own_cgroups(Cgroup1Backend().parent(), os.getpid()) == []
    assert list(tmp_path.iterdir()) == [stand_in["script"]]


def test_devices_lists_the_catalog() -> None:
    result = CliRunner().invoke(full_app(), ["devices", "--wide"], terminal_width=250)
    assert result.exit_code == 0
    for text in ("iphone-15-pro", "rpi5-16g", "3.00 GiB", "mopro"):
        assert text in result.output


def test_devices_is_one_line_per_device_at_80_columns() -> None:
    catalog = json.loads(CliRunner().invoke(full_app(), ["devices", "--json"]).output)
    result = CliRunner().invoke(full_app(), ["devices"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines)
    for device in catalog:
        rows = [line for line in lines if line.split() and line.split()[0] == device["name"]]
        assert len(rows) == 1, device["name"]
        assert device["kind"] in rows[0] and str(device["cores"]) in rows[0].split()
    assert "mopro" not in result.output
    wide = CliRunner().invoke(full_app(), ["devices", "--wide"], env={"COLUMNS": "80"}, terminal_width=80)
    assert wide.exit_code == 0
    for column in ("RAM", "app budget", "arch", "source"):
        assert column in wide.output
    listed = json.loads(CliRunner().invoke(full_app(), ["devices", "--json"]).output)
    assert len(listed) >= 12
    assert {"name", "ram_bytes", "budget_bytes", "cores", "arch", "source"} <= set(listed[0])


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zoo cache shared by this module's real runs (tiny_cnn is compiled once)."""
    return tmp_path_factory.mktemp("cache")


def real_env(model_cache: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a real `edgeprove run` process, with this module's model cache."""
    return {**(base or os.environ), "EDGEPROVE_CACHE": str(model_cache)}


def earlier_run(folder: Path) -> Path:
    """A finished run folder as an earlier run left it."""
    folder.mkdir(parents=True)
    (folder / "report.json").write_text('{"verdict": "earlier"}\n')
    (folder / "proof.bin").write_bytes(b"EARLIER")
    return folder


def is_earlier_run(folder: Path) -> bool:
    """The folder still holds exactly what earlier_run wrote."""
    return (
        sorted(entry.name for entry in folder.iterdir()) == ["proof.bin", "report.json"]
        and (folder / "report.json").read_text() == '{"verdict": "earlier"}\n'
        and (folder / "proof.bin").read_bytes() == b"EARLIER"
    )


PROGRESS = ("plan: ", "prove: ", "verify: ")


def one_error_line(output: str) -> str:
    """The one error line, after any progress lines (stdout is not a terminal here)."""
    lines = [line for line in output.strip().splitlines() if not line.startswith(PROGRESS)]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def test_existing_run_folder_is_refused_without_force(stand_in: dict, tmp_path: Path) -> None:
    out = earlier_run(tmp_path / "r")
    result = invoke("20:GOOD", "--ram", "400M", "--backend", "none", "--out", str(out))
    assert result.exit_code == 2
    assert "is not empty" in one_error_line(result.output) and "--force" in result.output
    assert is_earlier_run(out)


def test_force_replaces_an_earlier_run_when_the_new_one_ends(stand_in: dict, tmp_path: Path) -> None:
    out = earlier_run(tmp_path / "r")
    result = invoke("20:GOOD", "--ram", "400M", "--backend", "none", "--out", str(out), "--force", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["report_dir"] == str(out) and summary["timeline_png"] == str(out / "timeline.png")
    assert json.loads((out / "report.json").read_text())["verdict"] == "fits"
    assert (out / "proof.bin").read_bytes() == b"GOOD" * 64
    assert sorted(tmp_path.iterdir()) == [stand_in["script"], out]


def test_force_never_replaces_a_folder_of_other_files(stand_in: dict, tmp_path: Path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    result = invoke("20:GOOD", "--ram", "400M", "--backend", "none", "--out", str(out), "--force")
    assert result.exit_code == 2
    assert "'thesis.tex'" in one_error_line(result.output)
    assert [entry.name for entry in out.iterdir()] == ["thesis.tex"]


def test_an_out_name_too_long_for_the_file_system_is_one_line(
    stand_in: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("20:GOOD", "--ram", "400M", "--backend", "none", "--out", "r" * 300)
    assert result.exit_code == 2
    assert "File name too long" in one_error_line(result.output)
    assert list(tmp_path.iterdir()) == [stand_in["script"]]


@pytest.mark.parametrize("out", ["", "  "])
def test_empty_out_is_rejected(
    stand_in: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("20:GOOD", "--ram", "400M", "--backend", "none", "--out", out)
    assert result.exit_code == 2
    assert "--out is empty" in one_error_line(result.output)
    assert list(tmp_path.iterdir()) == [stand_in["script"]]


def test_out_naming_a_file_is_rejected(stand_in: dict, tmp_path: Path) -> None:
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    result = invoke("20:GOOD", "--ram", "400M", "--backend", "none", "--out", str(out))
    assert result.exit_code == 2
    assert "is a file" in one_error_line(result.output) and out.read_text() == "mine"


def bad_model(kind: str, folder: Path) -> str:
    """A model argument that cannot be loaded: an unknown zoo name, a broken ONNX file or manifest."""
    if kind == "unknown":
        return "no_such_model"
    if kind == "bad-onnx":
        (folder / "bad.onnx").write_bytes(b"not onnx")
        return str(folder / "bad.onnx")
    (folder / "m").mkdir()
    (folder / "m" / "manifest.json").write_text("{no")
    return str(folder / "m")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("unknown", "unknown model 'no_such_model'"),
        ("bad-onnx", "not a readable ONNX model"),
        ("bad-manifest", "unreadable manifest"),
    ],
)
def test_bad_model_exits_2_before_anything_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache: Path, kind: str, message: str
) -> None:
    monkeypatch.setenv("EDGEPROVE_CACHE", str(model_cache))
    model = bad_model(kind, tmp_path)
    result = invoke(model, "--ram", "400M", "--backend", "none", "--out", str(tmp_path / "deep" / "r"))
    assert result.exit_code == 2, result.output
    assert message in one_error_line(result.output)
    assert not (tmp_path / "deep").exists()


@pytest.mark.parametrize(
    ("phase", "signum"),
    [
        pytest.param(phase, signum, id=f"{phase}-{signum.name}")
        for phase, signum in [
            ("plan", signal.SIGTERM),
            ("prove", signal.SIGTERM),
            ("verify", signal.SIGTERM),
            ("plan", signal.SIGINT),
            ("prove", signal.SIGINT),
            ("verify", signal.SIGHUP),
        ]
    ],
)
def test_signal_in_every_phase_stops_everything_and_keeps_the_earlier_run(
    tmp_path: Path, model_cache: Path, phase: str, signum: int
) -> None:
    backend = real_cap_backend()
    runs = tmp_path / "runs"
    out = earlier_run(runs / "r")
    env = real_env(model_cache, pausing_env(tmp_path, phase))
    process = edgeprove_process(
        "run", "tiny_cnn", "--ram", "400M", "--backend", backend, "--out", str(out), "--force", env=env
    )
    try:
        child = paused_pid(tmp_path, phase)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == 128 + signum, stderr
    assert stderr.strip().splitlines() == [INTERRUPTED.format(signal.Signals(signum).name)]
    wait_for(lambda: gone(child), 10, f"the {phase} child to exit")
    if backend == "cgroup1":
        assert own_cgroups(Cgroup1Backend().parent(), process.pid) == []
    assert [entry.name for entry in runs.iterdir()] == ["r"] and is_earlier_run(out)


def test_sigkill_kills_the_prover_and_the_next_run_reaps_what_was_left(
    tmp_path: Path, model_cache: Path
) -> None:
    backend = real_cap_backend()
    runs = tmp_path / "runs"
    killed = edgeprove_process(
        "run", "tiny_cnn", "--ram", "400M", "--backend", backend, "--out", str(runs / "killed"),
        env=real_env(model_cache, pausing_env(tmp_path, "prove")),
    )  # fmt: skip
    prover = paused_pid(tmp_path, "prove")
    killed.kill()
    killed.communicate(timeout=10)
    wait_for(lambda: gone(prover), 10, "the prover to die with its harness")
    left = [entry.name for entry in runs.iterdir()]
    assert len(left) == 1 and left[0].startswith(f".killed.tmp-{killed.pid}-"), left
    parent = Cgroup1Backend().parent() if backend == "cgroup1" else None
    if parent is not None:
        assert len(own_cgroups(parent, killed.pid)) == 1
        live = parent / cgroup_name()  # a live owner's cgroup (this process): never reaped
        live.mkdir()
    try:
        after = edgeprove_process(
            "run", "tiny_cnn", "--ram", "400M", "--backend", backend, "--out", str(runs / "next"), "--json",
            env=real_env(model_cache),
        )  # fmt: skip
        stdout, stderr = after.communicate(timeout=180)
        assert after.returncode == 0, stderr
        if parent is not None:
            assert own_cgroups(parent, killed.pid) == [] and live.is_dir()
            assert any("left behind: edgeprove-" in note for note in json.loads(stdout)["notes"])
    finally:
        if parent is not None:
            live.rmdir()
    assert [entry.name for entry in runs.iterdir()] == ["next"]


def test_sigkill_with_docker_the_watchdog_removes_the_container(tmp_path: Path, model_cache: Path) -> None:
    require("docker")
    import docker
    import psutil

    from edgeprove.harness.docker_backend import OWNER_LABEL, DockerBackend

    try:
        DockerBackend().probe()
    except BackendUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide Docker: {error}")
        pytest.skip(str(error))
    client = docker.from_env()
    killed = edgeprove_process(
        "run", "tiny_cnn", "--ram", "400M", "--backend", "docker", "--out", str(tmp_path / "r"),
        env=real_env(model_cache, pausing_env(tmp_path, "prove")),
    )  # fmt: skip

    def ours() -> list:
        listed = client.containers.list(all=True, filters={"label": OWNER_LABEL}, ignore_removed=True)
        return [item for item in listed if item.labels[OWNER_LABEL].startswith(f"{killed.pid}-")]

    try:
        (container,) = wait_for(ours, 60, "the run's container")
        wait_for(lambda: container.reload() or container.status == "running", 30, "the container to start")
        watchdogs = [
            item.pid
            for item in psutil.process_iter(["cmdline"])
            if container.id in (item.info["cmdline"] or []) and "watchdog" in " ".join(item.info["cmdline"])
        ]
        assert len(watchdogs) == 1
    finally:
        killed.kill()
        killed.communicate(timeout=10)
    wait_for(lambda: not ours(), 30, "the watchdog to remove the container")
    wait_for(lambda: gone(watchdogs[0]), 10, "the watchdog to exit")


def test_full_disk_while_writing_the_report_is_one_line_and_leaves_nothing(stand_in: dict) -> None:
    with small_tmpfs("4M") as disk:
        out = disk / "runs" / "r"
        result = invoke(
            f"10:GOOD:0.02:{disk / 'filler'}", "--ram", "400M", "--backend", "none", "--out", str(out)
        )
        assert result.exit_code == 1, result.output
        assert one_error_line(result.output) == (
            f"error: cannot write the run folder {out}: No space left on device; nothing was kept"
        )
        assert [entry.name for entry in disk.iterdir()] == ["filler"]


def test_full_disk_from_the_start_is_one_line_and_leaves_nothing(tmp_path: Path, model_cache: Path) -> None:
    with small_tmpfs("1M") as disk:
        fill(disk)
        before = sorted(entry.name for entry in disk.iterdir())
        out = disk / "r"
        process = edgeprove_process(
            "run", "tiny_cnn", "--ram", "400M", "--backend", real_cap_backend(), "--out", str(out),
            env=real_env(model_cache),
        )  # fmt: skip
        _, stderr = process.communicate(timeout=180)
        assert process.returncode == 1, stderr
        assert stderr.strip().splitlines() == [
            f"error: cannot write the run folder {out}: No space left on device; nothing was kept"
        ]
        assert sorted(entry.name for entry in disk.iterdir()) == before


def test_a_read_only_out_is_bad_input_before_anything_runs(stand_in: dict) -> None:
    with small_tmpfs("1M", read_only=True) as disk:
        result = invoke("20:GOOD", "--ram", "400M", "--backend", "none", "--out", str(disk / "r"))
        assert result.exit_code == 2
        assert one_error_line(result.output) == f"error: --out {disk / 'r'}: cannot write in {disk}"


def test_a_burst_of_ctrl_c_still_exits_130_with_one_line(tmp_path: Path, model_cache: Path) -> None:
    out = tmp_path / "r"
    process = edgeprove_process(
        "run", "tiny_cnn", "--ram", "400M", "--backend", real_cap_backend(), "--out", str(out),
        env=real_env(model_cache, pausing_env(tmp_path, "prove")),
    )  # fmt: skip
    try:
        paused_pid(tmp_path, "prove")
        while process.poll() is None:  # a held-down Ctrl-C: signals keep coming while the run cleans up
            process.send_signal(signal.SIGINT)
            time.sleep(0.002)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == 130
    assert stderr.strip().splitlines() == [INTERRUPTED.format("SIGINT")]
    assert not out.exists()


def test_a_symbolic_link_loop_as_out_is_one_line(stand_in: dict, tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    result = invoke("10:GOOD:0.02", "--ram", "400M", "--backend", "none", "--out", str(tmp_path / "a"))
    assert result.exit_code == 2 and "symbolic link loop" in result.output, result.output
    assert "Traceback" not in result.output


def test_a_zoo_name_reaches_the_children_as_a_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder named like a zoo model beside the run never replaces the zoo model in prove or verify."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lenet5").mkdir()
    (tmp_path / "mine").mkdir()
    assert pipeline.model_argument("lenet5") == "lenet5"
    assert pipeline.model_argument("mine") == str(tmp_path / "mine")


def test_a_private_input_run_commits_the_input_and_plans_for_it(tmp_path: Path, model_cache: Path) -> None:
    out = tmp_path / "r"
    process = edgeprove_process(
        "run", "tiny_cnn", "--ram", "400M", "--backend", real_cap_backend(), "--private-input",
        "--zk-group-bits", "0", "--out", str(out), "--json", env=real_env(model_cache),
    )  # fmt: skip
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["verdict"] == "fits" and report["prover"]["input_mode"] == "committed"
    assert report["prover"]["zero_knowledge"] is True
    assert "--private-input" in report["command"] and "--zk-group-bits 0" in report["command"]
    from edgeprove import verifier

    assert verifier.read_header(out / "proof.bin")["ligero_zk"]["group_vars"] == 0
    argv = pipeline.prover_command("m", "streaming", Path("p"), Path("e"), private_input=True)
    assert argv[-1] == "--private-input" and "--private-input" not in pipeline.prover_command(
        "m", "streaming", Path("p"), Path("e")
    )
    plain = pipeline.prover_command(
        "m", "streaming", Path("p"), Path("e"), private_input=True, zero_knowledge=False
    )
    assert plain[-2:] == ["--private-input", "--no-zero-knowledge"]
    grouped = pipeline.prover_command(
        "m", "streaming", Path("p"), Path("e"), private_input=True, zk_group_bits=5
    )
    assert grouped[-3:] == ["--private-input", "--zk-group-bits", "5"]


def test_run_without_zero_knowledge_needs_a_private_input() -> None:
    result = invoke("tiny_mlp", "--ram", "400M", "--no-zero-knowledge")
    assert result.exit_code == 2 and "needs --private-input" in result.output


@pytest.mark.parametrize(
    "arguments",
    [["--zk-group-bits", "4"], ["--private-input", "--zk-group-bits", "40"]],
    ids=["public", "range"],
)
def test_a_run_refuses_a_group_size_that_cannot_apply_before_anything(tmp_path: Path, arguments) -> None:
    result = invoke("tiny_mlp", "--ram", "400M", "--out", str(tmp_path / "r"), *arguments)
    assert result.exit_code == 2 and "--zk-group-bits" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("peaks", "arguments", "expected"),
    [
        ({(2, False): 2 << 30, (2, True): 512 << 20}, [], (2, True)),  # spilling fits: threads kept
        ({(2, False): 2 << 30, (2, True): 2 << 30, (1, False): 512 << 20}, [], (1, False)),
        ({(2, False): 2 << 30, (2, True): 2 << 30, (1, False): 2 << 30, (1, True): 512 << 20}, [], (1, True)),
        ({}, [], (1, True)),  # nothing fits: the least memory
        ({(2, False): 2 << 30, (2, True): 2 << 30}, ["--threads", "2"], (2, True)),  # given threads kept
        ({(2, False): 512 << 20}, [], (2, False)),  # fits as it is
    ],
)
def test_a_run_that_would_not_fit_spills_or_takes_one_thread(
    stand_in: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    peaks: dict,
    arguments: list[str],
    expected: tuple[int, bool],
) -> None:
    """Under a 1 GiB cap the first of (threads, spill), (1 thread), (1 thread, spill) the planner says fits
    runs, else the last; a thread count the user gives is kept; the child gets --spill when it spills, and
    the report says so."""
    monkeypatch.setattr(pipeline, "prover_threads", lambda threads, device: threads or 2)

    def plan(
        model: str,
        schedule: str,
        threads: int | None = None,
        private_input: bool = False,
        spill: bool = False,
        fit: int | None = None,
        memory: int | None = None,
        zero_knowledge: bool = True,
        zk_group_bits: int | None = None,
    ) -> dict:
        assert memory == 1 << 30  # the planner's own memory is bounded by the cap
        if fit is not None:  # the tiling chosen when nothing else fits
            return {"peak_bytes": fit, "tiles": [[3, 2], [9, 4]]}
        return {"peak_bytes": peaks.get((threads, spill), 2 << 30)}

    monkeypatch.setattr(pipeline, "check_model", plan)
    result = invoke(
        "20:GOOD", "--ram", "1G", "--backend", "none", "--out", str(tmp_path / "r"), "--json", *arguments
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (
        (report["threads"], report["spill"]) == (stand_in["threads"][-1], stand_in["spill"][-1]) == expected
    )
    tiled = not peaks or expected == (2, True) and len(peaks) == 2 and arguments
    assert report["tiles"] == ([[3, 2], [9, 4]] if tiled else [])
    assert stand_in["tiles"][-1] == (((3, 2), (9, 4)) if tiled else ())


def test_tiles_reach_the_child_command_and_a_malformed_plan_gives_none() -> None:
    argv = pipeline.prover_command("m", "streaming", Path("p"), Path("e"), tiles=((3, 2), (9, 4)))
    assert argv[-4:] == ["--tile", "3:2", "--tile", "9:4"]
    assert "--tile" not in pipeline.prover_command("m", "streaming", Path("p"), Path("e"))
    assert pipeline.plan_tiles({"tiles": [[3, 2], [9, 4]]}) == ((3, 2), (9, 4))
    for bad in ({}, {"tiles": "3:2"}, {"tiles": [[3, "2"]]}, {"tiles": [[3, 2, 1]]}, {"tiles": [[True, 2]]}):
        assert pipeline.plan_tiles(bad) == ()


def test_spilling_reaches_the_child_commands() -> None:
    argv = pipeline.prover_command("m", "streaming", Path("p"), Path("e"), None, spill=True)
    assert argv[-1] == "--spill"
    assert "--spill" not in pipeline.prover_command("m", "streaming", Path("p"), Path("e"))


def test_a_prover_record_longer_than_the_kept_output_is_read_from_its_file(tmp_path: Path) -> None:
    """A segmentation output makes the prover's JSON line megabytes long: the kept tail of stdout does not
    parse, so the line is read from the child's file, bounded by the output the plan implies, and kept
    without the output's values."""
    values = 4 * 120 * 160
    record = {"output": [0.5] * values, "output_int": [64] * values, "prove_s": 3.0, "prove_cpu_s": 2.5}
    line = json.dumps(record) + "\n"
    path = tmp_path / "child.stdout"
    path.write_text(line)
    plan = ({"out_shape": [4, 120, 160]},)
    assert pipeline.prover_record(line[-1000:], path, plan) == {"prove_s": 3.0, "prove_cpu_s": 2.5}
    assert pipeline.prover_record(line[-1000:], path, ({"out_shape": [4, 1, 1]},)) == {}  # too long for it
    assert pipeline.prover_record(line[-1000:], path, None) == {}
    short = json.dumps({"prove_s": 1.0}) + "\n"
    assert pipeline.prover_record(short, path, plan) == {"prove_s": 1.0}


def test_a_runs_planner_is_bounded_by_the_cap_on_a_small_hostile_model(tmp_path, monkeypatch) -> None:
    """A 721-byte folder (two pools over a 1x8192x8192 input, within every ceiling) asks the planner's
    integer pass for 1.8 GB: under a run's cap the planner child fails at the bound and only the prediction
    is lost (the capped prover then judges it)."""
    import modelfiles

    layers = [
        modelfiles.layer("p0", "avgpool", -1, (1, 8192, 8192), (1, 4096, 4096), kernel=2, stride=2, shift=2),
        modelfiles.layer("p1", "avgpool", 0, (1, 4096, 4096), (1, 2048, 2048), kernel=2, stride=2),
    ]
    layers[0]["activation"] = "relu"
    folder = str(modelfiles.write_folder(tmp_path / "hostile", (1, 8192, 8192), layers))
    monkeypatch.setattr(pipeline, "PLAN_MIN_DATA_BYTES", 256 << 20)
    assert pipeline.check_model(folder, "streaming", threads=1, memory=256 << 20) == {}
    small = pipeline.check_model("tiny_cnn", "streaming", threads=1, memory=256 << 20)
    assert small["peak_bytes"] > 0  # an ordinary plan fits the bound
