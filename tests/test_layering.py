"""The package's layering: the library (harness pipeline, study, peers) never imports the command line, and
the study's modules import only those below them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edgeprove"
LIBRARY = ("edgeprove.harness.pipeline", "edgeprove.study.runner", "edgeprove.peers.ezkl_runner")
STUDY_ORDER = ("suites", "results", "charts", "tables", "pages", "runner")
"""edgeprove.study's modules from the bottom up, as its docstring lists them."""


def test_the_library_never_imports_the_cli() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {LIBRARY!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(name for name in sys.modules if name.startswith('edgeprove.cli')))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_study_modules_import_only_those_below_them() -> None:
    assert {path.stem for path in (PACKAGE / "study").glob("*.py")} == {"__init__", *STUDY_ORDER}
    for position, name in enumerate(STUDY_ORDER):
        tree = ast.parse((PACKAGE / "study" / f"{name}.py").read_text())
        imported = {
            node.module.rsplit(".", 1)[-1]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("edgeprove.study.")
        }
        assert imported <= set(STUDY_ORDER[:position]), f"study.{name} imports {imported}"
