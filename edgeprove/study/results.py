"""A study's results: one JSON per run in <out>/runs/, written atomically, and the peak compared across
systems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeprove.study.suites import RunSpec

DEFAULT_PROFILES = Path("profiles")
"""Where a suite's results folder goes by default: profiles/<suite name>."""


def result_path(out_dir: Path, run_id: str) -> Path:
    """Where a run's JSON lives: <out>/runs/<run-id>.json."""
    return out_dir / "runs" / f"{run_id}.json"


def write_result(out_dir: Path, record: dict[str, Any]) -> Path:
    """Write a run's JSON atomically, so an interrupted write never looks like a finished run."""
    path = result_path(out_dir, record["run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".json.tmp")
    staging.write_text(json.dumps(record, indent=1, default=str) + "\n")
    staging.replace(path)
    return path


def is_finished(out_dir: Path, run_id: str) -> bool:
    """True when the run has a readable result that is not `unavailable` (a missing peer is retried)."""
    try:
        record = json.loads(result_path(out_dir, run_id).read_text())
    except (OSError, ValueError):
        return False
    return record.get("verdict") != "unavailable"


def load_results(out_dir: Path, runs: list[RunSpec]) -> dict[str, dict[str, Any]]:
    """The finished results of these runs, by run id (runs without a readable JSON are absent)."""
    results = {}
    for spec in runs:
        path = result_path(out_dir, spec.run_id)
        try:
            results[spec.run_id] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return results


def conservative_peak(result: dict[str, Any]) -> int | None:
    """The larger of the kernel's peak and the peak RSS: the figure compared with other systems' peaks
    (cgroup v1 does not charge file pages another cgroup cached first, e.g. the memory-mapped weights)."""
    values = [value for value in (result.get("peak_bytes"), result.get("peak_rss_bytes")) if value]
    return max(values) if values else None
