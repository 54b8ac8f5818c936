"""report.html of a run: the verdict, the figures, the per-layer table of predicted against measured memory,
the embedded timeline, the flamegraph link, the command and environment; self-contained and escaped."""

import re
from pathlib import Path

from edgeprove.harness.environment import software_description
from edgeprove.harness.html_report import run_page, write_run_page

MIB = 1 << 20


def report(**changes: object) -> dict:
    """A run's report as `build_report` and the pipeline leave it."""
    base = {
        "verdict": "fits",
        "verdict_reason": "the proof verified outside the cap",
        "model": "lenet5",
        "schedule": "streaming",
        "device": "rpi-zero-2w",
        "backend": "cgroup2",
        "backend_reason": "auto chose cgroup2",
        "cap_bytes": 362 * MIB,
        "capped": True,
        "peak_bytes": 40 * MIB,
        "kernel_peak_bytes": 40 * MIB,
        "peak_rss_bytes": 50 * MIB,
        "peak_layer": "conv2",
        "predicted_peak_bytes": 55 * MIB,
        "prove_s": 1.5,
        "prover": {"prove_cpu_s": 1.25},
        "proof_bytes": 557 * 1024,
        "wall_s": 2.0,
        "layers": [
            {
                "index": 0,
                "layer": "conv1",
                "phase": "prove",
                "start_s": 0.5,
                "end_s": 1.0,
                "finished": True,
                "peak_rss_bytes": 40 * MIB,
                "kernel_peak_bytes": 30 * MIB,
                "predicted_bytes": 44 * MIB,
            },
            {
                "index": 1,
                "layer": "conv2",
                "phase": "prove",
                "start_s": 1.0,
                "end_s": 1.75,
                "finished": True,
                "peak_rss_bytes": 50 * MIB,
                "kernel_peak_bytes": 40 * MIB,
                "predicted_bytes": 45 * MIB,
            },
        ],
        "notes": ["a note"],
        "command": "edgeprove run lenet5 --device rpi-zero-2w",
        "environment": software_description(),
        "argv": ["edgeprove", "prove", "lenet5"],
    }
    return {**base, **changes}


def rows_of(page: str) -> list[list[str]]:
    """The text of every table row's cells."""
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page)]


def test_the_page_has_the_verdict_figures_and_per_layer_prediction_errors() -> None:
    page = run_page(report(), None)
    assert 'class="verdict good">FITS<' in page and "the proof verified outside the cap" in page
    rows = rows_of(page)
    assert ["cap", "362.00 MiB"] in rows and ["headroom", "322.00 MiB (11.0% of the cap used)"] in rows
    assert ["prove time", "1.50 s (1.25 s CPU)"] in rows and ["layer at the peak", "conv2"] in rows
    assert ["predicted peak", "55.00 MiB (+10% against the peak RSS)"] in rows
    assert ["0", "conv1", "0.50–1.00", "40.00 MiB", "30.00 MiB", "44.00 MiB", "+10%"] in rows
    assert ["1", "conv2", "1.00–1.75", "50.00 MiB", "40.00 MiB", "45.00 MiB", "-10%"] in rows
    assert '<tr class="peak"><td class=n>1</td>' in page
    assert "edgeprove run lenet5 --device rpi-zero-2w" in page and "numpy" in page and "a note" in page
    assert "No timeline" in page and "flamegraph" not in page


def test_an_oom_page_names_the_layer_it_died_in() -> None:
    page = run_page(report(verdict="oom", verdict_reason="OOM-killed by the kernel"), None)
    assert 'class="verdict bad">DOES NOT FIT<' in page
    assert ["layer it died in", "conv2"] in rows_of(page) and '<tr class="died">' in page


def test_the_timeline_is_embedded_and_nothing_is_fetched(tmp_path: Path) -> None:
    png = tmp_path / "timeline.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    flame = report(
        flamegraph=str(tmp_path / "flamegraph.html"),
        memray_top_sites=[{"bytes": 3 * MIB, "function": "commit", "file": "ligero.py", "line": 7}],
    )
    page = write_run_page(flame, tmp_path, png).read_text()
    assert 'src="data:image/png;base64,iVBORw0KGgo' in page
    assert '<a href="flamegraph.html">' in page and ["3.00 MiB", "commit", "ligero.py:7"] in rows_of(page)
    assert not re.search(r"(src|href)=\"(https?:|//|/)", page)


def test_names_from_a_model_are_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    page = run_page(report(model=hostile, peak_layer=hostile, notes=[hostile]), None)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_a_run_that_never_reached_a_layer_says_so() -> None:
    page = run_page(
        report(layers=[], prove_s=None, prover={}, proof_bytes=None, predicted_peak_bytes=None), None
    )
    assert "never reached its first layer" in page and ["prove time", "–"] in rows_of(page)
