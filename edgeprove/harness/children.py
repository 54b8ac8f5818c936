"""Edgeprove commands as child processes: their argv, their environment, and the JSON they print."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgeprove.process.lifetime import die_with_parent_hook

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINT = "import sys; from edgeprove.cli import main; sys.exit(main())"


def edgeprove_argv(*arguments: str) -> list[str]:
    """The argv that runs an edgeprove command in a fresh interpreter (this one's executable)."""
    return [sys.executable, "-c", ENTRY_POINT, *arguments]


def child_environment() -> dict[str, str]:
    """This environment, with the project importable.  BLAS's thread variables pass through as they are:
    a prover's cores go to its own threads (`prove --threads`), and its BLAS runs as configured."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    if env.get("EDGEPROVE_CACHE"):
        env["EDGEPROVE_CACHE"] = str(Path(env["EDGEPROVE_CACHE"]).resolve())  # children run in the run folder
    return env


def run_child(
    argv: list[str], timeout: float | None = None, data_limit: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an edgeprove helper command to its end, capturing its output; it dies with this process, and
    with ``data_limit`` its private writable memory (RLIMIT_DATA: heap and anonymous mappings) is bounded,
    so that an allocation beyond it fails in the child instead of taking the machine's memory."""
    die_with_parent = die_with_parent_hook()

    def hook() -> None:
        die_with_parent()
        if data_limit is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))

    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_environment(),
        check=False,
        preexec_fn=hook,
    )


def last_json_object(text: str) -> dict[str, Any]:
    """The last line of `text` that parses as a JSON object ({} when none does)."""
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}
