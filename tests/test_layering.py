"""The package's layering: the library (harness pipeline, study, peers) never imports the command line."""

from __future__ import annotations

import subprocess
import sys

LIBRARY = ("edgeprove.harness.pipeline", "edgeprove.study", "edgeprove.peers.ezkl_runner")


def test_the_library_never_imports_the_cli() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {LIBRARY!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(name for name in sys.modules if name.startswith('edgeprove.cli')))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"
