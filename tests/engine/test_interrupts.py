import os
import signal

import pytest

from engine.interrupts import deferred_interrupts


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
