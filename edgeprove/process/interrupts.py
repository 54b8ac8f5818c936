"""SIGINT, SIGTERM and SIGHUP as one exception, so a command cleans up the same way for each and exits 128+N.

`signals_as_interrupt()` makes the first of these signals raise `Interrupted` in the main thread; later ones
are ignored while that exception unwinds (a second Ctrl-C cannot cut a cleanup short). Cleanup that must run
to its end even on the first signal goes inside `deferred_signals()`: a signal arriving there is raised when
the block ends. A signal that was ignored when the block started (`nohup`, a background job) stays ignored.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

from edgeprove.exitcodes import EXIT_SIGNAL_BASE

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A handled signal arrived; `exit_code` is 128 + its number (130 SIGINT, 143 SIGTERM, 129 SIGHUP)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention for death by this signal."""
        return EXIT_SIGNAL_BASE + self.signum

    @property
    def signal_name(self) -> str:
        """SIGINT, SIGTERM or SIGHUP."""
        return signal.Signals(self.signum).name


def as_interrupted(error: KeyboardInterrupt) -> Interrupted:
    """A KeyboardInterrupt as Interrupted (a plain one is Ctrl-C: SIGINT)."""
    return error if isinstance(error, Interrupted) else Interrupted(signal.SIGINT)


@dataclass
class _State:
    installed: bool = False
    raised: bool = False
    deferring: int = 0
    pending: int | None = None


_state = _State()


def _handler(signum: int, frame: FrameType | None) -> None:
    if _state.raised:
        return
    if _state.deferring:
        _state.pending = _state.pending or signum
        return
    _state.raised = True
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_as_interrupt(then_ignore: bool = False) -> Iterator[None]:
    """Within the block SIGINT, SIGTERM and SIGHUP raise Interrupted once (no-op off the main thread).

    The previous handlers come back when the block ends; with `then_ignore`, after an interruption the
    signals stay ignored instead, for a command that exits next (a late Ctrl-C cannot cut its exit short).
    """
    if _state.installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in HANDLED}
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, _handler)
    _state.installed = True
    try:
        yield
    finally:
        keep_ignoring = then_ignore and _state.raised
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_IGN if keep_ignoring else handler)
        _state.installed, _state.raised, _state.deferring, _state.pending = False, False, 0, None


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Run the block to its end; a handled signal that arrives meanwhile is raised when it ends."""
    _state.deferring += 1
    try:
        yield
    finally:
        _state.deferring -= 1
        if not _state.deferring and _state.pending is not None:
            pending, _state.pending = _state.pending, None
            if not _state.raised:
                _state.raised = True
                raise Interrupted(pending)
