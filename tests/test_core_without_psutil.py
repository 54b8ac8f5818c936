"""The core runs where psutil cannot be installed (Termux without a compiler): prove, verify, plan and a
capped run under the rlimit backend, with psutil unimportable in every process they start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ENTRY_POINT, PROJECT_ROOT

NO_PSUTIL = """
import sys

class _NoPsutil:
    def find_spec(self, name, path=None, target=None):
        if name == "psutil" or name.startswith("psutil."):
            raise ModuleNotFoundError("No module named 'psutil'", name="psutil")
        return None

sys.meta_path.insert(0, _NoPsutil())
"""
"""sitecustomize: every interpreter started with it on PYTHONPATH (children too) fails to import psutil."""


def without_psutil(tmp_path: Path) -> dict[str, str]:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(NO_PSUTIL)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(hook), str(PROJECT_ROOT)])
    return env


def edgeprove(env: dict[str, str], cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY_POINT, *arguments],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def test_prove_verify_plan_and_an_rlimit_run_need_no_psutil(tmp_path: Path) -> None:
    env = without_psutil(tmp_path)
    blocked = subprocess.run([sys.executable, "-c", "import psutil"], env=env, capture_output=True, text=True)
    assert blocked.returncode == 1 and "No module named 'psutil'" in blocked.stderr

    proved = edgeprove(
        env, tmp_path, "prove", "tiny_cnn", "--out", "p.proof", "--events", "ev.jsonl", "--json"
    )
    assert proved.returncode == 0, proved.stderr
    events = [json.loads(line) for line in (tmp_path / "ev.jsonl").read_text().splitlines()]
    assert events and all(event["rss"] > 0 for event in events)

    verified = edgeprove(env, tmp_path, "verify", "p.proof", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["accepted"], verified.stderr

    planned = edgeprove(env, tmp_path, "plan", "tiny_cnn", "--json")
    assert planned.returncode == 0 and json.loads(planned.stdout)["peak_bytes"] > 0, planned.stderr

    ran = edgeprove(
        env, tmp_path, "run", "tiny_cnn", "--ram", "2G", "--backend", "rlimit", "--out", "run", "--json"
    )
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout.strip().splitlines()[-1])
    assert summary["verdict"] == "fits" and summary["backend"] == "rlimit"
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["peak_bytes"] > 0 and max(report["timeline"]["rss_bytes"]) > 0
    assert "psutil" not in proved.stderr + verified.stderr + planned.stderr + ran.stderr
