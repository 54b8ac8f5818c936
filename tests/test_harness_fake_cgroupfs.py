"""cgroup v2 and systemd-run backends against a stand-in cgroupfs tree.

Neither can be real on the CI machine (cgroup v2 there has no memory controller, and there is no systemd
manager), so their file logic runs against a temporary folder laid out like cgroupfs, and the systemd scope
against a stand-in `systemd-run` on PATH that execs its command as the real one does.
"""

import os
import sys
from pathlib import Path

import pytest

from edgeprove.harness.backends import (
    BackendUnavailable,
    Cgroup2Backend,
    Cgroup2Session,
    LaunchSpec,
    SystemdBackend,
    SystemdSession,
    find_cgroup2_mount,
    own_cgroup_path,
    scope_cgroup_dir,
    systemd_run_argv,
)

PROC_CGROUP_V1 = "4:memory:/process_api/abc\n3:cpuset:/\n1:cpu,cpuacct:/x\n0::/\n"
PROC_CGROUP_V2 = "0::/user.slice/user-1000.slice/session-2.scope\n"
MOUNTINFO = (
    "25 30 0:22 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw\n"
    "31 25 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate\n"
)


def fake_proc_self(tmp_path: Path, cgroup_text: str, mountinfo: str = MOUNTINFO) -> Path:
    proc_self = tmp_path / "proc-self"
    proc_self.mkdir()
    (proc_self / "cgroup").write_text(cgroup_text)
    (proc_self / "mountinfo").write_text(mountinfo)
    return proc_self


def fake_cgroup2_tree(tmp_path: Path, own: str, controllers: str, subtree: str = "") -> Path:
    mount = tmp_path / "cgroup2"
    parent = mount / own.lstrip("/")
    parent.mkdir(parents=True)
    (mount / "cgroup.controllers").write_text(controllers + "\n")
    (parent / "cgroup.controllers").write_text(controllers + "\n")
    (parent / "cgroup.subtree_control").write_text(subtree + "\n")
    return mount


def spec_for(tmp_path: Path, argv: list[str], cap: int = 256 << 20) -> LaunchSpec:
    return LaunchSpec(
        argv=argv,
        cap_bytes=cap,
        cwd=str(tmp_path),
        env=dict(os.environ),
        stdout_path=tmp_path / "out",
        stderr_path=tmp_path / "err",
    )


def run_to_exit(session: Cgroup2Session | SystemdSession, spec: LaunchSpec) -> None:
    session.start(spec)
    while not session.poll():
        session.kernel_sample()


def test_own_cgroup_path_parses_v1_and_v2() -> None:
    assert own_cgroup_path("memory", PROC_CGROUP_V1) == "/process_api/abc"
    assert own_cgroup_path("cpuacct", PROC_CGROUP_V1) == "/x"
    assert own_cgroup_path(None, PROC_CGROUP_V1) == "/"
    assert own_cgroup_path(None, PROC_CGROUP_V2) == "/user.slice/user-1000.slice/session-2.scope"
    with pytest.raises(LookupError):
        own_cgroup_path("memory", PROC_CGROUP_V2)


def test_find_cgroup2_mount() -> None:
    assert find_cgroup2_mount(MOUNTINFO) == Path("/sys/fs/cgroup/unified")
    assert find_cgroup2_mount(MOUNTINFO.splitlines()[0]) is None


def test_cgroup2_without_memory_controller_is_unavailable(tmp_path: Path) -> None:
    mount = fake_cgroup2_tree(tmp_path, "/", "cpu pids")
    backend = Cgroup2Backend(mount, fake_proc_self(tmp_path, PROC_CGROUP_V1))
    with pytest.raises(BackendUnavailable, match="no memory controller"):
        backend.probe()


def test_cgroup2_without_a_cgroup2_mount_is_unavailable(tmp_path: Path) -> None:
    backend = Cgroup2Backend(None, fake_proc_self(tmp_path, PROC_CGROUP_V1, MOUNTINFO.splitlines()[0]))
    with pytest.raises(BackendUnavailable, match="no cgroup2 filesystem"):
        backend.probe()


def test_cgroup2_probe_enables_memory_in_subtree_and_leaves_nothing(tmp_path: Path) -> None:
    own = "/user.slice/user-1000.slice/session-2.scope"
    mount = fake_cgroup2_tree(tmp_path, own, "cpu memory pids")
    backend = Cgroup2Backend(
        None,
        fake_proc_self(tmp_path, PROC_CGROUP_V2, MOUNTINFO.replace("/sys/fs/cgroup/unified", str(mount))),
    )
    reason = backend.probe()
    parent = mount / own.lstrip("/")
    assert str(parent) in reason
    assert (parent / "cgroup.subtree_control").read_text() == "+memory"
    assert sorted(path.name for path in parent.iterdir()) == ["cgroup.controllers", "cgroup.subtree_control"]


def test_cgroup2_probe_reports_a_refused_subtree(tmp_path: Path) -> None:
    mount = fake_cgroup2_tree(tmp_path, "/busy", "memory")
    subtree = mount / "busy" / "cgroup.subtree_control"
    subtree.unlink()
    subtree.mkdir()  # unreadable and unwritable as a file, as a busy parent's subtree_control refuses +memory
    backend = Cgroup2Backend(mount, fake_proc_self(tmp_path, "0::/busy\n"))
    with pytest.raises(BackendUnavailable, match="cannot create a memory-controlled cgroup"):
        backend.probe()


def test_cgroup2_session_writes_limits_joins_and_removes(tmp_path: Path) -> None:
    mount = fake_cgroup2_tree(tmp_path, "/job", "memory", "memory")
    backend = Cgroup2Backend(mount, fake_proc_self(tmp_path, "0::/job\n"))
    session = backend.session()
    assert isinstance(session, Cgroup2Session)
    spec = spec_for(tmp_path, [sys.executable, "-c", "print('hi')"], cap=300 << 20)
    session.start(spec)
    assert (session.directory / "memory.max").read_text() == str(300 << 20)
    assert (session.directory / "memory.swap.max").read_text() == "0"
    assert (session.directory / "memory.oom.group").read_text() == "1"
    while not session.poll():
        pass
    assert (session.directory / "cgroup.procs").read_text() == str(session.root_pids()[0])
    (session.directory / "memory.current").write_text("1000\n")
    assert session.kernel_sample() == 1000
    (session.directory / "memory.peak").write_text("5000\n")
    (session.directory / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    outcome = session.outcome()
    assert (outcome.returncode, outcome.oom_killed, outcome.kernel_peak_bytes) == (0, False, 5000)
    assert outcome.ru_maxrss_bytes is None  # a child smaller than its launcher: the figure was the launcher's
    session.cleanup()
    assert not session.directory.exists()
    assert spec.stdout_path.read_text() == "hi\n"


def test_cgroup2_session_reads_an_oom_kill(tmp_path: Path) -> None:
    mount = fake_cgroup2_tree(tmp_path, "/job", "memory", "memory")
    session = Cgroup2Backend(mount, fake_proc_self(tmp_path, "0::/job\n")).session()
    assert isinstance(session, Cgroup2Session)
    run_to_exit(session, spec_for(tmp_path, [sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"]))
    (session.directory / "memory.events").write_text("oom 1\noom_kill 1\n")
    (session.directory / "memory.peak").write_text(str(256 << 20))
    outcome = session.outcome()
    assert outcome.oom_killed and outcome.returncode == -9 and outcome.kernel_peak_bytes == 256 << 20
    (session.directory / "cgroup.kill").write_text("0")
    session.cleanup()
    assert not session.directory.exists()


def test_systemd_run_argv() -> None:
    argv = systemd_run_argv(["python", "-c", "pass"], 1 << 30, "edgeprove-1.scope", user=True)
    assert argv[:3] == ["systemd-run", "--user", "--scope"]
    assert "MemoryMax=1073741824" in argv and "MemorySwapMax=0" in argv and "--unit=edgeprove-1.scope" in argv
    assert argv[argv.index("--") + 1 :] == ["python", "-c", "pass"]
    assert "--user" not in systemd_run_argv(["true"], 1, "u.scope", user=False)


def test_scope_cgroup_dir() -> None:
    mount = Path("/sys/fs/cgroup")
    inside = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/edgeprove-1.scope\n"
    assert scope_cgroup_dir(inside, mount) == mount / inside.strip()[4:]
    assert scope_cgroup_dir(PROC_CGROUP_V2.replace("session-2.scope", "x.service"), mount) is None
    assert scope_cgroup_dir("4:memory:/a\n", mount) is None


def test_systemd_probe_needs_systemd_run_and_a_manager(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BackendUnavailable, match="systemd-run is not installed"):
        SystemdBackend(tmp_path, tmp_path / "runtime", tmp_path / "run-systemd").probe()
    bin_dir = install_stand_in_systemd_run(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    backend = SystemdBackend(tmp_path / "mount", tmp_path / "runtime", tmp_path / "run-systemd")
    backend.user = True
    with pytest.raises(BackendUnavailable, match="no systemd user manager"):
        backend.probe()
    (tmp_path / "runtime" / "systemd").mkdir(parents=True)
    (tmp_path / "runtime" / "systemd" / "private").touch()
    with pytest.raises(BackendUnavailable, match="not a cgroup v2 mount"):
        backend.probe()
    (tmp_path / "mount").mkdir()
    (tmp_path / "mount" / "cgroup.controllers").write_text("memory\n")
    assert "user manager" in backend.probe()
    backend.user = False
    with pytest.raises(BackendUnavailable, match="not the init system"):
        backend.probe()
    (tmp_path / "run-systemd").mkdir()
    assert "system manager" in backend.probe()


def install_stand_in_systemd_run(tmp_path: Path) -> Path:
    """A `systemd-run` that records its arguments and execs the command after `--`, as the real one does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "systemd-run"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {tmp_path}/systemd-run.args\n'
        'while [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n'
    )
    script.chmod(0o755)
    return bin_dir


def test_systemd_session_runs_in_a_scope_and_reads_its_counters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = install_stand_in_systemd_run(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    mount, proc = tmp_path / "mount", tmp_path / "proc"
    session = SystemdSession(user=True, mount=mount, proc_root=proc)
    code = "import sys; sys.stdin.close(); import time; time.sleep(0.3)"
    spec = spec_for(tmp_path, [sys.executable, "-c", code], cap=512 << 20)
    session.start(spec)
    pid = session.root_pids()[0]
    scope = mount / "user.slice" / session.unit
    scope.mkdir(parents=True)
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "cgroup").write_text(f"0::/user.slice/{session.unit}\n")
    (scope / "memory.peak").write_text("7000\n")
    (scope / "memory.events").write_text("oom_kill 1\n")
    assert session.kernel_sample() == 7000
    (scope / "memory.peak").write_text("6000\n")
    while not session.poll():
        pass
    outcome = session.outcome()
    assert outcome.kernel_peak_bytes == 7000 and outcome.oom_killed and outcome.returncode == 0
    recorded = (tmp_path / "systemd-run.args").read_text()
    assert f"--unit={session.unit}" in recorded and f"MemoryMax={512 << 20}" in recorded
    session.cleanup()
