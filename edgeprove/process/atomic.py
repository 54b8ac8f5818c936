"""Files that appear complete or not at all: written under a temporary name beside the target, then renamed.

A temporary is named `.NAME.tmp-PID-START-PIDNS-RANDOM` in the target's folder (same filesystem, so the
rename is atomic) and replaces the target only once it is fully written and synced; on any error or signal
it is removed and an existing target is left untouched. A SIGKILLed writer cannot remove its temporary, so
writers call `reap_stale_temps` on the folder first: it removes the temporaries (files or run folders) whose
owner is provably gone (see edgeprove.process.lifetime), never those of a live process.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from edgeprove.process.lifetime import OWNER_PATTERN, Owner, current_owner, owner_gone

TEMP_NAME = re.compile(rf"^\..+\.tmp-(?P<owner>{OWNER_PATTERN})-[0-9a-f]{{8}}$")
"""Name of a temporary file or folder made by temp_path."""
MAX_STEM = 180  # keeps the temporary's name under NAME_MAX (255) for any target name
AT_FDCWD = -100
RENAME_EXCHANGE = 2


def temp_path(target: Path) -> Path:
    """A fresh temporary path beside `target`, carrying this process's owner token."""
    target = Path(target)
    return target.parent / f".{target.name[:MAX_STEM]}.tmp-{current_owner().token}-{secrets.token_hex(4)}"


def temp_owner(path: Path) -> Owner | None:
    """The owner recorded in a temporary's name, or None when `path` is not a temporary."""
    match = TEMP_NAME.match(Path(path).name)
    return Owner.parse(match["owner"]) if match else None


def remove_path(path: Path) -> None:
    """Remove a file or a folder tree if it is there (best effort: what stays is reaped later)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        with contextlib.suppress(OSError):
            path.unlink()


def reap_stale_temps(folder: Path) -> list[Path]:
    """Remove the temporaries in `folder` whose owner is gone; returns what was removed."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in Path(folder).iterdir():
            owner = temp_owner(entry)
            if owner is not None and owner_gone(owner):
                with contextlib.suppress(OSError):
                    remove_path(entry)
                    removed.append(entry)
    return removed


class AtomicFile:
    """A binary file written under a temporary name; commit() renames it over the target, discard() drops it.

    As a context manager it yields the open file and commits when the block ends without an exception.
    """

    def __init__(self, target: str | Path) -> None:
        self.target = Path(target)
        self.temp = temp_path(self.target)
        self.file: BinaryIO = open(self.temp, "xb")  # noqa: SIM115  (closed in commit() or discard())

    def commit(self) -> None:
        """Flush and sync the data, then atomically replace the target (errors surface before the rename);
        a replaced file's permission bits carry over."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            with contextlib.suppress(FileNotFoundError):
                os.chmod(self.file.fileno(), os.stat(self.target).st_mode & 0o7777)
            self.file.close()
            os.replace(self.temp, self.target)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Close and delete the temporary; the target is untouched."""
        with contextlib.suppress(OSError):
            self.file.close()  # may fail to flush on a full disk; the descriptor is closed regardless
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()

    def __enter__(self) -> BinaryIO:
        return self.file

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def write_atomic(target: str | Path, data: bytes) -> Path:
    """Write `data` to `target` through a temporary beside it."""
    with AtomicFile(target) as handle:
        handle.write(data)
    return Path(target)


def exchange(first: Path, second: Path) -> None:
    """Swap two existing paths atomically (Linux renameat2 RENAME_EXCHANGE).

    Where libc or the filesystem lacks it, three renames through a temporary name beside `second` do the
    same, with a moment in which `second` is missing.
    """
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is not None:
        renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        if renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(second))
    aside = temp_path(Path(second))
    os.rename(second, aside)
    os.rename(first, second)
    os.rename(aside, first)
