"""The local stack's servers (moto server, localstripe, the PayPal stand-in) as `make dev`
starts them: they outlive the Ctrl-C a terminal sends the whole process group, so that what of
the stack still uses them (an email being sent from the outbox's stream) finishes, and they are
stopped by the stack itself, last."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from devstack.clock import StackClock
from devstack.processes import free_port
from devstack.stack import CHILDREN, CLOCK_FILE, children
from tests.devstack.conftest import START

pytestmark = pytest.mark.devstack


def test_the_servers_ignore_ctrl_c_and_stop_when_the_stack_stops_them(tmp_path: Path) -> None:
    chosen = {child.port: free_port() for child in CHILDREN}
    StackClock(START, file=tmp_path / CLOCK_FILE)

    with children(chosen, tmp_path) as processes:
        for process in processes:
            os.kill(process.pid, signal.SIGINT)
        time.sleep(0.5)  # a server that took the signal would be gone by now
        stopped = [process.args for process in processes if process.poll() is not None]
        assert stopped == [], "stopped by Ctrl-C"

    assert all(process.poll() is not None for process in processes), "stopped by the stack"
