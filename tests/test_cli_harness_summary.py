"""The run summary prints what it is given as text: brackets in names, paths and notes are not markup."""

from __future__ import annotations

import io

from rich.console import Console

from edgeprove.cli.harness import print_summary
from edgeprove.harness.report import PLOT_INSTALL_HINT


def test_the_summary_keeps_brackets_in_every_field() -> None:
    report = {
        "verdict": "fits",
        "verdict_reason": "the proof verified outside the cap [cgroup1]",
        "model": "net[v2]",
        "schedule": "streaming",
        "device": "board[b]",
        "backend": "none",
        "backend_reason": "chosen with --backend none [dim]",
        "capped": True,
        "cap_bytes": 1 << 30,
        "peak_bytes": 100 << 20,
        "kernel_peak_bytes": 100 << 20,
        "peak_rss_bytes": 120 << 20,
        "peak_layer": "conv[0]",
        "predicted_peak_bytes": 110 << 20,
        "prove_s": 1.0,
        "proof_bytes": 1 << 20,
        "report_dir": "/tmp/runs/[x]",
        "memray_error": "memray missing: pip install 'edgeprove[memray]'",
        "memray_top_sites": [{"bytes": 1 << 20, "function": "f[i]", "file": "a.py", "line": 3}],
        "notes": [PLOT_INSTALL_HINT],
    }
    out = io.StringIO()
    print_summary(report, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    for shown in (
        "[cgroup1]",
        "net[v2] (streaming), device board[b]",
        "--backend none [dim]",
        "conv[0]",
        "/tmp/runs/[x]",
        "'edgeprove[memray]'",
        "f[i]",
        "pip install 'edgeprove[plot]'",
    ):
        assert shown in text, shown
