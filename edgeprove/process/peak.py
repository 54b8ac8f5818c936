"""A process's own peak memory, as the kernel counts it."""

from __future__ import annotations

import resource
import sys


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
