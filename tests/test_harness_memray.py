"""memray recording: the wrapped command, the flamegraph and the top sites at the peak, on a real capture."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgeprove.cli import full_app
from edgeprove.harness.memray_tools import (
    attributed_frame,
    memray_stderr_note,
    top_sites,
    wrap_with_memray,
    write_flamegraph,
)

ALLOCATE = "import numpy\nfirst = numpy.ones(20 << 17)\nsecond = numpy.ones(5 << 17)\n"


def require_memray() -> None:
    """memray is a dev dependency on CI: there its absence is a failure, locally a skip."""
    if importlib.util.find_spec("memray") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have memray installed")
        pytest.skip("memray is not installed")


def test_wrap_with_memray_keeps_the_interpreter_and_arguments(tmp_path: Path) -> None:
    wrapped = wrap_with_memray([sys.executable, "-c", "pass", "a"], tmp_path / "c.bin")
    assert wrapped[:5] == [sys.executable, "-m", "memray", "run", "--native"]
    assert wrapped[-3:] == ["-c", "pass", "a"] and str(tmp_path / "c.bin") in wrapped


def test_attributed_frame_prefers_project_code() -> None:
    library = (sys.prefix + "/lib/python3/site-packages/numpy/core.py", 5)
    frames = [("ones", *library), ("fold", "/src/edgeprove/poly.py", 9), ("main", "/home/x/run.py", 3)]
    assert attributed_frame(frames) == ("fold", "/src/edgeprove/poly.py", 9)
    assert attributed_frame([frames[0], frames[2]]) == ("main", "/home/x/run.py", 3)
    assert attributed_frame([("f", "<frozen importlib>", 1), frames[0]]) == ("f", "<frozen importlib>", 1)
    assert attributed_frame([]) == ("<native>", "<unknown>", 0)


def test_top_sites_and_flamegraph_from_a_real_capture(tmp_path: Path) -> None:
    require_memray()
    script = tmp_path / "allocate.py"
    script.write_text(ALLOCATE)
    capture = tmp_path / "capture.bin"
    subprocess.run(wrap_with_memray([sys.executable, str(script)], capture), check=True)
    sites = top_sites(capture, count=3)
    by_line = {site["line"]: site for site in sites if site["file"] == str(script)}
    assert (sites[0]["file"], sites[0]["line"]) == (str(script), 2)
    assert by_line[2]["bytes"] >= 20 << 20 and by_line[2]["allocations"] >= 1
    assert by_line[3]["bytes"] >= 5 << 20
    html = write_flamegraph(capture, tmp_path / "flamegraph.html")
    assert "<html" in html.read_text().lower()


def test_flamegraph_of_a_broken_capture_fails_with_one_line(tmp_path: Path) -> None:
    require_memray()
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"not a capture")
    with pytest.raises(RuntimeError, match="memray flamegraph failed") as error:
        write_flamegraph(broken, tmp_path / "f.html")
    assert "\n" not in str(error.value)


def test_memray_stderr_is_explained_in_one_line() -> None:
    assert memray_stderr_note("") is None
    assert memray_stderr_note("Traceback: something else\n") is None
    stderr = "Memray WARNING: Correcting symbol for malloc from 0x1 to 0x2\n" * 3 + "other\n"
    note = memray_stderr_note(stderr)
    assert note is not None and "\n" not in note
    assert "3 lines from memray" in note and "Correcting symbol" in note and "verdict" in note


def test_memray_run_without_a_cap_prints_the_flamegraph(tmp_path: Path, monkeypatch) -> None:
    """`run --memray` with neither --ram nor --device records on backend none, says there is no cap, and
    prints where the flamegraph is and the top allocation sites."""
    require_memray()
    monkeypatch.setenv("EDGEPROVE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    result = CliRunner().invoke(full_app(), ["run", "tiny_cnn", "--memray", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"flamegraph: {out / 'flamegraph.html'}" in result.output.splitlines()
    text = " ".join(result.output.split())  # the summary wraps at the terminal's width
    assert "top allocation sites at the peak (memray)" in text
    assert "cap none: no --ram or --device" in text and "backend none" in text
    assert (out / "flamegraph.html").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["capped"] is False and report["backend"] == "none" and report["verdict"] == "fits"
    assert report["flamegraph"] == str(out / "flamegraph.html") and report["memray_top_sites"]


def test_a_cap_is_still_needed_without_memray_or_with_a_capping_backend(tmp_path: Path) -> None:
    plain = CliRunner().invoke(full_app(), ["run", "tiny_cnn", "--out", str(tmp_path / "a")])
    assert plain.exit_code == 2 and "--memray alone records without a cap" in plain.output
    capping = CliRunner().invoke(
        full_app(), ["run", "tiny_cnn", "--memray", "--backend", "rlimit", "--out", str(tmp_path / "b")]
    )
    assert capping.exit_code == 2 and "--backend rlimit needs a cap" in capping.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
