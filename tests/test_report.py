"""The run report: JSON contents, the summary's promised keys, and the PNG timeline (optional matplotlib)."""

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from edgeprove.harness.report import (
    PLOT_INSTALL_HINT,
    SUMMARY_KEYS,
    PlotUnavailable,
    build_report,
    layer_rows,
    load_report,
    plot_timeline,
    summary,
    write_report,
)
from edgeprove.harness.runner import RunResult, run_capped

LAYERED = (
    "import json, sys, time, numpy\n"
    "log = open(sys.argv[1], 'a')\n"
    "blocks = []\n"
    "for i in range(3):\n"
    "    log.write(json.dumps({'event': 'start', 'layer': f'conv{i}', 't': time.time()}) + '\\n')\n"
    "    log.flush()\n"
    "    blocks.append(numpy.ones(30 << 17)); time.sleep(0.05)\n"
    "    log.write(json.dumps({'event': 'end', 'layer': f'conv{i}', 't': time.time()}) + '\\n')\n"
    "    log.flush()\n"
    "log.write(json.dumps({'event': 'done', 't': time.time()}) + '\\n')\n"
)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    events = tmp_path_factory.mktemp("run") / "events.jsonl"
    argv = [sys.executable, "-c", LAYERED, str(events)]
    return run_capped(argv, 512 << 20, backend="none", events_path=events)


def test_report_carries_the_run(measured: RunResult, tmp_path: Path) -> None:
    report = build_report(measured, "fits", model="m", predicted_peak_bytes=123, report_dir=str(tmp_path))
    assert report["verdict"] == "fits" and report["backend"] == "none" and report["model"] == "m"
    assert report["peak_bytes"] == measured.peak_bytes and report["peak_rss_bytes"] >= 90 << 20
    assert report["predicted_peak_bytes"] == 123
    timeline = report["timeline"]
    assert len(timeline["t"]) == len(timeline["rss_bytes"]) == len(timeline["kernel_peak_bytes"]) > 5
    assert timeline["t"] == sorted(timeline["t"]) and timeline["t"][0] >= 0
    starts = [event for event in report["events"] if event["event"] == "start"]
    assert [event["layer"] for event in starts] == ["conv0", "conv1", "conv2"]
    assert all(event["t_rel"] >= 0 for event in starts)
    path = write_report(report, tmp_path)
    assert path == tmp_path / "report.json" and load_report(path) == json.loads(json.dumps(report))


def test_summary_puts_the_promised_keys_first_and_drops_the_timeline(measured: RunResult) -> None:
    report = build_report(measured, "oom", prove_s=1.0, proof_bytes=None, predicted_peak_bytes=None)
    short = summary(report)
    assert tuple(short)[: len(SUMMARY_KEYS)] == SUMMARY_KEYS
    assert "timeline" not in short and "events" not in short and short["verdict"] == "oom"
    assert short["peak_layer"] == report["peak_layer"]


def test_timeline_png(measured: RunResult, tmp_path: Path) -> None:
    if importlib.util.find_spec("matplotlib") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have matplotlib installed")
        pytest.skip("matplotlib is not installed")
    report = build_report(measured, "fits", model="m", predicted_peak_bytes=200 << 20)
    png = plot_timeline(report, tmp_path / "timeline.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_timeline_without_matplotlib(
    measured: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PlotUnavailable, match="pip install 'edgeprove\\[plot\\]'"):
        plot_timeline(build_report(measured, "fits"), tmp_path / "timeline.png")
    assert "matplotlib" in PLOT_INSTALL_HINT and not (tmp_path / "timeline.png").exists()


def synthetic_report(events: list[dict], samples: list[tuple[float, int, int | None]]) -> dict:
    """A report with the given (relative) events and (t, rss, kernel) samples."""
    return {
        "timeline": {
            "t": [t for t, _, _ in samples],
            "rss_bytes": [rss for _, rss, _ in samples],
            "kernel_peak_bytes": [kernel for _, _, kernel in samples],
        },
        "events": events,
    }


def test_layer_rows_put_each_layers_measured_peak_beside_its_prediction() -> None:
    events = [
        {"event": "start", "layer": "a", "index": 0, "t_rel": 1.0, "rss": 5},
        {"event": "end", "layer": "a", "index": 0, "t_rel": 2.0},
        {"event": "start", "layer": "b", "index": 1, "t_rel": 2.0},
        {"event": "end", "layer": "b", "index": 1, "t_rel": 3.0},
        {"event": "start", "layer": "c", "index": 2, "t_rel": 3.0},  # killed here: no end
    ]
    samples = [(0.5, 1, None), (1.5, 40, 30), (1.9, 20, 31), (2.5, 60, 50), (3.5, 90, 80), (3.9, 70, None)]
    predicted = [{"index": 0, "process_bytes": 44}, {"index": 1, "process_bytes": 66}]
    rows = layer_rows(synthetic_report(events, samples), predicted)
    assert [(row["layer"], row["start_s"], row["end_s"], row["finished"]) for row in rows] == [
        ("a", 1.0, 2.0, True),
        ("b", 2.0, 3.0, True),
        ("c", 3.0, 3.9, False),
    ]
    assert [row["peak_rss_bytes"] for row in rows] == [40, 60, 90]
    assert [row["kernel_peak_bytes"] for row in rows] == [31, 50, 80]
    assert [row["predicted_bytes"] for row in rows] == [44, 66, None]


def test_layer_rows_of_a_baseline_build_pass_carry_no_prediction() -> None:
    events = [
        {"event": "start", "layer": "a", "index": 0, "phase": "build", "t_rel": 0.0},
        {"event": "end", "layer": "a", "index": 0, "phase": "build", "t_rel": 1.0},
        {"event": "start", "layer": "a", "index": 0, "t_rel": 1.0},
        {"event": "done", "t_rel": 2.0},
    ]
    rows = layer_rows(
        synthetic_report(events, [(0.5, 10, None), (1.5, 20, None)]), [{"index": 0, "process_bytes": 7}]
    )
    assert [(row["phase"], row["predicted_bytes"], row["peak_rss_bytes"]) for row in rows] == [
        ("build", None, 10),
        ("prove", 7, 20),
    ]
    assert rows[1]["end_s"] == 2.0 and not rows[1]["finished"]
