"""Memory-cap backends: cgroup v2, systemd-run scopes, cgroup v1, Docker, rlimit, and `none` (measure only).

Each backend probes whether it can work on this machine (raising BackendUnavailable with the reason and the
fix) and opens a Session that starts one child under the cap, reports the kernel's own peak counter and
whether the kernel OOM-killed it, and removes every cgroup or container it made. A child dies with the
harness (PR_SET_PDEATHSIG), and cgroups are named `edgeprove-<owner token>-<random>` (process.lifetime)
so that `reap()` can remove those left by a harness that was SIGKILLed, and only those.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from edgeprove.process.lifetime import OWNER_PATTERN, Owner, current_owner, die_with_parent_hook, owner_gone
from edgeprove.process.peak import own_peak_rss_bytes

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_ROOT = Path("/proc")
# Text a process prints when an allocation fails under an rlimit (Python, numpy, OpenBLAS, C++, glibc).
MEMORY_ERROR_PATTERN = re.compile(
    r"MemoryError|Unable to allocate|[Mm]emory allocation|bad_alloc|Cannot allocate memory|out of memory"
    r"|can't start new thread"
)
CLEANUP_TIMEOUT_S = 10.0
CGROUP_NAME = re.compile(rf"^edgeprove-(?:probe-)?(?P<owner>{OWNER_PATTERN})-[0-9a-f]+$")
"""Name of a cgroup made by a run (or a backend probe), with its owner's token."""


class BackendUnavailable(RuntimeError):
    """The chosen backend cannot work on this machine; carries the reason and how to fix it."""

    def __init__(self, backend: str, reason: str, fix: str) -> None:
        super().__init__(f"{backend} backend cannot work here: {reason}. Fix: {fix}")
        self.backend, self.reason, self.fix = backend, reason, fix


class CleanupError(RuntimeError):
    """A cgroup or container could not be removed after the run."""


@dataclass
class LaunchSpec:
    """What to run and how: the command, the cap, its working folder, environment and output files."""

    argv: list[str]
    cap_bytes: int
    cwd: str
    env: dict[str, str]
    stdout_path: Path
    stderr_path: Path
    writable_dirs: list[str] = field(default_factory=list)
    cpus: list[int] | None = None


@dataclass
class Outcome:
    """How the capped child ended: exit code (negative: killed by that signal), OOM kill and peak counters."""

    returncode: int
    oom_killed: bool
    kernel_peak_bytes: int | None
    ru_maxrss_bytes: int | None


def own_cgroup_path(controller: str | None, proc_cgroup_text: str) -> str:
    """This process's cgroup path for a v1 controller (e.g. `memory`), or the v2 path for None."""
    for line in proc_cgroup_text.splitlines():
        hierarchy_id, controllers, path = line.split(":", 2)
        if controller is None and hierarchy_id == "0" and controllers == "":
            return path
        if controller is not None and controller in controllers.split(","):
            return path
    wanted = controller or "the unified (v2) hierarchy"
    raise LookupError(f"this process is in no cgroup of {wanted}")


def find_cgroup2_mount(mountinfo_text: str) -> Path | None:
    """The first cgroup2 mount point listed in /proc/self/mountinfo, or None."""
    for line in mountinfo_text.splitlines():
        fields = line.split(" - ", 1)
        if len(fields) == 2 and fields[1].split()[0] == "cgroup2":
            return Path(fields[0].split()[4])
    return None


def read_int(path: Path) -> int | None:
    """An integer cgroup file, or None when the file is absent or says `max`."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def read_keyed(path: Path) -> dict[str, int]:
    """A cgroup `key value` file (memory.events, memory.oom_control) as a dict; empty when absent."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.split() for line in lines)
    return {pair[0]: int(pair[1]) for pair in pairs if len(pair) == 2 and pair[1].lstrip("-").isdigit()}


def cgroup_name(prefix: str = "edgeprove") -> str:
    """A fresh cgroup name carrying this process's owner token: `PREFIX-PID-START-PIDNS-RANDOM`."""
    return f"{prefix}-{current_owner().token}-{secrets.token_hex(4)}"


def cgroup_owner(name: str) -> Owner | None:
    """The owner recorded in a run's cgroup name, or None for any other cgroup."""
    match = CGROUP_NAME.match(name)
    return Owner.parse(match["owner"]) if match else None


def probe_mkdir(parent: Path) -> None:
    """Create and remove a probe child cgroup, proving that `parent` accepts new cgroups."""
    probe = parent / cgroup_name("edgeprove-probe")
    probe.mkdir()
    remove_cgroup_dir(probe)


def cgroup_members(directory: Path) -> list[int]:
    """The pids listed in a cgroup's cgroup.procs (empty when it is gone)."""
    try:
        return [int(pid) for pid in (directory / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def reap_cgroups(parent: Path) -> list[str]:
    """Remove the run cgroups under `parent` whose owner is gone (SIGKILLed harnesses), killing any member
    still in them; cgroups of live owners, and any other cgroup, are left alone. Returns the names removed."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in sorted(parent.iterdir()):
            owner = cgroup_owner(entry.name)
            if owner is None or not entry.is_dir() or not owner_gone(owner):
                continue
            for pid in cgroup_members(entry):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(CleanupError):
                remove_cgroup_dir(entry)
                removed.append(entry.name)
    return removed


def remove_cgroup_dir(path: Path) -> None:
    """Remove a cgroup folder, retrying while the kernel still reaps its members.

    cgroupfs refuses rmdir with EBUSY while members remain, never with ENOTEMPTY; ENOTEMPTY means an ordinary
    folder standing in for cgroupfs (a test tree), whose files are removed with it.
    """
    deadline = time.monotonic() + CLEANUP_TIMEOUT_S
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno == errno.ENOTEMPTY:
                for entry in path.iterdir():
                    entry.unlink()
                continue
            if time.monotonic() > deadline:
                raise CleanupError(f"could not remove cgroup {path}: {error}") from error
            time.sleep(0.05)


def write_optional(path: Path, value: str) -> None:
    """Write a cgroup file that older kernels or configurations may lack; fail only if it exists."""
    try:
        path.write_text(value)
    except OSError:
        if path.exists():
            raise


class Session(ABC):
    """One child process (tree) under one cap, from start to cleanup."""

    @abstractmethod
    def start(self, spec: LaunchSpec) -> None:
        """Start the child under the cap."""

    @abstractmethod
    def root_pids(self) -> list[int]:
        """Host pids whose process trees the monitor samples."""

    @abstractmethod
    def poll(self) -> bool:
        """True once the child has exited (and was reaped)."""

    def kernel_sample(self) -> int | None:
        """The kernel's peak-usage counter for the cap if the backend has one (polled by the monitor)."""
        return None

    @abstractmethod
    def outcome(self) -> Outcome:
        """How the child ended; only after poll() returned True."""

    @abstractmethod
    def terminate(self) -> None:
        """Kill the child and everything it started."""

    @abstractmethod
    def cleanup(self) -> None:
        """Remove what the session created (cgroup, container); safe to call more than once."""


LAUNCHER_SLACK_BYTES = 4 << 20
"""What the launcher may allocate between reading its own peak and starting the child."""


class ProcessSession(Session):
    """A child forked on this host in its own process group, reaped with wait4 for ru_maxrss."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self._die_with_parent = die_with_parent_hook()
        self.spec: LaunchSpec | None = None
        self._status: int | None = None
        self._maxrss: int | None = None
        self._launcher_peak = 0

    def command(self, spec: LaunchSpec) -> list[str]:
        """The argv actually executed (a wrapper such as systemd-run may prefix it)."""
        return spec.argv

    def enter_cap(self) -> None:
        """Runs in the child between fork and exec: put the child under the cap."""

    def _child_setup(self) -> None:
        self._die_with_parent()
        os.setpgid(0, 0)
        if self.spec is not None and self.spec.cpus:
            os.sched_setaffinity(0, self.spec.cpus)
        self.enter_cap()

    def start(self, spec: LaunchSpec) -> None:
        """Fork (the child dies with this process), move it under the cap, and exec with output to files."""
        self.spec = spec
        self._launcher_peak = own_peak_rss_bytes()
        with open(spec.stdout_path, "wb") as stdout, open(spec.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                self.command(spec),
                cwd=spec.cwd,
                env=spec.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                preexec_fn=self._child_setup,
            )

    def root_pids(self) -> list[int]:
        """The child's pid."""
        return [] if self.process is None else [self.process.pid]

    def poll(self) -> bool:
        """Reap the child with wait4 (no hang), keeping its exit status and ru_maxrss."""
        if self._status is not None:
            return True
        if self.process is None:
            return False
        pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
        if pid == 0:
            return False
        self._status = os.waitstatus_to_exitcode(status)
        self.process.returncode = self._status
        maxrss = usage.ru_maxrss * 1024
        # Linux carries the launcher's resident memory at the fork over exec into the child's ru_maxrss: a
        # figure no larger than the launcher's own peak says nothing of the child, whose peak then comes
        # from its sampled process tree.
        self._maxrss = maxrss if maxrss > self._launcher_peak + LAUNCHER_SLACK_BYTES else None
        return True

    def returncode(self) -> int:
        """The reaped exit code (negative for a signal)."""
        if self._status is None:
            raise RuntimeError("the child has not exited yet")
        return self._status

    def outcome(self) -> Outcome:
        """Exit code and ru_maxrss; subclasses add the kernel's OOM and peak counters."""
        return Outcome(self.returncode(), False, None, self._maxrss)

    def terminate(self) -> None:
        """SIGKILL the child's process group, then reap it."""
        if self.process is None or self._status is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + CLEANUP_TIMEOUT_S
        while not self.poll() and time.monotonic() < deadline:
            time.sleep(0.01)

    def cleanup(self) -> None:
        """Nothing to remove for a plain process beyond killing it."""
        self.terminate()


class CgroupSession(ProcessSession):
    """A child in a fresh cgroup created inside this process's own cgroup; shared by cgroup v1 and v2."""

    def __init__(self, parent: Path) -> None:
        super().__init__()
        self.directory = parent / cgroup_name()
        self._peak_seen: int | None = None

    @abstractmethod
    def write_limits(self, cap_bytes: int) -> None:
        """Write the memory limit files of the new cgroup."""

    def start(self, spec: LaunchSpec) -> None:
        """Create the cgroup, set its limits, then start the child inside it."""
        self.directory.mkdir()
        self.write_limits(spec.cap_bytes)
        super().start(spec)

    def enter_cap(self) -> None:
        """Join the cgroup before exec, so every byte the command touches is charged to it."""
        (self.directory / "cgroup.procs").write_text(str(os.getpid()))

    def remember_peak(self, value: int | None) -> int | None:
        """Keep the largest counter value seen (the cgroup vanishes with its counters at cleanup)."""
        if value is not None:
            self._peak_seen = value if self._peak_seen is None else max(self._peak_seen, value)
        return self._peak_seen

    def member_pids(self) -> list[int]:
        """Pids in the cgroup other than the already reaped child (a stand-in tree keeps its pid listed)."""
        listed = cgroup_members(self.directory)
        reaped = self.process.pid if self.process is not None and self._status is not None else None
        return [pid for pid in listed if pid != reaped]

    def terminate(self) -> None:
        """Kill the child's group and any process that is still a member of the cgroup."""
        super().terminate()
        for pid in self.member_pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def cleanup(self) -> None:
        """Kill every member, wait until the cgroup is empty, and remove it."""
        self.terminate()
        deadline = time.monotonic() + CLEANUP_TIMEOUT_S
        while self.member_pids() and time.monotonic() < deadline:
            time.sleep(0.01)
        remove_cgroup_dir(self.directory)


class Cgroup1Session(CgroupSession):
    """cgroup v1 memory controller: limit_in_bytes (+ memsw), max_usage_in_bytes, oom_control."""

    def write_limits(self, cap_bytes: int) -> None:
        """Cap memory, and memory+swap where swap accounting exists, so the cap cannot spill into swap."""
        (self.directory / "memory.limit_in_bytes").write_text(str(cap_bytes))
        write_optional(self.directory / "memory.memsw.limit_in_bytes", str(cap_bytes))

    def kernel_sample(self) -> int | None:
        """memory.max_usage_in_bytes (includes page cache the child touched)."""
        return self.remember_peak(read_int(self.directory / "memory.max_usage_in_bytes"))

    def outcome(self) -> Outcome:
        """OOM from oom_control's oom_kill count, or a SIGKILL after the limit was hit (older kernels)."""
        code = self.returncode()
        peak = self.kernel_sample()
        control = read_keyed(self.directory / "memory.oom_control")
        if "oom_kill" in control:
            oom = control["oom_kill"] > 0
        else:
            oom = code == -signal.SIGKILL and (read_int(self.directory / "memory.failcnt") or 0) > 0
        return Outcome(code, oom, peak, self._maxrss)


class Cgroup2Session(CgroupSession):
    """cgroup v2: memory.max, memory.swap.max = 0, memory.oom.group, memory.peak, memory.events oom_kill."""

    def write_limits(self, cap_bytes: int) -> None:
        """Cap memory, forbid swap, and make an OOM kill take the whole group."""
        (self.directory / "memory.max").write_text(str(cap_bytes))
        write_optional(self.directory / "memory.swap.max", "0")
        write_optional(self.directory / "memory.oom.group", "1")

    def kernel_sample(self) -> int | None:
        """memory.peak (kernel 5.19+), else the largest memory.current seen."""
        peak = read_int(self.directory / "memory.peak")
        return self.remember_peak(peak if peak is not None else read_int(self.directory / "memory.current"))

    def outcome(self) -> Outcome:
        """OOM when memory.events counts an oom_kill."""
        events = read_keyed(self.directory / "memory.events")
        return Outcome(self.returncode(), events.get("oom_kill", 0) > 0, self.kernel_sample(), self._maxrss)

    def cleanup(self) -> None:
        """cgroup.kill (5.14+) takes every member at once; then the common wait-and-remove."""
        kill_file = self.directory / "cgroup.kill"
        if kill_file.exists() and self.member_pids():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        super().cleanup()


def systemd_run_argv(argv: list[str], cap_bytes: int, unit: str, user: bool) -> list[str]:
    """The systemd-run command that runs argv in a transient scope capped at cap_bytes with no swap."""
    scope = ["systemd-run", "--user"] if user else ["systemd-run"]
    return [
        *scope,
        "--scope",
        "--quiet",
        "--collect",
        f"--unit={unit}",
        "-p",
        f"MemoryMax={cap_bytes}",
        "-p",
        "MemorySwapMax=0",
        "--",
        *argv,
    ]


def scope_cgroup_dir(proc_cgroup_text: str, mount: Path) -> Path | None:
    """The cgroup v2 folder of a systemd scope, from /proc/PID/cgroup once the process is in it."""
    try:
        path = own_cgroup_path(None, proc_cgroup_text)
    except LookupError:
        return None
    return mount / path.lstrip("/") if path.endswith(".scope") else None


class SystemdSession(ProcessSession):
    """A child in a transient systemd scope (MemoryMax, MemorySwapMax=0), counters from its cgroup."""

    def __init__(self, user: bool, mount: Path, proc_root: Path = PROC_ROOT) -> None:
        super().__init__()
        self.user, self.mount, self.proc_root = user, mount, proc_root
        self.unit = f"edgeprove-{os.getpid()}-{secrets.token_hex(4)}.scope"
        self._scope_dir: Path | None = None
        self._peak_seen: int | None = None
        self._oom_kills = 0

    def command(self, spec: LaunchSpec) -> list[str]:
        """systemd-run moves itself into the scope, then execs argv in the same pid."""
        return systemd_run_argv(spec.argv, spec.cap_bytes, self.unit, self.user)

    def kernel_sample(self) -> int | None:
        """memory.peak of the scope and its oom_kill count, kept across the scope's removal."""
        if self._scope_dir is None and self.process is not None:
            with contextlib.suppress(OSError):
                text = (self.proc_root / str(self.process.pid) / "cgroup").read_text()
                self._scope_dir = scope_cgroup_dir(text, self.mount)
        if self._scope_dir is None:
            return self._peak_seen
        peak = read_int(self._scope_dir / "memory.peak")
        if peak is not None:
            self._peak_seen = peak if self._peak_seen is None else max(self._peak_seen, peak)
        self._oom_kills = max(
            self._oom_kills, read_keyed(self._scope_dir / "memory.events").get("oom_kill", 0)
        )
        return self._peak_seen

    def outcome(self) -> Outcome:
        """OOM when the scope counted an oom_kill (or systemd reported the child SIGKILLed at the cap)."""
        peak = self.kernel_sample()
        return Outcome(self.returncode(), self._oom_kills > 0, peak, self._maxrss)

    def cleanup(self) -> None:
        """Kill the child, then stop the scope unit if systemd still has it."""
        super().cleanup()
        systemctl = shutil.which("systemctl")
        if systemctl is not None:
            scope = [systemctl, "--user"] if self.user else [systemctl]
            subprocess.run([*scope, "stop", self.unit], capture_output=True, check=False, timeout=30)


class RlimitSession(ProcessSession):
    """A child with RLIMIT_DATA or RLIMIT_AS set before exec: allocations past the cap fail in the child."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def enter_cap(self) -> None:
        """Set the soft and hard limit in the child."""
        assert self.spec is not None
        resource.setrlimit(self.limit, (self.spec.cap_bytes, self.spec.cap_bytes))

    def outcome(self) -> Outcome:
        """A failed exit whose stderr shows an allocation failure counts as exceeding the cap."""
        code = self.returncode()
        assert self.spec is not None
        stderr_tail = _tail(self.spec.stderr_path)
        exceeded = code != 0 and (
            MEMORY_ERROR_PATTERN.search(stderr_tail) is not None or code == -signal.SIGSEGV
        )
        return Outcome(code, exceeded, None, self._maxrss)


def _tail(path: Path, limit: int = 65536) -> str:
    """The last `limit` bytes of a text file ('' when absent)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - limit))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


class Backend(ABC):
    """A way to cap memory: probe() says whether and why it works here; session() runs one child."""

    name: str
    notes: tuple[str, ...] = ()

    @abstractmethod
    def probe(self) -> str:
        """Why this backend works here; raises BackendUnavailable with the reason and fix otherwise."""

    @abstractmethod
    def session(self) -> Session:
        """A new session for one capped child."""

    def reap(self) -> list[str]:
        """Remove what runs whose harness was SIGKILLed left behind (cgroups, containers); their names."""
        return []


class Cgroup2Backend(Backend):
    """cgroup v2 where this process's own cgroup has the memory controller and accepts children."""

    name = "cgroup2"
    notes = (
        "cgroup2: peak is memory.peak (kernel 5.19+, else the largest memory.current sampled); it counts "
        "page cache the child touched as well as RSS.",
    )

    def __init__(self, mount: Path | None = None, proc_self: Path = PROC_ROOT / "self") -> None:
        self.mount, self.proc_self = mount, proc_self

    def _mount(self) -> Path:
        if self.mount is not None:
            return self.mount
        with contextlib.suppress(OSError):
            found = find_cgroup2_mount((self.proc_self / "mountinfo").read_text())
            if found is not None:
                return found
        raise BackendUnavailable(
            self.name,
            "no cgroup2 filesystem is mounted",
            "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) or use --backend cgroup1/docker/rlimit",
        )

    def parent(self) -> Path:
        """This process's own cgroup v2 folder, where run cgroups are created."""
        mount = self._mount()
        try:
            own = own_cgroup_path(None, (self.proc_self / "cgroup").read_text())
        except (OSError, LookupError) as error:
            raise BackendUnavailable(self.name, str(error), "use --backend cgroup1/docker/rlimit") from error
        return mount / own.lstrip("/")

    def probe(self) -> str:
        """Needs `memory` in the own cgroup's controllers and subtree_control, and a writable folder."""
        parent = self.parent()
        controllers = parent / "cgroup.controllers"
        if not controllers.exists() or "memory" not in controllers.read_text().split():
            raise BackendUnavailable(
                self.name,
                f"cgroup v2 at {parent} has no memory controller (it may be bound to cgroup v1)",
                "use --backend cgroup1 as root, docker, or rlimit",
            )
        subtree = parent / "cgroup.subtree_control"
        try:
            if "memory" not in subtree.read_text().split():
                subtree.write_text("+memory")
            probe_mkdir(parent)
        except OSError as error:
            raise BackendUnavailable(
                self.name,
                f"cannot create a memory-controlled cgroup under {parent}: {error.strerror or error}",
                "run from a delegated cgroup (systemd-run --user --scope) or as root, or --backend systemd",
            ) from error
        return f"cgroup v2 memory controller writable at {parent}"

    def session(self) -> Session:
        """A Cgroup2Session inside the own cgroup."""
        return Cgroup2Session(self.parent())

    def reap(self) -> list[str]:
        """Run cgroups of dead owners in the own cgroup."""
        return reap_cgroups(self.parent())


class SystemdBackend(Backend):
    """`systemd-run --user --scope` (root: the system manager) with MemoryMax and MemorySwapMax=0."""

    name = "systemd"
    notes = (
        "systemd: the scope's cgroup v2 counters are read while it lives; MemorySwapMax needs swap "
        "accounting on the host.",
    )

    def __init__(
        self,
        mount: Path = CGROUP_ROOT,
        runtime_dir: Path | None = None,
        system_marker: Path = Path("/run/systemd/system"),
        proc_root: Path = PROC_ROOT,
    ) -> None:
        self.mount, self.system_marker, self.proc_root = mount, system_marker, proc_root
        self.runtime_dir = runtime_dir or Path(os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}"))
        self.user = os.geteuid() != 0

    def probe(self) -> str:
        """Needs systemd-run, a running manager (user manager for non-root) and cgroup v2 at the mount."""
        if shutil.which("systemd-run") is None:
            raise BackendUnavailable(self.name, "systemd-run is not installed", "use another --backend")
        if self.user and not (self.runtime_dir / "systemd" / "private").exists():
            raise BackendUnavailable(
                self.name,
                f"no systemd user manager (no {self.runtime_dir}/systemd/private)",
                "log in through a systemd session or run `loginctl enable-linger $USER`",
            )
        if not self.user and not self.system_marker.is_dir():
            raise BackendUnavailable(
                self.name,
                "systemd is not the init system here (no /run/systemd/system)",
                "use --backend cgroup1, cgroup2, docker or rlimit",
            )
        if not (self.mount / "cgroup.controllers").exists():
            raise BackendUnavailable(
                self.name, f"{self.mount} is not a cgroup v2 mount", "use --backend cgroup1 as root"
            )
        manager = "user" if self.user else "system"
        return f"systemd-run --scope under the {manager} manager with MemoryMax"

    def session(self) -> Session:
        """A SystemdSession in a new transient scope."""
        return SystemdSession(self.user, self.mount, self.proc_root)


class Cgroup1Backend(Backend):
    """cgroup v1 memory controller as root, inside this process's own memory cgroup."""

    name = "cgroup1"
    notes = (
        "cgroup1: peak is memory.max_usage_in_bytes, which includes page cache the child touched; "
        "peak RSS is reported beside it.",
    )

    def __init__(self, mount: Path = CGROUP_ROOT / "memory", proc_self: Path = PROC_ROOT / "self") -> None:
        self.mount, self.proc_self = mount, proc_self

    def parent(self) -> Path:
        """This process's own memory cgroup folder, where run cgroups are created."""
        try:
            own = own_cgroup_path("memory", (self.proc_self / "cgroup").read_text())
        except (OSError, LookupError) as error:
            raise BackendUnavailable(self.name, str(error), "use --backend cgroup2/docker/rlimit") from error
        return self.mount / own.lstrip("/")

    def probe(self) -> str:
        """Needs the v1 memory hierarchy mounted and a child cgroup creatable in the own cgroup (root)."""
        if not (self.mount / "memory.limit_in_bytes").exists():
            raise BackendUnavailable(
                self.name,
                f"no cgroup v1 memory hierarchy at {self.mount}",
                "use --backend cgroup2, systemd, docker or rlimit",
            )
        parent = self.parent()
        try:
            probe_mkdir(parent)
        except OSError as error:
            raise BackendUnavailable(
                self.name,
                f"cannot create a cgroup under {parent}: {error.strerror or error}",
                "run as root, or use --backend docker or rlimit",
            ) from error
        return f"cgroup v1 memory controller writable at {parent}"

    def session(self) -> Session:
        """A Cgroup1Session inside the own memory cgroup."""
        return Cgroup1Session(self.parent())

    def reap(self) -> list[str]:
        """Run cgroups of dead owners in the own memory cgroup."""
        return reap_cgroups(self.parent())


_BREACH = "A breach is an allocation failure in the child (MemoryError), no kernel kill; peak is ru_maxrss."
RLIMIT_NOTES = {
    "data": "rlimit: RLIMIT_DATA caps the heap and private writable mappings as reserved, touched or "
    "not; it does not count page cache, file-backed mappings or shared memory. " + _BREACH,
    "as": "rlimit: RLIMIT_AS caps the whole address space, so reservations never touched count (numpy alone "
    "reserves ~137 MiB of address space) while page cache does not. " + _BREACH,
}


def rlimit_takes_effect(limit: int) -> bool:
    """Whether lowering `limit`'s soft value in this process shows in getrlimit; the old value is restored
    (a soft limit may always be raised back up to the hard limit)."""
    soft, hard = resource.getrlimit(limit)
    probe = (1 << 62) if hard == resource.RLIM_INFINITY else hard - 1
    if soft != resource.RLIM_INFINITY and soft <= probe:
        probe = soft - 1
    if probe <= 0:
        return True
    try:
        resource.setrlimit(limit, (probe, hard))
        return resource.getrlimit(limit)[0] == probe
    except (OSError, ValueError):
        return False
    finally:
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(limit, (soft, hard))


class RlimitBackend(Backend):
    """setrlimit(RLIMIT_DATA) (or RLIMIT_AS) in the child: the only cap an unrooted Termux user has."""

    name = "rlimit"

    def __init__(self, kind: str = "data") -> None:
        if kind not in ("data", "as"):
            raise ValueError(f"rlimit kind must be 'data' or 'as', not {kind!r}")
        self.kind = kind
        self.notes = (RLIMIT_NOTES[kind],)

    def probe(self) -> str:
        """Available where the limit takes effect: Linux and Android do, qemu user-mode emulation does not
        (it accepts setrlimit for the address-space limits and ignores it, so nothing would be capped)."""
        limit = resource.RLIMIT_DATA if self.kind == "data" else resource.RLIMIT_AS
        if not rlimit_takes_effect(limit):
            raise BackendUnavailable(
                "rlimit",
                f"setrlimit(RLIMIT_{self.kind.upper()}) is accepted but does not take effect here (as under "
                "qemu user-mode emulation), so nothing would be capped",
                "run on the device itself, or use a cgroup backend (as root) or --backend none to measure "
                "without a cap",
            )
        return f"setrlimit RLIMIT_{self.kind.upper()} in the child (no cgroup needed)"

    def session(self) -> Session:
        """An RlimitSession for the chosen limit."""
        return RlimitSession(resource.RLIMIT_DATA if self.kind == "data" else resource.RLIMIT_AS)


class NoneBackend(Backend):
    """No cap: only measures (ru_maxrss and sampled RSS); a peak above the cap counts as not fitting."""

    name = "none"
    notes = ("none: nothing was capped; the verdict compares the measured peak RSS with the cap.",)

    def probe(self) -> str:
        """Always available."""
        return "measure only, no cap enforced"

    def session(self) -> Session:
        """A plain ProcessSession."""
        return ProcessSession()
