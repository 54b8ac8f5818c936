"""Who owns what a process may leave behind when it is SIGKILLed, and children that die with their parent.

Temporary files, cgroups and containers are named or labelled with an owner token `PID-START-PIDNS`: the
creating process's pid, its start time (clock ticks since boot, field 22 of /proc/PID/stat) and the inode of
its pid namespace. A later process removes a leftover only when its owner is provably gone: the token was
made in the same pid namespace, and the pid is now free, a zombie, or a different process (another start
time). A token from another namespace, or from a system without /proc, is never judged gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROC_ROOT = Path("/proc")
OWNER_PATTERN = r"(\d+)-(\d+)-(\d+)"
"""Regular expression of an owner token, capturing pid, start time and pid namespace."""
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Owner:
    """A process identity that survives pid reuse: pid, start time since boot, pid-namespace inode."""

    pid: int
    start: int
    pidns: int

    @property
    def token(self) -> str:
        """`PID-START-PIDNS`, the form embedded in names and labels."""
        return f"{self.pid}-{self.start}-{self.pidns}"

    @classmethod
    def parse(cls, token: str) -> Owner | None:
        """The owner named by a token, or None when it is not one."""
        parts = token.split("-")
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            return None
        pid, start, pidns = map(int, parts)
        return cls(pid, start, pidns)


def process_stat(pid: int, proc: Path = PROC_ROOT) -> tuple[int, str] | None:
    """(start time in clock ticks since boot, state letter) of a process, or None when there is none."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2 :].split()  # the command name may contain spaces and parentheses
    return int(fields[19]), fields[0]


def pid_namespace(proc: Path = PROC_ROOT) -> int:
    """The inode of this process's pid namespace (0 where /proc does not show it)."""
    try:
        return os.stat(proc / "self" / "ns" / "pid").st_ino
    except OSError:
        return 0


def current_owner() -> Owner:
    """This process as an owner (start 0 and namespace 0 where /proc is missing: never judged gone)."""
    stat = process_stat(os.getpid())
    return Owner(os.getpid(), stat[0] if stat else 0, pid_namespace())


def owner_gone(owner: Owner, proc: Path = PROC_ROOT) -> bool:
    """True only when the owner provably no longer runs: same namespace, and its pid is free, a zombie or
    a process that started at another time."""
    if owner.pidns == 0 or owner.pidns != pid_namespace(proc):
        return False
    stat = process_stat(owner.pid, proc)
    if stat is None:
        return True
    start, state = stat
    return start != owner.start or state in ("Z", "X")


def _prctl() -> Callable[..., int] | None:
    """libc's prctl (Linux, Android), or None elsewhere."""
    if not os.path.exists("/proc/self/stat"):
        return None
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).prctl
    return None


def die_with_parent_hook() -> Callable[[], None]:
    """A preexec_fn that makes the child receive SIGKILL when this process dies (PR_SET_PDEATHSIG).

    libc is loaded here, in the parent, so the child only calls it between fork and exec. The kernel sends
    the signal when the *thread* that forked exits, so fork from a thread that outlives the child (the
    harness forks and then waits in the same thread). A parent that died before the prctl took effect is
    caught by comparing the parent pid.
    """
    parent, prctl = os.getpid(), _prctl()

    def hook() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook
