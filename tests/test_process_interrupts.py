"""SIGINT, SIGTERM and SIGHUP as one exception with exit 128+N; repeats ignored, cleanup deferred."""

import os
import signal

import pytest

from edgeprove.process.interrupts import Interrupted, as_interrupted, deferred_signals, signals_as_interrupt


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_each_signal_raises_interrupted_with_its_exit_code(signum: int, code: int) -> None:
    before = signal.getsignal(signum)
    with pytest.raises(Interrupted) as caught, signals_as_interrupt():
        os.kill(os.getpid(), signum)
    assert caught.value.exit_code == code and caught.value.signal_name == signal.Signals(signum).name
    assert signal.getsignal(signum) is before


def test_a_plain_keyboard_interrupt_is_ctrl_c() -> None:
    assert as_interrupted(KeyboardInterrupt()).exit_code == 130


def test_repeats_are_ignored_while_the_first_unwinds() -> None:
    cleaned = False
    with pytest.raises(Interrupted) as caught, signals_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            os.kill(os.getpid(), signal.SIGINT)
            cleaned = True
    assert cleaned and caught.value.signum == signal.SIGTERM


def test_deferred_cleanup_runs_to_its_end_then_raises() -> None:
    steps = []
    with pytest.raises(Interrupted) as caught, signals_as_interrupt():
        with deferred_signals():
            os.kill(os.getpid(), signal.SIGHUP)
            steps.append("after the signal")
        steps.append("never")
    assert steps == ["after the signal"] and caught.value.signum == signal.SIGHUP


def test_an_ignored_signal_stays_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with signals_as_interrupt():
            os.kill(os.getpid(), signal.SIGHUP)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_then_ignore_keeps_a_burst_of_signals_from_cutting_the_exit_short() -> None:
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {signum: signal.getsignal(signum) for signum in handled}
    try:
        with pytest.raises(Interrupted), signals_as_interrupt(then_ignore=True):
            os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # after the block: ignored, the command is exiting
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        with signals_as_interrupt(then_ignore=True):
            pass
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:  # all three: an ignored SIGTERM or SIGHUP would be inherited by later tests' children
        for signum, handler in before.items():
            signal.signal(signum, handler)
