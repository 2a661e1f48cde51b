"""The local stack's execution environments: one process answers one invocation at a time,
another starts when every one is busy, up to the limit; what the functions print reaches the
function log and the metrics; each reads the stack's clock; an error or a crash is the
function's, and a crashed environment is replaced."""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devstack.api_gateway import LocalLambdaContext
from devstack.clock import StackClock
from devstack.environments import ExecutionEnvironments, FunctionError
from devstack.metrics import FunctionOutput, MetricStore, total
from tests.unit.devstack.test_clock import START

ROOT = Path(__file__).resolve().parents[3]
HANDLERS = "tests.devstack.environment_handlers"


class Pool:
    def __init__(self, tmp_path: Path, limit: int) -> None:
        self.clock = StackClock(START, file=tmp_path / "clock")
        self.log = io.StringIO()
        self.metrics = MetricStore()
        given = os.environ.get("PYTHONPATH", "")
        self._output = (tmp_path / "environments.log").open("ab")
        self.environments = ExecutionEnvironments(
            limit=limit,
            variables={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), given])},
            clock_file=tmp_path / "clock",
            log=FunctionOutput(self.log, self.metrics),
            output=self._output,
        )

    def invoke(self, name: str, **event: Any) -> Any:
        return self.environments.invoke(
            f"{HANDLERS}.{name}", dict(event), LocalLambdaContext.for_function("TestFunction")
        )

    def close(self) -> None:
        self.environments.close()
        self._output.close()


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[Pool]:
    started = Pool(tmp_path, limit=2)
    yield started
    started.close()


def test_one_environment_answers_one_invocation_after_another(pool: Pool) -> None:
    assert pool.environments.size == 1, "one is started with the stack"

    first = pool.invoke("report", say="hello")
    second = pool.invoke("report", say="again")

    assert first["pid"] == second["pid"] != os.getpid(), "in a process of its own, reused"
    assert first["function"] == "TestFunction"
    assert pool.environments.size == 1


def test_what_functions_print_reaches_the_log_and_the_metrics_before_the_answer(
    pool: Pool,
) -> None:
    mark = pool.metrics.mark()

    pool.invoke("report", say="hello")

    logged = [json.loads(line) for line in pool.log.getvalue().splitlines()]
    assert [entry["message"] for entry in logged if "message" in entry] == ["hello"]
    assert total(pool.metrics.since(mark), "Reported") == 1


def test_the_functions_read_the_stacks_clock(pool: Pool) -> None:
    assert pool.invoke("report", say="")["now"] == "2026-01-31T09:30:00Z"

    pool.clock.set(datetime(2026, 2, 28, 9, 30, tzinfo=UTC))

    assert pool.invoke("report", say="")["now"] == "2026-02-28T09:30:00Z"


def _meet(listener: socket.socket) -> tuple[socket.socket, int]:
    """The next invocation of `meet` in flight, and the pid of its environment."""
    connection, _ = listener.accept()
    return connection, int(connection.recv(16))


def test_busy_environments_scale_out_to_the_limit_and_no_further(pool: Pool) -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as listener,
        ThreadPoolExecutor(3) as invoking,
    ):
        listener.settimeout(60)
        port = listener.getsockname()[1]
        invocations = [invoking.submit(pool.invoke, "meet", port=port) for _ in range(3)]

        # Two are in flight together, each in an environment of its own ...
        together = [_meet(listener) for _ in range(2)]
        assert len({pid for _, pid in together}) == 2
        assert pool.environments.size == 2
        for connection, _ in together:
            connection.sendall(b"!")
            connection.close()
        # ... and the third waited for one of them: the limit is 2.
        last, last_pid = _meet(listener)
        last.sendall(b"!")
        last.close()
        answers = [invocation.result() for invocation in invocations]

    assert last_pid in {pid for _, pid in together}
    assert sorted(answer["pid"] for answer in answers) == sorted(
        [*(pid for _, pid in together), last_pid]
    )
    assert pool.environments.size == 2


def test_an_error_is_the_functions_and_its_environment_goes_on(pool: Pool) -> None:
    before = pool.invoke("report", say="")["pid"]

    with pytest.raises(FunctionError, match="raised ValueError: no such plan"):
        pool.invoke("fail")

    assert "ValueError: no such plan" in pool.log.getvalue(), "the traceback is in the log"
    assert pool.invoke("report", say="")["pid"] == before


def test_a_crashed_environment_is_replaced(pool: Pool) -> None:
    before = pool.invoke("report", say="")["pid"]

    with pytest.raises(FunctionError, match="died"):
        pool.invoke("die")

    assert pool.environments.size == 0
    assert pool.invoke("report", say="")["pid"] != before
    assert pool.environments.size == 1
