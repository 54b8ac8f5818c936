"""Files that appear complete or not at all, and the removal of temporaries left by dead writers."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fill, small_tmpfs

from edgeprove.process.atomic import (
    AtomicFile,
    exchange,
    reap_stale_temps,
    temp_owner,
    temp_path,
    write_atomic,
)
from edgeprove.process.lifetime import Owner, current_owner, pid_namespace, process_stat


def test_temp_path_is_beside_the_target_and_names_its_owner(tmp_path: Path) -> None:
    target = tmp_path / ("x" * 250)
    temp = temp_path(target)
    assert temp.parent == tmp_path and temp.name.startswith(".xxx") and len(temp.name) < 255
    assert temp_owner(temp) == current_owner()
    assert temp_owner(tmp_path / ".notes.tmp-1-2") is None and temp_owner(target) is None


def test_commit_replaces_and_keeps_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "proof"
    target.write_bytes(b"old")
    target.chmod(0o600)
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["proof"]


def test_an_error_inside_the_block_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "proof"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), AtomicFile(target) as handle:
        handle.write(b"half")
        raise RuntimeError("prover failed")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["proof"]


def test_a_full_disk_keeps_the_old_file_and_no_temporary() -> None:
    with small_tmpfs("256k") as disk:
        target = disk / "proof"
        target.write_bytes(b"old" * 1000)
        fill(disk)
        with pytest.raises(OSError, match="No space left"), AtomicFile(target) as handle:
            handle.write(bytes(1 << 20))
        assert target.read_bytes() == b"old" * 1000
        assert sorted(os.listdir(disk)) == ["filler", "filler.tail", "proof"]


def dead_owner() -> Owner:
    """The owner token of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    start = process_stat(child.pid)
    child.wait()
    assert start is not None
    return Owner(child.pid, start[0], pid_namespace())


def test_reap_removes_only_dead_owners_temporaries(tmp_path: Path) -> None:
    dead = dead_owner()
    dead_file = tmp_path / f".proof.tmp-{dead.token}-0123abcd"
    dead_file.write_bytes(b"partial")
    dead_folder = tmp_path / f".run.tmp-{dead.token}-89abcdef"
    (dead_folder / "sub").mkdir(parents=True)
    live = temp_path(tmp_path / "proof")
    live.write_bytes(b"being written")
    other_ns = tmp_path / f".proof.tmp-{dead.pid}-{dead.start}-{dead.pidns + 1}-0123abcd"
    other_ns.write_bytes(b"someone else's")
    mine = tmp_path / ".proof.tmp-notes"
    mine.write_text("a user's file")
    assert sorted(reap_stale_temps(tmp_path)) == sorted([dead_file, dead_folder])
    assert sorted(tmp_path.iterdir()) == sorted([live, other_ns, mine])
    assert reap_stale_temps(tmp_path / "absent") == []


def test_exchange_swaps_two_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "new").write_text("n")
    (tmp_path / "b" / "old").write_text("o")
    exchange(tmp_path / "a", tmp_path / "b")
    assert os.listdir(tmp_path / "b") == ["new"] and os.listdir(tmp_path / "a") == ["old"]
