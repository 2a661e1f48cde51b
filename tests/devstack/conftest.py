"""moto server as the local stack runs it: stamping stream records with a stack clock of the
module's own (its clock file)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from devstack.clock import StackClock
from tests.support.moto_server import MotoServer
from tests.support.stand_ins import listening

START = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
"""Where the stack clock of each module starts: long before the wall clock, so that a record
stamped with the wall clock would never look old on the stack's."""


@dataclass(frozen=True)
class ClockedMoto:
    server: MotoServer
    clock: StackClock


@pytest.fixture(scope="module")
def clocked_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClockedMoto]:
    """moto server (as `devstack.moto_server` runs it in the stack) reading a stack clock's
    file; tests share it, each with resources of its own prefix, and move the clock forward
    only."""
    clock_file = tmp_path_factory.mktemp("clock") / "clock"
    clock = StackClock(START, file=clock_file)
    with listening(
        lambda port: [
            sys.executable,
            *("-m", "devstack.moto_server", "--host", "127.0.0.1", "--port", str(port)),
            *("--clock-file", str(clock_file)),
        ]
    ) as port:
        yield ClockedMoto(MotoServer(f"http://127.0.0.1:{port}"), clock)
