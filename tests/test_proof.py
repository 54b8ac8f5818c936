"""ProofWriter: a proof replaces the file at its path only when complete; any failure keeps the old one."""

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import fill, small_tmpfs

from edgeprove import prover
from edgeprove.proof import SECTION_INPUT, ProofReader, ProofWriter


def test_close_moves_the_complete_proof_into_place(tmp_path: Path) -> None:
    target = tmp_path / "p.proof"
    target.write_bytes(b"old proof")
    writer = ProofWriter(target, {"model": "m"})
    writer.section(SECTION_INPUT, [1, 2, 3])
    assert target.read_bytes() == b"old proof"
    writer.close()
    assert ProofReader(target).header == {"model": "m"}
    assert os.listdir(tmp_path) == ["p.proof"]


def test_abort_keeps_the_old_file_and_removes_the_partial_one(tmp_path: Path) -> None:
    target = tmp_path / "p.proof"
    target.write_bytes(b"old proof")
    writer = ProofWriter(target, {"model": "m"})
    writer.section(SECTION_INPUT, [1, 2, 3])
    writer.abort()
    assert target.read_bytes() == b"old proof" and os.listdir(tmp_path) == ["p.proof"]


def test_an_interrupted_prover_keeps_the_old_proof(tmp_path: Path, cnn) -> None:
    target = tmp_path / "p.proof"
    target.write_bytes(b"old proof")

    def interrupt(index: int, name: str) -> None:
        if index == 2:
            raise KeyboardInterrupt

    x = np.zeros(cnn.input_shape, dtype=np.int64)
    with pytest.raises(KeyboardInterrupt):
        prover.prove(cnn, x, target, on_layer=interrupt)
    assert target.read_bytes() == b"old proof" and os.listdir(tmp_path) == ["p.proof"]


def test_a_full_disk_keeps_the_old_proof(cnn) -> None:
    with small_tmpfs("256k") as disk:
        target = disk / "p.proof"
        target.write_bytes(b"old proof")
        fill(disk)
        with pytest.raises(OSError, match="No space left"):
            prover.prove(cnn, np.zeros(cnn.input_shape, dtype=np.int64), target)
        assert target.read_bytes() == b"old proof"
        assert sorted(os.listdir(disk)) == ["filler", "filler.tail", "p.proof"]
