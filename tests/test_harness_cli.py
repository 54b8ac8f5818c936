"""`edgeprove run` and `edgeprove devices`: verdicts, exit codes, the run folder and one-line errors.

Until the prover's `prove`/`verify` commands land, the capped child is a stand-in prover script that keeps
their contract (JSON on stdout, layer events, a proof file; verify exits 0 or 1).
"""

import importlib.util
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import edgeprove.cli.harness as harness_cli
from edgeprove.cli import full_app
from edgeprove.harness.backends import BackendUnavailable, Cgroup1Backend

STAND_IN_PROVER = """
import json, sys, time
import numpy
command = sys.argv[1]
if command == "prove":
    mib, proof, events, verdict = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
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
    print(json.dumps({"model": "stand-in", "digest": "0" * 64, "schedule": "streaming", "output": [0.5],
                      "output_int": [1], "prove_s": time.time() - started, "proof_bytes": 64 * len(verdict),
                      "peak_rss_mb": 0}))
else:
    sys.exit(0 if open(sys.argv[2], "rb").read(4) == b"GOOD" else 1)
"""
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
    """Route the CLI's prover and verifier commands to the stand-in; MODEL is 'MiB:GOOD|EVIL[:sleep]'."""
    script = tmp_path / "prover.py"
    script.write_text(STAND_IN_PROVER)

    def prover(model: str, schedule: str, proof: Path, events: Path) -> list[str]:
        mib, verdict, *pause = model.split(":")
        pause = pause or ["0.02"]
        return [sys.executable, str(script), "prove", mib, str(proof), str(events), verdict, *pause]

    monkeypatch.setattr(harness_cli, "prover_command", prover)
    monkeypatch.setattr(harness_cli, "check_model_spec", lambda model: None)
    monkeypatch.setattr(
        harness_cli,
        "verify_command",
        lambda proof, model: [sys.executable, str(script), "verify", str(proof)],
    )
    return {"script": script}


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
        "proof size",
        "RLIMIT_DATA",
    ):
        assert label in result.output


def test_does_not_fit_exits_3(stand_in: dict, tmp_path: Path) -> None:
    backend = real_cap_backend()
    result = invoke("900:GOOD", "--ram", "300M", "--backend", backend, "--out", str(tmp_path / "r"), "--json")
    assert result.exit_code == 3, result.output
    summary = json.loads(result.output)
    assert summary["verdict"] == "oom" and summary["peak_layer"] in {"conv0", "conv1", "conv2"}
    assert json.loads((tmp_path / "r" / "report.json").read_text())["verdict"] == "oom"


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
    assert summary["cores"] == min(4, len(os.sched_getaffinity(0)))


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
    monkeypatch.setattr(harness_cli, "memray_available", lambda: False)
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
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        result = invoke("10:GOOD:5", "--ram", "400M", "--backend", backend, "--out", str(tmp_path / "r"))
    finally:
        timer.cancel()
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output
    if backend == "cgroup1":
        parent = Cgroup1Backend().parent()
        assert not [p for p in parent.iterdir() if re.match(r"edgeprove-\d+-", p.name)]
    assert not (tmp_path / "r" / "report.json").exists()


def test_devices_lists_the_catalog() -> None:
    result = CliRunner().invoke(full_app(), ["devices"], terminal_width=250)
    assert result.exit_code == 0
    for text in ("iphone-15-pro", "rpi5-16g", "3.00 GiB", "mopro"):
        assert text in result.output
    listed = json.loads(CliRunner().invoke(full_app(), ["devices", "--json"]).output)
    assert len(listed) >= 12
    assert {"name", "ram_bytes", "budget_bytes", "cores", "arch", "source"} <= set(listed[0])
