"""Removes a Docker container once the harness that started it is gone, even if the harness was SIGKILLed.

A container is not a child of the harness, so PR_SET_PDEATHSIG cannot reach it. The watchdog is a small
process in its own session whose stdin is a pipe written only by the harness: the harness writes `done`
after removing the container itself; end-of-file without it means the harness died, and the watchdog
removes the container (`docker rm -f`) and exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

DONE = b"done"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_S = 10.0


def spawn(container_id: str) -> subprocess.Popen[bytes]:
    """Start the watchdog for one container; it keeps the Docker settings of this process's environment."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-c", "from edgeprove.harness.watchdog import main; main()", container_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )


def release(watchdog: subprocess.Popen[bytes], removed: bool) -> None:
    """Close the watchdog's pipe (with `done` when the container is already removed) and reap it."""
    assert watchdog.stdin is not None
    with contextlib.suppress(OSError):
        if removed:
            watchdog.stdin.write(DONE)
        watchdog.stdin.close()
    try:
        watchdog.wait(timeout=STOP_TIMEOUT_S if not removed else 2.0)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()


def main() -> None:
    """Wait for end-of-file on stdin; unless the harness said `done`, remove the container named in argv."""
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    if sys.stdin.buffer.read() == DONE:
        return
    import docker

    with contextlib.suppress(docker.errors.NotFound):
        docker.from_env(timeout=60).containers.get(sys.argv[1]).remove(force=True)
