"""Memory read from /proc: a process's resident size, its tree and the machine's RAM agree with psutil's."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil

from edgeprove.process.peak import (
    PAGE_BYTES,
    descendants,
    own_peak_rss_bytes,
    physical_memory_bytes,
    rss_bytes,
    tree_rss_bytes,
)

SPAWN = (
    "import subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', {code!r}], stdout=subprocess.PIPE, text=True); "
    "child.stdout.readline(); print('ready', flush=True); time.sleep(30)"
)
NESTED = SPAWN.format(code=SPAWN.format(code="import time; print('ready', flush=True); time.sleep(30)"))
"""A parent whose child has a child of its own; it prints `ready` once all three run."""


def test_rss_matches_psutil_and_gone_processes_have_none() -> None:
    own = rss_bytes(os.getpid())
    assert own is not None and abs(own - psutil.Process().memory_info().rss) <= 64 * PAGE_BYTES
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert rss_bytes(child.pid) is None
    assert own_peak_rss_bytes() >= own


def test_descendants_follow_grandchildren_and_count_each_once() -> None:
    parent = subprocess.Popen([sys.executable, "-c", NESTED], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        tree = descendants([parent.pid, parent.pid])
        expected = [parent.pid, *(c.pid for c in psutil.Process(parent.pid).children(recursive=True))]
        assert sorted(tree) == sorted(expected) and len(tree) == 3
        assert tree_rss_bytes([parent.pid]) == sum(rss_bytes(pid) or 0 for pid in tree)
    finally:
        for pid in reversed(descendants([parent.pid])):
            os.kill(pid, 9)
        parent.wait()
    assert descendants([parent.pid]) == [] and tree_rss_bytes([parent.pid]) == 0


def test_physical_memory_matches_psutil() -> None:
    assert physical_memory_bytes() == psutil.virtual_memory().total
