"""Returning free heap pages: glibc's malloc_trim where there is one, nothing elsewhere."""

from __future__ import annotations

import ctypes
import os

import numpy as np

from edgeprove.process import heap
from edgeprove.process.peak import rss_bytes


def test_free_pages_go_back_to_the_kernel() -> None:
    assert heap._malloc_trim() is not None  # this machine's C library is glibc
    blocks = [np.ones(1 << 13) for _ in range(4000)]  # 256 MiB in 64 KiB blocks, below the mmap threshold
    del blocks[::2]  # free every other block: the heap cannot shrink from its top
    before = rss_bytes(os.getpid())
    heap.release_free_memory()
    assert rss_bytes(os.getpid()) < before - (64 << 20)
    del blocks


def test_without_malloc_trim_nothing_is_done(monkeypatch) -> None:
    class NoTrim:
        def __init__(self, name) -> None:
            pass

        def __getattr__(self, name: str):
            raise AttributeError(name)

    monkeypatch.setattr(ctypes, "CDLL", NoTrim)
    heap._malloc_trim.cache_clear()
    try:
        assert heap._malloc_trim() is None
        heap.release_free_memory()
    finally:
        heap._malloc_trim.cache_clear()
