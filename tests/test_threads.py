"""The prover's worker threads: sizes, ordered results, nothing left running, and the same proof for every
thread count."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import small_cnn

from edgeprove import prover, threads, verifier
from edgeprove.model import zoo


@pytest.mark.parametrize("bad", [0, -1, threads.MAX_THREADS + 1, 1.5, True, "2"])
def test_thread_counts_outside_the_range_are_refused(bad):
    with pytest.raises(ValueError, match="threads must be an integer"):
        threads.check_threads(bad)


def test_available_cores_is_this_process_affinity():
    import os

    assert threads.available_cores() == len(os.sched_getaffinity(0)) >= 1


@pytest.mark.parametrize("count", [1, 2, 3])
def test_map_keeps_the_items_order_and_workers_end_with_the_pool(count):
    before = threading.active_count()
    seen = set()

    def work(item: int) -> int:
        seen.add(threading.current_thread().name)
        assert threads.count() == (count if threading.current_thread() is threading.main_thread() else 1)
        return item * item

    with threads.using(count):
        assert threads.count() == count
        assert threads.map_ordered(work, range(50)) == [i * i for i in range(50)]
        assert (threads.submit(work, 3) is None) == (count == 1)
    assert threads.count() == 1
    assert threading.active_count() == before
    assert len(seen) <= count


def test_workers_shorten_the_switch_interval_only_while_they_run():
    import sys

    before = sys.getswitchinterval()
    with threads.using(1):
        assert sys.getswitchinterval() == before
    with pytest.raises(KeyError), threads.using(2):
        assert sys.getswitchinterval() == pytest.approx(min(before, threads.SWITCH_INTERVAL_S))
        raise KeyError("inside")
    assert sys.getswitchinterval() == before


def test_a_failing_item_raises_in_the_caller_after_every_helper_stopped():
    before = threading.active_count()

    def work(item: int) -> int:
        if item == 7:
            raise ArithmeticError("item 7")
        return item

    with pytest.raises(ArithmeticError, match="item 7"), threads.using(2):
        threads.map_ordered(work, range(20))
    assert threading.active_count() == before


@pytest.mark.parametrize("schedule", ["streaming", "baseline"])
def test_the_proof_is_the_same_for_every_thread_count(tmp_path, schedule):
    """Residual adds, max pooling and several layers: the next layer is built on a worker while one is
    proven, and the encoding shares its blocks; no byte may depend on it."""
    for seed in (3, 11):
        rng = np.random.default_rng(200 + seed)
        model = zoo.random_model(rng, max_layers=6)
        x = rng.integers(-128, 128, model.input_shape)
        proofs = []
        for count in (1, 2, 3):
            path = tmp_path / f"{seed}-{count}.proof"
            result = prover.prove(model, x, path, schedule=schedule, threads=count)
            assert result.threads == count
            proofs.append(path.read_bytes())
        assert proofs[0] == proofs[1] == proofs[2]
        assert verifier.verify(tmp_path / f"{seed}-2.proof", model).accepted


def test_large_commitments_encode_on_threads_with_the_same_proof(tmp_path, monkeypatch):
    """A layer whose rows take several encoding blocks (blocks made small) on 1 and 2 threads gives the same
    proof; with a private input (whose hiding commitment draws fresh randomness, so no two proofs are
    alike) the proof made on 2 threads is accepted."""
    from edgeprove.commit import ntt

    monkeypatch.setattr(ntt, "_BLOCK_ELEMENTS", 1 << 8)
    model = small_cnn(5)
    x = np.random.default_rng(5).integers(-128, 128, model.input_shape)
    one, two, private = tmp_path / "1", tmp_path / "2", tmp_path / "private"
    prover.prove(model, x, one, threads=1)
    prover.prove(model, x, two, threads=2)
    assert one.read_bytes() == two.read_bytes()
    prover.prove(model, x, private, threads=2, private_input=True)
    assert verifier.verify(private, model).accepted


def test_a_failing_layer_build_on_a_worker_stops_the_proof(tmp_path, monkeypatch):
    """A build started ahead fails: the error reaches the caller, no proof is left and no thread runs on."""
    original = prover._compute

    def compute(model, k, *args):
        if k == 1:
            assert threading.current_thread() is not threading.main_thread()
            raise ArithmeticError("built ahead")
        return original(model, k, *args)

    monkeypatch.setattr(prover, "_compute", compute)
    model = small_cnn(2)
    x = np.random.default_rng(2).integers(-128, 128, model.input_shape)
    before = threading.active_count()
    with pytest.raises(ArithmeticError, match="built ahead"):
        prover.prove(model, x, tmp_path / "p", threads=2)
    assert not (tmp_path / "p").exists()
    assert threading.active_count() == before


def test_one_thread_builds_each_layer_on_the_caller(tmp_path, monkeypatch):
    """With one thread nothing is built ahead: every layer's build runs in the calling thread."""
    where = []
    original = prover._compute

    def compute(*args):
        where.append(threading.current_thread() is threading.main_thread())
        return original(*args)

    monkeypatch.setattr(prover, "_compute", compute)
    model = small_cnn(4)
    x = np.random.default_rng(4).integers(-128, 128, model.input_shape)
    prover.prove(model, x, tmp_path / "p", threads=1)
    assert where == [True] * len(model.layers)
    where.clear()
    prover.prove(model, x, tmp_path / "q", threads=2)
    assert where[0] and not any(where[1:])
