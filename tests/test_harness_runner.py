"""run_capped: backend choice, the interpreter floor, CPU pinning, and cleanup on Ctrl-C and SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import own_cgroups, require

from edgeprove.harness.backends import BackendUnavailable, Cgroup1Backend, NoneBackend
from edgeprove.harness.runner import (
    AUTO_ORDER,
    MIN_CAP_BYTES,
    CapTooSmall,
    choose_backend,
    make_backend,
    pick_cpus,
    run_capped,
)


def cgroup1_parent() -> Path:
    backend = Cgroup1Backend()
    try:
        backend.probe()
    except BackendUnavailable as error:
        require(False, str(error))
    return backend.parent()


def test_auto_explains_its_choice() -> None:
    backend, reason = choose_backend("auto")
    assert backend.name in AUTO_ORDER
    assert reason.startswith(f"auto chose {backend.name}: ")
    for skipped in AUTO_ORDER[: AUTO_ORDER.index(backend.name)]:
        assert f"{skipped}: " in reason


def test_auto_prefers_cgroup1_over_later_backends_as_root() -> None:
    cgroup1_parent()
    backend, reason = choose_backend("auto")
    assert backend.name in ("cgroup2", "systemd", "cgroup1")
    assert "skipped cgroup2: " in reason or backend.name == "cgroup2"


def test_auto_without_a_working_backend_suggests_measuring_without_a_cap(monkeypatch) -> None:
    from edgeprove.harness import runner

    class Refusing:
        def __init__(self, name: str) -> None:
            self.name = name

        def probe(self) -> str:
            raise BackendUnavailable(self.name, f"{self.name} is not here", "nothing")

    monkeypatch.setattr(runner, "make_backend", lambda name, image=None, rlimit_kind="data": Refusing(name))
    with pytest.raises(BackendUnavailable) as raised:
        choose_backend("auto")
    message = str(raised.value)
    assert all(f"{name}: {name} is not here" in message for name in AUTO_ORDER)
    assert "--backend none" in message


def test_named_backends_and_unknown_names() -> None:
    backend, reason = choose_backend("none")
    assert backend.name == "none" and "no cap" in reason
    assert make_backend("rlimit", rlimit_kind="as").name == "rlimit"
    with pytest.raises(ValueError, match="unknown backend 'zram'"):
        make_backend("zram")


def test_cap_below_the_interpreter_floor() -> None:
    with pytest.raises(CapTooSmall, match="below the 64.00 MiB"):
        run_capped([sys.executable, "-c", "pass"], MIN_CAP_BYTES - 1, backend="none")


def test_pick_cpus() -> None:
    available = sorted(os.sched_getaffinity(0))
    assert pick_cpus(None) is None
    assert pick_cpus(1) == available[:1]
    assert pick_cpus(1000) == available
    with pytest.raises(ValueError):
        pick_cpus(0)


def test_cpus_pin_the_child() -> None:
    code = "import os; print(len(os.sched_getaffinity(0)))"
    result = run_capped([sys.executable, "-c", code], 256 << 20, backend=NoneBackend(), cpus=1)
    assert result.stdout.strip() == "1"


def test_output_files_and_environment(tmp_path: Path) -> None:
    code = "import os, sys; print(os.environ['EDGEPROVE_MARK']); print('warn', file=sys.stderr); sys.exit(3)"
    env = {**os.environ, "EDGEPROVE_MARK": "seen"}
    result = run_capped(
        [sys.executable, "-c", code], 256 << 20, backend="none", env=env, out_dir=tmp_path, cwd=tmp_path
    )
    assert result.returncode == 3 and not result.fits and not result.does_not_fit
    assert (tmp_path / "child.stdout").read_text() == "seen\n" == result.stdout
    assert result.stderr == "warn\n"


BLOATED_DRIVER = """
import sys
import numpy as np
from edgeprove.harness.runner import run_capped
held = np.ones(400 << 17)  # 400 MiB resident in the launcher while it starts the child
result = run_capped([sys.executable, '-c', 'pass'], 256 << 20, backend=sys.argv[1])
print(result.fits, result.does_not_fit, result.peak_rss_bytes >> 20, held.size)
"""


@pytest.mark.parametrize("backend", ["none", "rlimit"])
def test_a_large_launcher_does_not_count_as_its_childs_peak(backend: str) -> None:
    """Linux carries a launcher's resident memory over fork and exec into its child's ru_maxrss: a small
    child of a launcher holding 400 MiB still fits 256 MiB, its peak taken from the sampled process tree."""
    driver = subprocess.run(
        [sys.executable, "-c", BLOATED_DRIVER, backend], capture_output=True, text=True, timeout=120
    )
    assert driver.returncode == 0, driver.stderr
    fits, does_not_fit, peak_mib, _ = driver.stdout.split()
    assert fits == "True" and does_not_fit == "False" and int(peak_mib) < 100, driver.stdout


SLEEPER_DRIVER = """
import sys
from edgeprove.harness.runner import run_capped
code = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
try:
    run_capped([sys.executable, '-c', code, sys.argv[1]], 256 << 20, backend=sys.argv[2])
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.parametrize(
    ("backend", "signum"),
    [("cgroup1", signal.SIGINT), ("cgroup1", signal.SIGTERM), ("rlimit", signal.SIGTERM)],
)
def test_interrupt_kills_the_child_and_removes_the_cap(tmp_path: Path, backend: str, signum: int) -> None:
    parent = cgroup1_parent() if backend == "cgroup1" else None
    pid_file = tmp_path / "child.pid"
    driver = subprocess.Popen(
        [sys.executable, "-c", SLEEPER_DRIVER, str(pid_file), backend],
        cwd=Path(__file__).resolve().parents[1],
    )
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    child_pid = int(pid_file.read_text())
    assert psutil.pid_exists(child_pid)
    driver.send_signal(signum)
    assert driver.wait(timeout=30) == 130
    assert not psutil.pid_exists(child_pid) or psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE
    if parent is not None:
        assert own_cgroups(parent, driver.pid) == []
