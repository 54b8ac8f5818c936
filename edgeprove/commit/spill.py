"""Commitment states kept on disk while they wait for their opening.

A layer's commitment is opened only after the last layer that reads its tensor, so in a network with skip
connections many states wait at once; their rows are most of the process at the peak of a large model.
``spill`` writes an array to a temporary file that is unlinked as soon as it is created and maps it back
read-only: the rows leave the process (the file's pages are written back and dropped from the page cache),
an opening reads them again block by block, and the file's space is freed when the mapping goes, whatever
ends the process (Ctrl-C, SIGTERM, SIGKILL), since the file has no name left to leave behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

SPILL_MIN_BYTES = 4 << 20
"""States smaller than this stay in memory: writing, syncing and mapping a file costs more than they hold."""
_WRITE_BLOCK_BYTES = 8 << 20
"""Bytes written at a time (a row block), so a non-contiguous view is never copied whole."""


def spill(array: np.ndarray, directory: str | Path) -> np.ndarray:
    """``array`` written to an unlinked temporary file in ``directory`` and mapped back read-only, or
    ``array`` itself when it is smaller than SPILL_MIN_BYTES or the file cannot be written (a full or
    read-only disk: the proof goes on with the state in memory)."""
    if array.nbytes < SPILL_MIN_BYTES or array.ndim == 0:
        return array
    try:
        with tempfile.TemporaryFile(dir=directory) as file:
            rows = array.reshape(array.shape[0], -1)
            step = max(1, _WRITE_BLOCK_BYTES // max(1, rows[0].nbytes))
            for start in range(0, rows.shape[0], step):
                file.write(np.ascontiguousarray(rows[start : start + step]).data)
            file.flush()
            os.fdatasync(file.fileno())
            with contextlib.suppress(AttributeError, OSError):  # written back: its page cache can go
                os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            return np.memmap(file, dtype=array.dtype, mode="r", shape=array.shape)
    except OSError:
        return array
