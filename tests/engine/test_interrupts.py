import os
import signal

import pytest

from engine.interrupts import deferred_interrupts, graceful_stop


def test_ctrl_c_inside_the_section_is_raised_after_it() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("first half")
        done.append("second half")  # would be skipped if the signal cut the section
    assert done == ["first half", "second half"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_no_signal_no_exception() -> None:
    with deferred_interrupts():
        pass


def test_the_first_signal_requests_a_stop_and_the_second_aborts() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    notices = []
    with graceful_stop(lambda: notices.append("stopping")) as stop_requested:
        assert not stop_requested()
        os.kill(os.getpid(), signal.SIGTERM)  # the same handling as Ctrl-C (e.g. a scheduler's kill)
        assert stop_requested() and notices == ["stopping"]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert {s: signal.getsignal(s) for s in before} == before  # restored, whatever they were
