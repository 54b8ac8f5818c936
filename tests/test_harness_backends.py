"""Real caps: cgroup v1 and rlimit on this machine, Docker through a local daemon, and `none`.

Each real backend gets a run that fits and a run past the cap, and leaves no cgroup or container behind.
On CI (CI=true, root, `.ci/services.sh` sourced) none of these skip.
"""

import contextlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import own_cgroups, require, wait_for

from edgeprove.harness.backends import (
    BackendUnavailable,
    Cgroup1Backend,
    RlimitBackend,
    cgroup_name,
    remove_cgroup_dir,
)
from edgeprove.harness.docker_backend import BOOT_LABEL, OWNER_LABEL, DockerBackend, boot_id
from edgeprove.harness.runner import choose_backend, run_capped
from edgeprove.process.lifetime import Owner, current_owner, pid_namespace, process_stat

ALLOCATE = (
    "import json, sys, time, numpy\n"
    "mib, steps, log = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], 'a')\n"
    "blocks = []\n"
    "for i in range(steps):\n"
    "    log.write(json.dumps({'event': 'start', 'layer': f'layer{i}', 't': time.time()}) + '\\n')\n"
    "    log.flush()\n"
    "    blocks.append(numpy.ones((mib << 20) // 8 // steps))\n"
    "    time.sleep(0.02)\n"
    "    log.write(json.dumps({'event': 'end', 'layer': f'layer{i}', 't': time.time()}) + '\\n')\n"
    "    log.flush()\n"
    "print(json.dumps({'allocated_mib': mib}))\n"
)
CAP = 300 << 20


def allocate(mib: int, events: Path, steps: int = 6) -> list[str]:
    return [sys.executable, "-c", ALLOCATE, str(mib), str(steps), str(events)]


def leftover_cgroups() -> list[str]:
    """This test process's run cgroups (other edgeprove runs on the machine have their own)."""
    return own_cgroups(Cgroup1Backend().parent(), os.getpid())


@pytest.fixture()
def cgroup1() -> Cgroup1Backend:
    backend = Cgroup1Backend()
    try:
        backend.probe()
    except BackendUnavailable as error:
        require(False, str(error))
    return backend


def test_cgroup1_fits(cgroup1: Cgroup1Backend, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    result = run_capped(allocate(100, events), CAP, backend="cgroup1", events_path=events, out_dir=tmp_path)
    assert result.fits and result.backend == "cgroup1" and result.returncode == 0
    assert 100 << 20 < result.kernel_peak_bytes < CAP
    assert result.peak_rss_bytes > 100 << 20
    assert '"allocated_mib": 100' in result.stdout
    assert len([e for e in result.timeline.events if e["event"] == "start"]) == 6
    assert leftover_cgroups() == []


def test_cgroup1_oom_kill(cgroup1: Cgroup1Backend, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    result = run_capped(allocate(900, events), CAP, backend="cgroup1", events_path=events, out_dir=tmp_path)
    assert result.oom_killed and not result.fits and result.does_not_fit
    assert result.returncode == -9
    assert result.kernel_peak_bytes is not None and result.kernel_peak_bytes >= CAP - (8 << 20)
    assert result.peak_layer is not None and result.peak_layer.startswith("layer")
    assert result.peak_layer != "layer5"
    assert leftover_cgroups() == []


def test_cgroup1_kills_the_whole_tree(cgroup1: Cgroup1Backend, tmp_path: Path) -> None:
    code = (
        "import subprocess, sys; "
        f"subprocess.Popen([sys.executable, '-c', {ALLOCATE!r}, '900', '3', sys.argv[1]]).wait(); "
        "sys.exit(7)"
    )
    events = tmp_path / "events.jsonl"
    result = run_capped([sys.executable, "-c", code, str(events)], CAP, backend="cgroup1", events_path=events)
    assert result.oom_killed and result.returncode == 7
    assert leftover_cgroups() == []


def test_cgroup1_unavailable_without_the_hierarchy(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="no cgroup v1 memory hierarchy"):
        Cgroup1Backend(mount=tmp_path).probe()


def test_rlimit_fits_and_exceeds(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    fits = run_capped(allocate(50, events), CAP, backend="rlimit", events_path=events)
    assert fits.fits and fits.backend == "rlimit" and fits.kernel_peak_bytes is None
    assert fits.peak_bytes >= 50 << 20  # ru_maxrss, or sampled where it would only repeat the launcher's
    assert fits.ru_maxrss_bytes is None or fits.ru_maxrss_bytes >= 50 << 20
    assert any("RLIMIT_DATA" in note and "page cache" in note for note in fits.notes)
    events.unlink()
    over = run_capped(allocate(900, events), CAP, backend="rlimit", events_path=events)
    assert over.cap_exceeded and over.does_not_fit and not over.oom_killed and over.returncode == 1
    assert "MemoryError" in over.stderr or "Unable to allocate" in over.stderr
    assert over.peak_layer is not None and over.peak_layer.startswith("layer")


def test_rlimit_address_space_counts_reservations() -> None:
    backend = RlimitBackend("as")
    assert "137 MiB" in backend.notes[0]
    result = run_capped([sys.executable, "-c", "import numpy"], 96 << 20, backend=backend)
    assert result.does_not_fit and result.overrun == "allocation failed at the cap"
    with pytest.raises(ValueError, match="'data' or 'as'"):
        RlimitBackend("rss")


def test_none_measures_and_compares_with_the_cap(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    result = run_capped(allocate(400, events, steps=2), CAP, backend="none", events_path=events)
    assert result.returncode == 0 and result.cap_exceeded and not result.fits
    assert result.peak_rss_bytes > 400 << 20
    assert result.overrun == "peak RSS above the cap (measured; nothing was capped)"


def containers_left(backend: DockerBackend) -> list:
    """The containers this test process started that Docker still lists."""
    owner = f"{OWNER_LABEL}={current_owner().token}"
    return backend._client.containers.list(all=True, filters={"label": owner}, ignore_removed=True)


def test_docker_fits(docker_backend: DockerBackend, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    result = run_capped(allocate(100, events), CAP, backend="docker", events_path=events, out_dir=tmp_path)
    assert result.fits and result.backend == "docker", result.stderr
    assert result.kernel_peak_bytes is not None and 100 << 20 < result.kernel_peak_bytes < CAP
    assert result.peak_rss_bytes > 100 << 20
    assert '"allocated_mib": 100' in result.stdout
    assert len([e for e in result.timeline.events if e["event"] == "end"]) == 6
    assert containers_left(docker_backend) == []


def test_docker_oom_kill(docker_backend: DockerBackend, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    result = run_capped(allocate(900, events), CAP, backend="docker", events_path=events, out_dir=tmp_path)
    assert result.oom_killed and result.returncode == -9 and not result.fits
    assert result.overrun == "OOM-killed by the kernel"
    assert result.peak_layer is not None and result.peak_layer.startswith("layer")
    assert containers_left(docker_backend) == []


def test_docker_unreachable_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    require(importlib.util.find_spec("docker") is not None, "the docker SDK is not installed")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    with pytest.raises(BackendUnavailable, match="Docker is not reachable at unix://.*absent.sock") as error:
        DockerBackend().probe()
    assert "\n" not in str(error.value) and "DOCKER_HOST" in error.value.fix


def test_docker_missing_image(docker_backend: DockerBackend) -> None:
    with pytest.raises(BackendUnavailable, match="not present locally"):
        DockerBackend("edgeprove-no-such-image:none").probe()


def exited_owner() -> Owner:
    """The owner token of a process that has exited (its pid may be reused later: the start time tells)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    stat = wait_for(lambda: process_stat(child.pid), 10, "the child's /proc entry")
    child.wait()
    return Owner(child.pid, stat[0], pid_namespace())


def test_reap_removes_dead_runs_cgroups_and_kills_their_orphans(cgroup1: Cgroup1Backend) -> None:
    parent = cgroup1.parent()
    me, dead = current_owner(), exited_owner()
    names = {
        "dead": f"edgeprove-{dead.token}-0000aaaa",
        "reused": f"edgeprove-{me.pid}-{me.start + 1}-{me.pidns}-0000bbbb",
        "probe": f"edgeprove-probe-{dead.token}-0000cccc",
        "live": cgroup_name(),
        "other-namespace": f"edgeprove-{dead.pid}-{dead.start}-{dead.pidns + 1}-0000dddd",
        "not-a-run": f"edgeprove-dockerd-{dead.pid}",
    }
    for name in names.values():
        (parent / name).mkdir()
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (parent / names["dead"] / "cgroup.procs").write_text(str(orphan.pid))
        removed = cgroup1.reap()
        assert sorted(removed) == sorted([names["dead"], names["reused"], names["probe"]])
        assert orphan.wait(timeout=10) == -9
        for kept in ("live", "other-namespace", "not-a-run"):
            assert (parent / names[kept]).is_dir()
    finally:
        orphan.kill()
        orphan.wait()
        for name in names.values():
            if (parent / name).exists():
                remove_cgroup_dir(parent / name)


def test_docker_reap_removes_only_dead_owners_containers_of_this_boot(docker_backend: DockerBackend) -> None:
    import docker.errors

    me, dead = current_owner(), exited_owner()
    client = docker_backend._client
    image = docker_backend.image
    labels = {
        "dead": {OWNER_LABEL: dead.token, BOOT_LABEL: boot_id()},
        "live": {OWNER_LABEL: me.token, BOOT_LABEL: boot_id()},
        "other-boot": {OWNER_LABEL: dead.token, BOOT_LABEL: "another-boot"},
    }
    made = {
        key: client.containers.create(image, command=["true"], labels={"edgeprove.run": "1", **value})
        for key, value in labels.items()
    }
    try:
        assert docker_backend.reap() == [f"container {made['dead'].short_id}"]
        left = {
            item.id
            for item in client.containers.list(
                all=True, filters={"label": "edgeprove.run"}, ignore_removed=True
            )
        }
        assert made["dead"].id not in left and {made["live"].id, made["other-boot"].id} <= left
    finally:
        for container in made.values():
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


def test_rlimit_is_refused_where_setrlimit_is_accepted_but_ignored(monkeypatch) -> None:
    """qemu user-mode emulation accepts setrlimit(RLIMIT_DATA / RLIMIT_AS) and ignores it: a run there would
    cap nothing, so the backend says it cannot work rather than give a verdict."""
    import resource

    from edgeprove.harness import backends

    before = resource.getrlimit(resource.RLIMIT_DATA)
    assert backends.rlimit_takes_effect(resource.RLIMIT_DATA)
    assert resource.getrlimit(resource.RLIMIT_DATA) == before
    monkeypatch.setattr(backends.resource, "setrlimit", lambda limit, values: None)
    for kind in ("data", "as"):
        with pytest.raises(BackendUnavailable, match="accepted but does not take effect"):
            RlimitBackend(kind).probe()
    with pytest.raises(BackendUnavailable) as caught:
        choose_backend("rlimit")
    assert "qemu" in str(caught.value)
