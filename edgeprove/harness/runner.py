"""Run any command under a real memory cap and say whether it fit: the harness's library entry point."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgeprove.harness.backends import (
    Backend,
    BackendUnavailable,
    Cgroup1Backend,
    Cgroup2Backend,
    LaunchSpec,
    NoneBackend,
    RlimitBackend,
    SystemdBackend,
)
from edgeprove.harness.monitor import Monitor, Timeline, last_open_layer, layer_at
from edgeprove.harness.units import format_size
from edgeprove.process.atomic import reap_stale_temps, temp_path
from edgeprove.process.interrupts import deferred_signals, signals_as_interrupt

# Python plus numpy needs about this much just to start; a smaller cap can only measure the interpreter.
MIN_CAP_BYTES = 64 << 20
BACKEND_NAMES = ("auto", "cgroup2", "systemd", "cgroup1", "docker", "rlimit", "none")
AUTO_ORDER = ("cgroup2", "systemd", "cgroup1", "docker", "rlimit")
POLL_INTERVAL_S = 0.005
OUTPUT_KEEP_BYTES = 1 << 20


class CapTooSmall(ValueError):
    """The requested cap is below what the Python interpreter needs to start."""


def check_cap(cap_bytes: int) -> None:
    """Refuse a cap below what the interpreter needs to start (CapTooSmall), before anything is launched."""
    if cap_bytes < MIN_CAP_BYTES:
        raise CapTooSmall(
            f"cap {format_size(cap_bytes)} is below the {format_size(MIN_CAP_BYTES)} the Python "
            "interpreter and numpy need just to start"
        )


def make_backend(name: str, image: str | None = None, rlimit_kind: str = "data") -> Backend:
    """The backend called `name` (one of BACKEND_NAMES except auto)."""
    if name == "docker":
        from edgeprove.harness.docker_backend import DockerBackend

        return DockerBackend(image)
    makers = {
        "cgroup2": Cgroup2Backend,
        "systemd": SystemdBackend,
        "cgroup1": Cgroup1Backend,
        "rlimit": lambda: RlimitBackend(rlimit_kind),
        "none": NoneBackend,
    }
    if name not in makers:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    return makers[name]()


def choose_backend(
    name: str = "auto", image: str | None = None, rlimit_kind: str = "data"
) -> tuple[Backend, str]:
    """The backend to use and why: `auto` takes the first that works in AUTO_ORDER, naming the skipped.

    A named backend that cannot work raises BackendUnavailable.
    """
    if name != "auto":
        backend = make_backend(name, image, rlimit_kind)
        return backend, backend.probe()
    skipped = []
    for candidate in AUTO_ORDER:
        backend = make_backend(candidate, image, rlimit_kind)
        try:
            why = backend.probe()
        except BackendUnavailable as error:
            skipped.append(f"{candidate}: {error.reason}")
            continue
        return backend, f"auto chose {candidate}: {why}" + (
            f" (skipped {'; '.join(skipped)})" if skipped else ""
        )
    raise BackendUnavailable(
        "auto",
        "; ".join(skipped),
        "install Docker or run as root; or measure without a cap, --backend none (the verdict then compares "
        "the measured peak RSS with the cap)",
    )


@dataclass
class RunResult:
    """What one capped run measured: exit, OOM, the kernel's peak, RSS, time and the labelled timeline."""

    argv: list[str]
    backend: str
    backend_reason: str
    cap_bytes: int
    returncode: int
    oom_killed: bool
    cap_exceeded: bool
    kernel_peak_bytes: int | None
    ru_maxrss_bytes: int | None
    started_at: float
    wall_s: float
    timeline: Timeline
    stdout: str
    stderr: str
    notes: list[str] = field(default_factory=list)

    @property
    def peak_rss_bytes(self) -> int:
        """Largest RSS seen: the sampled process tree or the kernel's ru_maxrss, whichever is larger."""
        return max(self.timeline.peak_rss(), self.ru_maxrss_bytes or 0)

    @property
    def peak_bytes(self) -> int:
        """The kernel's own peak counter where the backend has one, else the peak RSS."""
        return self.kernel_peak_bytes if self.kernel_peak_bytes is not None else self.peak_rss_bytes

    @property
    def does_not_fit(self) -> bool:
        """OOM-killed, or past the cap (rlimit allocation failure, or `none` measuring above it)."""
        return self.oom_killed or self.cap_exceeded

    @property
    def overrun(self) -> str:
        """How a run that does not fit went past the cap, in words: killed by the kernel, an allocation the
        rlimit refused, or (``none``, which caps nothing) a measured peak above the cap."""
        if self.oom_killed:
            return "OOM-killed by the kernel"
        if self.backend == "none":
            return "peak RSS above the cap (measured; nothing was capped)"
        return "allocation failed at the cap"

    @property
    def fits(self) -> bool:
        """The command ran to a clean exit within the cap."""
        return self.returncode == 0 and not self.does_not_fit

    @property
    def peak_layer(self) -> str | None:
        """The layer at the RSS peak, or for a killed run the layer that never finished."""
        if self.does_not_fit:
            return last_open_layer(self.timeline.events) or layer_at(
                self.timeline.events, self.timeline.peak_time()
            )
        return layer_at(self.timeline.events, self.timeline.peak_time())


def pick_cpus(count: int | None) -> list[int] | None:
    """The first `count` CPUs this process may use (all of them when count is larger or None)."""
    if count is None:
        return None
    if count < 1:
        raise ValueError("cpus must be at least 1")
    available = sorted(os.sched_getaffinity(0))
    return available[: min(count, len(available))]


def scratch_dir() -> Path:
    """A new folder for a run's output files in the temporary folder, after removing those of dead runs."""
    parent = Path(tempfile.gettempdir())
    reap_stale_temps(parent)
    scratch = temp_path(parent / "edgeprove-run")
    scratch.mkdir()
    return scratch


def _read_text(path: Path) -> str:
    """Up to OUTPUT_KEEP_BYTES from the end of a child's output file."""
    with open(path, "rb") as handle:
        size = path.stat().st_size
        handle.seek(max(0, size - OUTPUT_KEEP_BYTES))
        return handle.read().decode(errors="replace")


def run_capped(
    argv: list[str],
    cap_bytes: int,
    backend: str | Backend = "auto",
    events_path: Path | None = None,
    sample_ms: float = 5.0,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    out_dir: Path | None = None,
    cpus: int | None = None,
    image: str | None = None,
    rlimit_kind: str = "data",
    writable_dirs: list[Path] | None = None,
    progress: Callable[[Timeline, float], None] | None = None,
) -> RunResult:
    """Run argv under a `cap_bytes` memory cap with the given backend, sample it, and clean up on every path.

    The child's stdout/stderr go to `out_dir` (child.stdout / child.stderr) or a temporary folder. Ctrl-C,
    SIGTERM and SIGHUP kill the child, remove its cgroup or container, and raise edgeprove.process.interrupts'
    Interrupted (a KeyboardInterrupt). The child dies with this process even if it is SIGKILLed, and what such
    a run left (its cgroup or container) is removed by the next run on the same backend. `progress`, if
    given, is called on every poll with the timeline so far and the seconds since the start.
    """
    check_cap(cap_bytes)
    if isinstance(backend, str):
        chosen, reason = choose_backend(backend, image, rlimit_kind)
    else:
        chosen, reason = backend, backend.probe()
    reaped = chosen.reap()
    workdir = Path(cwd or os.getcwd()).resolve()
    scratch = None if out_dir is not None else scratch_dir()
    output_dir = Path(out_dir or scratch).resolve()  # type: ignore[arg-type]
    output_dir.mkdir(parents=True, exist_ok=True)
    dirs = {str(output_dir), *(str(Path(p).resolve()) for p in writable_dirs or [])}
    if events_path is not None:
        dirs.add(str(Path(events_path).resolve().parent))
    spec = LaunchSpec(
        argv=list(argv),
        cap_bytes=cap_bytes,
        cwd=str(workdir),
        env=dict(os.environ if env is None else env),
        stdout_path=output_dir / "child.stdout",
        stderr_path=output_dir / "child.stderr",
        writable_dirs=sorted(dirs),
        cpus=pick_cpus(cpus),
    )
    session = chosen.session()
    monitor = Monitor(
        session.root_pids, session.kernel_sample, Path(events_path) if events_path else None, sample_ms
    )
    try:
        with signals_as_interrupt():
            started = time.time()
            try:
                session.start(spec)
                monitor.start()
                while not session.poll():
                    if progress is not None:
                        progress(monitor.timeline, time.time() - started)
                    time.sleep(POLL_INTERVAL_S)
                wall = time.time() - started
                timeline = monitor.stop()
                outcome = session.outcome()
            finally:
                with deferred_signals():
                    monitor.stop()
                    session.cleanup()
        stdout, stderr = _read_text(spec.stdout_path), _read_text(spec.stderr_path)
    finally:
        if scratch is not None:
            with deferred_signals():
                shutil.rmtree(scratch, ignore_errors=True)
    result = RunResult(
        argv=list(argv),
        backend=chosen.name,
        backend_reason=reason,
        cap_bytes=cap_bytes,
        returncode=outcome.returncode,
        oom_killed=outcome.oom_killed,
        cap_exceeded=False,
        kernel_peak_bytes=outcome.kernel_peak_bytes,
        ru_maxrss_bytes=outcome.ru_maxrss_bytes,
        started_at=started,
        wall_s=wall,
        timeline=timeline,
        stdout=stdout,
        stderr=stderr,
        notes=list(chosen.notes),
    )
    if reaped:
        result.notes.append(f"removed what runs killed earlier left behind: {', '.join(reaped)}")
    if chosen.name in ("rlimit", "none"):
        result.cap_exceeded = result.oom_killed or result.peak_rss_bytes > cap_bytes
        result.oom_killed = False
    return result
