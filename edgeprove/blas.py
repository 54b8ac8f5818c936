"""The float64 BLAS self-test: exact integer products are checked, not assumed, before any proof or verdict.

The field arithmetic (``field._limb_dot``, ``layers.common.fold_rows``) and the layers' integer maps run
through float64 matrix products, which are exact on integers whose sums stay below 2^53 on any correct
BLAS. A broken one exists: OpenBLAS picking a kernel for vector instructions that the CPU (or an emulator
such as qemu) executes wrongly gave errors up to 7.5e13 on integer inputs. A prover on it fails its own
consistency checks at best; a verifier on it could reach a verdict on wrong sums. So ``prove`` and
``verify`` first multiply a few integer matrices shaped like theirs and compare with numpy's own exact
int64 products (which do not use BLAS), once per process.
"""

from __future__ import annotations

import contextlib
import ctypes
import platform

import numpy as np

_product = np.matmul
"""The float64 product under test (the one every layer uses)."""
_verified = False
"""Set once the self-test has passed in this process."""

WORKAROUND = (
    "set OPENBLAS_CORETYPE=ARMV8 on ARM (Haswell on x86-64) so that OpenBLAS takes a plain kernel, or "
    "QEMU_CPU=cortex-a72 under qemu emulation, or use a numpy built on another BLAS (e.g. Debian's "
    "python3-numpy)"
)


class InexactBLAS(RuntimeError):
    """This machine's float64 matrix products are wrong on integers: no proof or verdict can be trusted."""


def _cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Integer matrices shaped like the prover's products, every sum below 2^53: 16-bit limbs times limbs
    with a transposed operand (field inner products), limbs times int8 (weight folds), int8 times int8
    (dense and convolution maps, including a matrix-vector product), and a square block of 20-bit values."""
    rng = np.random.default_rng(20240531)
    limbs_a = rng.integers(0, 1 << 16, size=(16, 2048))
    limbs_b = rng.integers(0, 1 << 16, size=(12, 2048))
    eq_limbs = rng.integers(0, 1 << 16, size=(4, 300))
    weights = rng.integers(-128, 128, size=(300, 70))
    dense = rng.integers(-128, 128, size=(64, 400))
    activations = rng.integers(-128, 128, size=(400, 1))
    conv_w = rng.integers(-128, 128, size=(16, 6))
    conv_x = rng.integers(-128, 128, size=(6, 784))
    square = rng.integers(-(1 << 20), 1 << 20, size=(96, 96))
    return [
        ("limb Gram", limbs_a, limbs_b.T),
        ("limb fold", eq_limbs, weights),
        ("matrix-vector", dense, activations),
        ("convolution", conv_w, conv_x),
        ("square", square, square.T.copy()),
    ]


def first_wrong_product() -> str | None:
    """None when every test product is exact; otherwise which one is wrong and by how much."""
    for name, a, b in _cases():
        expected = np.matmul(a.astype(np.int64), b.astype(np.int64))
        got = _product(a.astype(np.float64), b.astype(np.float64))
        if got.shape == expected.shape and np.array_equal(got, expected.astype(np.float64)):
            continue
        shapes = f"{a.shape[0]}x{a.shape[1]} by {b.shape[0]}x{b.shape[1]}"
        if got.shape != expected.shape:
            return f"the {name} product ({shapes}) has shape {got.shape}"
        with np.errstate(invalid="ignore"):
            error = float(np.nanmax(np.abs(got - expected)))
        return f"the {name} product ({shapes}) of integers is off by up to {error:.3g}"
    return None


def _openblas_core() -> str | None:
    """The kernel OpenBLAS chose at run time (e.g. Haswell, NeoverseN1, ARMV8SVE), if it is loaded."""
    with contextlib.suppress(OSError):
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
        for path in sorted(paths):
            with contextlib.suppress(OSError):
                library = ctypes.CDLL(path)
                for symbol in (
                    "openblas_get_corename",
                    "openblas_get_corename64_",
                    "scipy_openblas_get_corename64_",
                    "scipy_openblas_get_corename",
                ):
                    function = getattr(library, symbol, None)
                    if function is not None:
                        function.restype = ctypes.c_char_p
                        name = function()
                        return name.decode(errors="replace") if name else None
    return None


def blas_description() -> str:
    """numpy's BLAS as its build configuration names it, with OpenBLAS's run-time kernel and the machine."""
    name = "unknown BLAS"
    with contextlib.suppress(Exception):
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{config.get('name', 'unknown')} {config.get('version', '')}".strip()
    core = _openblas_core()
    kernel = f", kernel {core}" if core else ""
    return f"{name}{kernel}, numpy {np.__version__} on {platform.machine() or 'unknown machine'}"


def require_exact_blas() -> None:
    """Raise InexactBLAS (one line: what is wrong, the BLAS, the workaround) unless float64 products of
    integers are exact here; the test runs once per process (a few milliseconds)."""
    global _verified
    if _verified:
        return
    wrong = first_wrong_product()
    if wrong is not None:
        raise InexactBLAS(
            f"float64 matrix products are not exact on this machine ({blas_description()}): {wrong}, so no "
            f"proof or verdict computed here could be trusted. Workaround: {WORKAROUND}"
        )
    _verified = True
