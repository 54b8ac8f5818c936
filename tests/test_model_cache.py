"""The model cache (``compiled.cached``): built in a staging folder named by its owner, published by a rename,
and nothing left behind on an error, an interruption, a full disk or a killed build."""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, small_mlp, small_tmpfs
from test_process_atomic import dead_owner

from edgeprove.model import compiled, zoo
from edgeprove.model.ir import Model, ModelError
from edgeprove.process.atomic import temp_owner
from edgeprove.process.lifetime import current_owner

KILLED_BUILD = """
import sys, time
from pathlib import Path
from edgeprove.model import compiled

def write(staging):
    (staging / "w0000_partial.npy").write_bytes(b"half")
    print(staging, flush=True)
    time.sleep(120)

compiled.cached(Path(sys.argv[1]), write)
"""
"""A build that reports its staging folder and then waits to be killed."""


def writer(model: Model):
    """A ``write(staging)`` that saves ``model``."""
    return lambda staging: compiled.save(model, staging)


def test_the_staging_folder_is_beside_the_cache_folder_and_names_its_owner(tmp_path):
    seen = []

    def write(staging: Path) -> None:
        seen.append(staging)
        compiled.save(small_mlp(), staging)

    folder = tmp_path / "cache" / "small_mlp-v1"
    assert compiled.cached(folder, write).digest == small_mlp().digest
    [staging] = seen
    assert staging.parent == folder.parent and temp_owner(staging) == current_owner()
    assert list(folder.parent.iterdir()) == [folder]


@pytest.mark.parametrize(
    "error, raised",
    [
        (OSError(errno.ENOSPC, "No space left on device"), ModelError),
        (ModelError("the model cannot be built"), ModelError),
        (KeyboardInterrupt(), KeyboardInterrupt),
    ],
)
def test_an_error_or_interruption_removes_the_staging_folder(tmp_path, error, raised):
    def write(staging: Path) -> None:
        (staging / "w0000_partial.npy").write_bytes(b"half")
        raise error

    with pytest.raises(raised):
        compiled.cached(tmp_path / "m", write)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    model = small_mlp(widths=(600, 400))  # 244 KB of weights
    with small_tmpfs("128k") as disk:
        with pytest.raises(ModelError) as caught:
            compiled.cached(disk / "m", writer(model))
        assert str(caught.value) == (
            f"cannot write the model cache {disk / 'm'} (No space left on device); "
            "set EDGEPROVE_CACHE to a writable folder"
        )
        assert list(disk.iterdir()) == []


def test_a_cache_path_too_long_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv(zoo.CACHE_ENV, str(tmp_path / ("c" * 300)))
    with pytest.raises(
        ModelError, match=r"^cannot write the model cache .*/c{300}/tiny_mlp-v\d+ \(File name too"
    ):
        zoo.get("tiny_mlp")
    assert list(tmp_path.iterdir()) == []


def test_staging_folders_of_gone_owners_are_reaped_and_others_kept(tmp_path):
    folder = tmp_path / "small_mlp-v1"
    compiled.cached(folder, writer(small_mlp()))
    dead = dead_owner()
    stale = tmp_path / f".{folder.name}.tmp-{dead.token}-0123abcd"
    (stale / "sub").mkdir(parents=True)
    (stale / "w0000_partial.npy").write_bytes(b"half")
    live = tmp_path / f".{folder.name}.tmp-{current_owner().token}-89abcdef"
    live.mkdir()
    other_namespace = tmp_path / f".{folder.name}.tmp-{dead.pid}-{dead.start}-{dead.pidns + 1}-0123abcd"
    other_namespace.mkdir()
    users = tmp_path / ".notes.tmp-mine"
    users.mkdir()
    assert compiled.cached(folder, writer(small_mlp())).digest == small_mlp().digest  # a cache hit reaps too
    assert sorted(tmp_path.iterdir()) == sorted([folder, live, other_namespace, users])


def test_a_build_killed_by_sigkill_is_reaped_by_the_next_call(tmp_path):
    folder = tmp_path / "cache" / "small_mlp-v1"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(folder)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        staging = Path(child.stdout.readline().strip())
        assert staging.parent == folder.parent and (staging / "w0000_partial.npy").is_file()
        assert compiled.cached(tmp_path / "cache" / "other", writer(small_mlp())) and staging.is_dir()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert compiled.cached(folder, writer(small_mlp())).digest == small_mlp().digest
    assert sorted(p.name for p in folder.parent.iterdir()) == ["other", "small_mlp-v1"]
