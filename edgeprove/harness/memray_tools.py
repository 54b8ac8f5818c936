"""memray recording of the capped child: the wrapped command, HTML flamegraph and top sites at the peak.

memray is an optional extra; nothing here imports it until a memray run asks for it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

MEMRAY_NOTE = (
    "memray run: slower and heavier than a verdict run (native tracing slows the prover, the capture adds "
    "disk and memory); use it to see where memory goes, and a run without --memray for the verdict."
)


def memray_stderr_note(stderr: str) -> str | None:
    """One line explaining memray's own messages in child.stderr (such as `Memray WARNING: Correcting symbol
    for ...`), or None when there are none: they come from its tracing, not from the prover."""
    lines = [line for line in stderr.splitlines() if "memray" in line.lower()]
    if not lines:
        return None
    first = lines[0].strip()
    first = first if len(first) <= 80 else first[:79] + "…"
    return (
        f"child.stderr holds {len(lines)} line{'s' * (len(lines) != 1)} from memray itself ({first!r}): its "
        "native tracing reporting on symbols and hooks; they do not affect the proof or the verdict."
    )


def memray_available() -> bool:
    """True when the memray package can be imported."""
    return importlib.util.find_spec("memray") is not None


def wrap_with_memray(argv: list[str], capture: Path) -> list[str]:
    """Turn `python ARGS...` into `python -m memray run --native -o CAPTURE ARGS...` (argv[0]: Python)."""
    return [
        argv[0],
        "-m",
        "memray",
        "run",
        "--native",
        "--quiet",
        "--force",
        "--output",
        str(capture),
        *argv[1:],
    ]


def write_flamegraph(capture: Path, html: Path) -> Path:
    """Render the capture's high-water-mark flamegraph to HTML with memray's own reporter."""
    completed = subprocess.run(
        [sys.executable, "-m", "memray", "flamegraph", "--force", "--output", str(html), str(capture)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0 or not html.exists():
        message = (completed.stderr or completed.stdout).strip().splitlines()
        raise RuntimeError(f"memray flamegraph failed: {message[-1] if message else completed.returncode}")
    return html


def attributed_frame(frames: list[tuple[str, str, int]]) -> tuple[str, str, int]:
    """The frame to charge an allocation to: the innermost edgeprove frame, else the innermost frame outside
    the interpreter's own libraries, else the innermost frame."""
    prefixes = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
    for frame in frames:
        if "edgeprove" in frame[1]:
            return frame
    for frame in frames:
        if not frame[1].startswith(prefixes) and not frame[1].startswith("<frozen"):
            return frame
    return frames[0] if frames else ("<native>", "<unknown>", 0)


def top_sites(capture: Path, count: int = 10) -> list[dict]:
    """The allocation sites holding the most memory at the peak, grouped by the attributed Python line."""
    from memray import FileReader

    reader = FileReader(str(capture))
    try:
        sizes: dict[tuple[str, str, int], int] = defaultdict(int)
        allocations: dict[tuple[str, str, int], int] = defaultdict(int)
        for record in reader.get_high_watermark_allocation_records(merge_threads=True):
            site = attributed_frame(record.stack_trace())
            sizes[site] += record.size
            allocations[site] += record.n_allocations
    finally:
        reader.close()
    ranked = sorted(sizes, key=sizes.__getitem__, reverse=True)[:count]
    return [
        {
            "function": function,
            "file": file,
            "line": line,
            "bytes": sizes[(function, file, line)],
            "allocations": allocations[(function, file, line)],
        }
        for function, file, line in ranked
    ]
