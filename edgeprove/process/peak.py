"""A process's memory as the kernel counts it: its own peak, any process's resident size, a process tree's,
and the machine's RAM. Read from /proc (Linux and Android alike, so the core needs no psutil); psutil, when
installed, stands in only where there is no /proc."""

from __future__ import annotations

import contextlib
import os
import resource
import sys
from collections.abc import Iterable

PROC = "/proc"
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def own_peak_rss_bytes() -> int:
    """Peak RSS of this process since its exec: VmHWM from /proc on Linux, else ru_maxrss.

    ru_maxrss alone is not enough on Linux: the forking parent's RSS is carried over exec into the child's
    maximum, so a small child of a large parent would report the parent's size.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _has_proc() -> bool:
    return os.path.exists(f"{PROC}/self/statm")


def rss_bytes(pid: int) -> int | None:
    """Resident set size of process `pid` in bytes (/proc/PID/statm); None once it is gone."""
    if _has_proc():
        try:
            with open(f"{PROC}/{pid}/statm", "rb") as statm:
                return int(statm.read().split()[1]) * PAGE_BYTES
        except (OSError, IndexError, ValueError):
            return None
    try:
        import psutil
    except ImportError:
        return None
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


def _parent_of(pid: str) -> int | None:
    """The parent pid from /proc/PID/stat (the field after the parenthesised command name)."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as stat:
            text = stat.read()
        return int(text[text.rindex(b")") + 2 :].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def descendants(root_pids: Iterable[int]) -> list[int]:
    """The given live processes and all their descendants (each once)."""
    roots = [pid for pid in root_pids if pid > 0]
    if not _has_proc():
        try:
            import psutil
        except ImportError:
            return roots
        found: list[int] = []
        for pid in roots:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                found += [pid, *(child.pid for child in root.children(recursive=True))]
        return list(dict.fromkeys(found))
    children: dict[int, list[int]] = {}
    alive = set()
    with os.scandir(PROC) as entries:
        for entry in entries:
            if entry.name.isdigit():
                parent = _parent_of(entry.name)
                if parent is not None:
                    alive.add(int(entry.name))
                    children.setdefault(parent, []).append(int(entry.name))
    found = []
    stack = [pid for pid in roots if pid in alive]
    seen = set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def tree_rss_bytes(root_pids: Iterable[int]) -> int:
    """Resident set size of the given processes and all their descendants, in bytes (0 once they are gone)."""
    return sum(rss_bytes(pid) or 0 for pid in descendants(root_pids))


def physical_memory_bytes() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PHYS_PAGES") * PAGE_BYTES
