"""The Docker backend: the child runs in a container with mem_limit = memswap_limit, through the docker SDK.

An image labelled `edgeprove.host-root=/host` is a minimal rootfs (busybox) that chroots into the host
filesystem mounted read-only at that path, so the host's Python and edgeprove run unchanged inside the cap;
any other image runs the command as given.

Containers are labelled with their harness's owner token and boot id (edgeprove.process.lifetime). A watchdog
process removes the container if the harness dies without doing so (edgeprove.harness.watchdog), and the
next Docker run removes containers whose owner, on this machine and boot, is gone.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from edgeprove.harness import watchdog
from edgeprove.harness.backends import (
    PROC_ROOT,
    Backend,
    BackendUnavailable,
    CleanupError,
    LaunchSpec,
    Outcome,
    Session,
    own_cgroup_path,
    read_int,
)
from edgeprove.process.lifetime import Owner, current_owner, owner_gone

HOST_ROOT_LABEL = "edgeprove.host-root"
DEFAULT_IMAGE = "edgeprove-host:local"
RUN_LABEL = "edgeprove.run"
OWNER_LABEL = "edgeprove.owner"
BOOT_LABEL = "edgeprove.boot"
BOOT_ID_PATH = PROC_ROOT / "sys" / "kernel" / "random" / "boot_id"


def boot_id() -> str:
    """This machine's current boot id: owner tokens are only comparable within one machine and boot."""
    try:
        return BOOT_ID_PATH.read_text().strip()
    except OSError:
        return "unknown"


def owner_labels() -> dict[str, str]:
    """The labels of a container started by this process: run marker, owner token and boot id."""
    return {RUN_LABEL: "1", OWNER_LABEL: current_owner().token, BOOT_LABEL: boot_id()}


def reap_containers(client: Any) -> list[str]:
    """Remove the run containers whose owner, on this machine and boot, is gone; returns their short ids.

    Containers started on another machine or boot, or by a live harness, are never touched.
    """
    import docker.errors

    removed = []
    here = boot_id()
    for container in client.containers.list(
        all=True, filters={"label": [RUN_LABEL, f"{BOOT_LABEL}={here}"]}, ignore_removed=True
    ):
        owner = Owner.parse(container.labels.get(OWNER_LABEL, ""))
        if here == "unknown" or owner is None or not owner_gone(owner):
            continue
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
            removed.append(f"container {container.short_id}")
    return removed


def default_image() -> str:
    """The image named by EDGEPROVE_TEST_IMAGE, else the locally built `edgeprove-host:local`."""
    return os.environ.get("EDGEPROVE_TEST_IMAGE", DEFAULT_IMAGE)


def container_command(argv: list[str], cwd: str, host_root: str | None) -> list[str]:
    """The container's command: argv itself, or argv run in `cwd` after chrooting into the host root."""
    if host_root is None:
        return argv
    return ["chroot", host_root, "/usr/bin/env", "-C", cwd, *argv]


def container_volumes(host_root: str | None, writable_dirs: list[str]) -> dict[str, dict[str, str]]:
    """Bind mounts: the host filesystem read-only at host_root, and the run's writable folders inside it."""
    if host_root is None:
        return {path: {"bind": path, "mode": "rw"} for path in writable_dirs}
    volumes = {"/": {"bind": host_root, "mode": "ro"}}
    volumes.update({path: {"bind": host_root.rstrip("/") + path, "mode": "rw"} for path in writable_dirs})
    return volumes


def memory_cgroup_dir(proc_cgroup_text: str, cgroup_root: Path = Path("/sys/fs/cgroup")) -> Path:
    """The host folder of a container's memory cgroup, from its init process's /proc/PID/cgroup."""
    with contextlib.suppress(LookupError):
        return cgroup_root / "memory" / own_cgroup_path("memory", proc_cgroup_text).lstrip("/")
    return cgroup_root / own_cgroup_path(None, proc_cgroup_text).lstrip("/")


class DockerSession(Session):
    """One container: created with the cap, sampled through its host pid, removed on every path."""

    def __init__(self, client: Any, image: str, host_root: str | None, proc_root: Path = PROC_ROOT) -> None:
        self.client, self.image, self.host_root, self.proc_root = client, image, host_root, proc_root
        self.container: Any = None
        self.watchdog: subprocess.Popen[bytes] | None = None
        self.spec: LaunchSpec | None = None
        self._pid: int | None = None
        self._cgroup_dir: Path | None = None
        self._peak_seen: int | None = None
        self._state: dict[str, Any] | None = None

    def start(self, spec: LaunchSpec) -> None:
        """Create the container (mem_limit = memswap_limit = cap, no network), its watchdog, then start it."""
        self.spec = spec
        env = {**_passed_env(spec.env), "PYTHONDONTWRITEBYTECODE": "1"}
        self.container = self.client.containers.create(
            self.image,
            command=container_command(spec.argv, spec.cwd, self.host_root),
            mem_limit=spec.cap_bytes,
            memswap_limit=spec.cap_bytes,
            network_mode="none",
            environment=env,
            volumes=container_volumes(self.host_root, spec.writable_dirs),
            working_dir="/" if self.host_root is not None else spec.cwd,
            cpuset_cpus=",".join(map(str, spec.cpus)) if spec.cpus else None,
            labels=owner_labels(),
        )
        self.watchdog = watchdog.spawn(self.container.id)
        self.container.start()
        self.container.reload()
        self._pid = int(self.container.attrs["State"]["Pid"]) or None

    def root_pids(self) -> list[int]:
        """The container's init process as seen from the host."""
        return [] if self._pid is None else [self._pid]

    def poll(self) -> bool:
        """True once the container has stopped; its output is then written to the spec's files."""
        if self._state is not None:
            return True
        if self.container is None:
            return False
        self.kernel_sample()
        self.container.reload()
        state = self.container.attrs["State"]
        if state["Status"] in ("created", "running"):
            return False
        self._state = state
        assert self.spec is not None
        self.spec.stdout_path.write_bytes(self.container.logs(stdout=True, stderr=False))
        self.spec.stderr_path.write_bytes(self.container.logs(stdout=False, stderr=True))
        return True

    def kernel_sample(self) -> int | None:
        """The container cgroup's peak counter (v1 max_usage_in_bytes or v2 memory.peak) while it lives."""
        if self._pid is None:
            return self._peak_seen
        if self._cgroup_dir is None:
            with contextlib.suppress(OSError, LookupError):
                text = (self.proc_root / str(self._pid) / "cgroup").read_text()
                self._cgroup_dir = memory_cgroup_dir(text)
        if self._cgroup_dir is not None:
            peak = read_int(self._cgroup_dir / "memory.max_usage_in_bytes")
            if peak is None:
                peak = read_int(self._cgroup_dir / "memory.peak")
            if peak is not None:
                self._peak_seen = peak if self._peak_seen is None else max(self._peak_seen, peak)
        return self._peak_seen

    def outcome(self) -> Outcome:
        """Exit code (137 from a SIGKILL reads as -9) and Docker's own OOMKilled flag."""
        assert self._state is not None
        code = int(self._state["ExitCode"])
        returncode = -(code - 128) if code > 128 else code
        return Outcome(returncode, bool(self._state.get("OOMKilled")), self._peak_seen, None)

    def terminate(self) -> None:
        """Kill the container if it still runs."""
        if self.container is not None and self._state is None:
            with contextlib.suppress(Exception):
                self.container.kill()

    def cleanup(self) -> None:
        """Kill and remove the container, then release its watchdog; CleanupError if Docker still lists it.

        When the removal fails, the watchdog is released without `done` and tries once more.
        """
        if self.container is None:
            return
        self.terminate()
        try:
            self._remove()
        except CleanupError:
            self._release_watchdog(removed=False)
            raise
        self._release_watchdog(removed=True)
        self.container = None

    def _remove(self) -> None:
        """Remove the container, retrying API errors for up to 30 s."""
        import docker.errors

        deadline = time.monotonic() + 30
        while True:
            try:
                self.container.remove(force=True)
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as error:
                if time.monotonic() > deadline:
                    raise CleanupError(
                        f"could not remove container {self.container.id[:12]}: {error}"
                    ) from error
                time.sleep(0.2)
                continue
            return

    def _release_watchdog(self, removed: bool) -> None:
        """Tell the watchdog whether the container is gone, and reap it."""
        if self.watchdog is not None:
            watchdog.release(self.watchdog, removed)
            self.watchdog = None


def _passed_env(env: dict[str, str]) -> dict[str, str]:
    """The environment variables worth carrying into the container (Python path, threads, edgeprove's own)."""
    prefixes = ("EDGEPROVE_", "PYTHON", "OMP_", "OPENBLAS_", "MKL_", "NUMEXPR_")
    return {key: value for key, value in env.items() if key.startswith(prefixes) or key in ("HOME", "LANG")}


class DockerBackend(Backend):
    """Docker through the `docker` SDK, with an image built from local files."""

    name = "docker"
    notes = (
        "docker: mem_limit = memswap_limit = cap; OOM from the container's OOMKilled flag; peak is the "
        "container cgroup's counter (includes page cache); the container is removed afterwards.",
    )

    def __init__(self, image: str | None = None) -> None:
        self.image = image or default_image()
        self._client: Any = None
        self._host_root: str | None = None

    def probe(self) -> str:
        """Needs the SDK, a reachable daemon and the image present locally."""
        try:
            import docker
        except ImportError as error:
            raise BackendUnavailable(
                self.name, "the docker Python SDK is not installed", "pip install 'edgeprove[docker]'"
            ) from error
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        try:
            client = docker.from_env(timeout=10)
            client.ping()
        except Exception as error:  # the SDK raises many kinds of error for an absent daemon
            raise BackendUnavailable(
                self.name,
                f"Docker is not reachable at {where}",
                "start dockerd (see docs/harness.md) or set DOCKER_HOST",
            ) from error
        try:
            image = client.images.get(self.image)
        except docker.errors.ImageNotFound as error:
            raise BackendUnavailable(
                self.name,
                f"image {self.image!r} is not present locally",
                "build it as docs/harness.md shows, or pass --image",
            ) from error
        self._client = client
        self._host_root = (image.attrs.get("Config", {}).get("Labels") or {}).get(HOST_ROOT_LABEL)
        how = (
            f"chroot into the host at {self._host_root}" if self._host_root else "the image's own filesystem"
        )
        return f"Docker at {where}, image {self.image} ({how})"

    def session(self) -> Session:
        """A DockerSession; probe() must have succeeded first."""
        if self._client is None:
            self.probe()
        return DockerSession(self._client, self.image, self._host_root)

    def reap(self) -> list[str]:
        """Run containers of dead owners on this machine."""
        if self._client is None:
            self.probe()
        return reap_containers(self._client)
