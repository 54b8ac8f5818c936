"""Shared fixtures: small hand-built integer models covering every layer kind; helpers for the harness tests
(their own cgroups only, a phase-pausing child hook, a small tmpfs)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from edgeprove.harness.backends import BackendUnavailable, cgroup_owner
from edgeprove.harness.docker_backend import DockerBackend
from edgeprove.model.ir import Layer, Model

ENTRY_POINT = "import sys; from edgeprove.cli import main; sys.exit(main())"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
PAUSE_HOOK = """
import os, sys, time
if len(sys.argv) > 1 and sys.argv[1] in os.environ.get("EDGEPROVE_TEST_PAUSE", "").split(","):
    try:
        with open(os.path.join(os.environ["EDGEPROVE_TEST_PAUSE_DIR"], sys.argv[1] + ".pid"), "w") as out:
            out.write(str(os.getpid()))
    except OSError:
        pass
    time.sleep(120)
"""
"""sitecustomize for children `python -c ENTRY_POINT PHASE ...`: listed phases (plan, prove, verify) write
their pid and sleep, so a test can signal the harness while it waits in that phase."""


def require(condition: bool, reason: str) -> None:
    """Skip locally when a real component is missing; on CI that is a failure, never a skip."""
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide this: {reason}")
        pytest.skip(reason)


def altered_model(model: Model) -> Model:
    """The same architecture and name with one weight changed: another model (another digest)."""
    weights = [
        np.array(model.weight(i)) if layer.has_weights else None for i, layer in enumerate(model.layers)
    ]
    index = next(i for i, w in enumerate(weights) if w is not None)
    weights[index].flat[0] ^= 1
    biases = [None if b is None else np.array(b) for b in model.biases]
    return Model(model.name, model.input_shape, model.input_frac, model.layers, weights, biases)


def widest_tables(monkeypatch, model: Model) -> list[int]:
    """Make the prover pick every activation table as wide as the model's static bound allows (an honest
    but maximal choice); returns those widths."""
    from edgeprove.layers import requant
    from edgeprove.model.bounds import check_model

    widths = [
        b.q_bits
        for layer, b in zip(model.layers, check_model(model))
        if layer.requantized and layer.kind != "maxpool"
    ]
    chosen = iter(widths)
    monkeypatch.setattr(requant, "act_bits_for", lambda q: next(chosen))
    return widths


@pytest.fixture()
def docker_backend() -> DockerBackend:
    """The Docker backend against the daemon .ci/services.sh starts (on CI its absence is a failure)."""
    require("DOCKER_HOST" in os.environ, "no DOCKER_HOST: source .ci/services.sh to start a local dockerd")
    backend = DockerBackend()
    try:
        backend.probe()
    except BackendUnavailable as error:
        require(False, str(error))
    return backend


def own_cgroups(parent: Path, owner_pid: int) -> list[str]:
    """Names of the run cgroups under `parent` created by process `owner_pid` (other runs' are not ours)."""
    names = []
    for entry in parent.iterdir():
        owner = cgroup_owner(entry.name)
        if owner is not None and owner.pid == owner_pid:
            names.append(entry.name)
    return names


def edgeprove_process(
    *arguments: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[str]:
    """Start `edgeprove ARGUMENTS` as a real process (its own signals, exit code and stderr), with SIGINT
    deliverable even if this test run was started with it ignored."""
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY_POINT, *arguments],
        env=env,
        cwd=cwd or PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def pausing_env(folder: Path, *phases: str) -> dict[str, str]:
    """An environment whose edgeprove children in `phases` write FOLDER/PHASE.pid and then sleep."""
    (folder / "sitecustomize.py").write_text(PAUSE_HOOK)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))
    env["EDGEPROVE_TEST_PAUSE"] = ",".join(phases)
    env["EDGEPROVE_TEST_PAUSE_DIR"] = str(folder)
    return env


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> object:
    """Poll until `condition()` is truthy (and return it); fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def paused_pid(folder: Path, phase: str, timeout: float = 60.0) -> int:
    """The pid of the child paused in `phase`, once it has started."""
    path = folder / f"{phase}.pid"
    return int(wait_for(lambda: path.exists() and path.read_text(), timeout, f"the {phase} child"))


def gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie left for init to reap counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


@contextlib.contextmanager
def small_tmpfs(size: str, read_only: bool = False) -> Iterator[Path]:
    """A freshly mounted tmpfs of `size` (root only), unmounted and removed afterwards: a disk that fills,
    or with `read_only` one that takes nothing."""
    require(os.geteuid() == 0, "mounting a tmpfs needs root")
    mount_point = Path(tempfile.mkdtemp(prefix="edgeprove-tmpfs-"))
    options = f"size={size},mode=0755" + (",ro" if read_only else "")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        mount_point.rmdir()
        require(False, f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        mount_point.rmdir()


def fill(folder: Path, name: str = "filler") -> Path:
    """Write zeros into FOLDER/NAME until the filesystem is full."""
    path = folder / name
    with contextlib.suppress(OSError), open(path, "wb") as out:
        while True:
            out.write(bytes(1 << 16))
            out.flush()
    with contextlib.suppress(OSError), open(folder / f"{name}.tail", "wb") as out:
        while True:
            out.write(b"\0")
            out.flush()
    return path


def small_cnn(seed: int = 1) -> Model:
    """Conv (stride 2, pad 1, odd shapes), residual conv, avgpool, global pool, dense, accumulator out."""
    rng = np.random.default_rng(seed)
    layers = [
        Layer(
            "conv1",
            "conv2d",
            -1,
            (2, 7, 5),
            (3, 4, 3),
            shift=6,
            activation="relu",
            kernel=3,
            stride=2,
            padding=1,
        ),
        Layer(
            "conv2",
            "conv2d",
            0,
            (3, 4, 3),
            (3, 4, 3),
            shift=7,
            activation="relu",
            kernel=3,
            padding=1,
            residual=0,
            residual_shift=2,
        ),
        Layer("pool", "avgpool", 1, (3, 4, 3), (3, 2, 1), shift=2, activation="relu", kernel=2, stride=2),
        Layer("conv3", "conv2d", 2, (3, 2, 1), (4, 2, 1), shift=5, activation="clamp", kernel=1),
        Layer("gap", "global_avgpool", 3, (4, 2, 1), (4, 1, 1), shift=1, activation="clamp"),
        Layer("fc", "dense", 4, (4, 1, 1), (5, 1, 1), shift=0, activation="none"),
    ]
    weights = [
        rng.integers(-60, 60, (3, 2, 3, 3)).astype(np.int8),
        rng.integers(-60, 60, (3, 3, 3, 3)).astype(np.int8),
        None,
        rng.integers(-60, 60, (4, 3, 1, 1)).astype(np.int8),
        None,
        rng.integers(-60, 60, (5, 4)).astype(np.int8),
    ]
    biases = [
        rng.integers(-100, 100, 3),
        rng.integers(-100, 100, 3),
        None,
        rng.integers(-50, 50, 4),
        None,
        rng.integers(-100, 100, 5),
    ]
    return Model("small_cnn", (2, 7, 5), 0, layers, weights, biases)


def small_mlp(seed: int = 2, widths=(6, 9, 3), final: str = "relu") -> Model:
    """Dense layers (flatten from a 3-D input), requantized last layer."""
    rng = np.random.default_rng(seed)
    shapes = [(3, 1, 2)] + [(w, 1, 1) for w in widths]
    layers, weights, biases = [], [], []
    for i in range(len(widths)):
        act = final if i == len(widths) - 1 else "relu"
        shift = 0 if act == "none" else 5
        layers.append(Layer(f"fc{i}", "dense", i - 1, shapes[i], shapes[i + 1], shift=shift, activation=act))
        fan_in = int(np.prod(shapes[i]))
        weights.append(rng.integers(-90, 90, (widths[i], fan_in)).astype(np.int8))
        biases.append(rng.integers(-200, 200, widths[i]))
    return Model("small_mlp", shapes[0], 0, layers, weights, biases)


@pytest.fixture(scope="session")
def cnn() -> Model:
    return small_cnn()


@pytest.fixture(scope="session")
def mlp() -> Model:
    return small_mlp()


def maxpool_cnn(seed: int = 5, final: str = "none") -> Model:
    """Max pools on the input (3x3, stride 1, k^2 = 9 slices) and after a ReLU conv (2x2, stride 2)."""
    rng = np.random.default_rng(seed)
    layers = [
        Layer("mp0", "maxpool", -1, (2, 6, 7), (2, 4, 5), shift=0, activation="clamp", kernel=3, stride=1),
        Layer("conv", "conv2d", 0, (2, 4, 5), (3, 4, 5), shift=6, activation="relu", kernel=3, padding=1),
        Layer("mp1", "maxpool", 1, (3, 4, 5), (3, 2, 2), shift=0, activation="relu", kernel=2, stride=2),
        Layer("fc", "dense", 2, (3, 2, 2), (4, 1, 1), shift=0 if final == "none" else 5, activation=final),
    ]
    weights = [
        None,
        rng.integers(-60, 60, (3, 2, 3, 3)).astype(np.int8),
        None,
        rng.integers(-60, 60, (4, 12)).astype(np.int8),
    ]
    biases = [None, rng.integers(-100, 100, 3), None, rng.integers(-100, 100, 4)]
    return Model("maxpool_cnn", (2, 6, 7), 0, layers, weights, biases)


def reference_encoding(matrix: np.ndarray, rate_log: int) -> np.ndarray:
    """Every row's Reed-Solomon codeword at once, column-major uint32 (L, R): row c is encoded column c.
    What a commitment computed whole before it streamed, kept as the tests' reference."""
    from edgeprove.commit import ntt

    return np.ascontiguousarray(ntt.rs_encode(matrix, rate_log).T, dtype=np.uint32)


def reference_tree(encoded: np.ndarray):
    """The Merkle tree over the columns of a whole encoded matrix (``reference_encoding``'s rows)."""
    from edgeprove.commit import merkle

    return merkle.MerkleTree.from_leaves([merkle.column_bytes(column) for column in encoded])
