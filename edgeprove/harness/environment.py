"""This machine and this software, recorded with every run and study so that a figure says where it was
measured."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from edgeprove.process.peak import physical_memory_bytes

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE")
"""Environment variables that change how the prover's numpy runs."""


def machine_description() -> dict[str, Any]:
    """This machine: CPU model, cores usable, total RAM, OS and Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = physical_memory_bytes()
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "ram_bytes": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def software_description() -> dict[str, Any]:
    """The versions that decide a run's figures: edgeprove, numpy, the machine, and the thread settings."""
    import numpy

    from edgeprove import __version__

    return {
        "edgeprove": __version__,
        "numpy": numpy.__version__,
        "machine": platform.machine(),
        **machine_description(),
        "environment": {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ},
    }
