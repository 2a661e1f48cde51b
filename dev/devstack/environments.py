"""Lambda's execution environments, locally: each is a process of its own that answers one
invocation at a time, and there are as many as the requests in flight need, up to a limit.

Lambda gives an execution environment one request at a time, so a function may keep its request
in module state (Powertools' resolver holds the current event) and still serve requests
concurrently: each concurrent request gets an environment of its own. Running the functions in
the stack's process would force one request at a time, and concurrent purchases for one
account would never race locally as they do in AWS. So invocations go to environment processes:
one is started with the stack, and another whenever every one is busy, as Lambda scales out,
up to `limit` (Lambda's concurrency limit; beyond it a request waits for a free environment,
where Lambda would throttle).

Every environment can run every function: they all have the functions' environment variables
(the stack merged them, `stack.functions_environment`) and import a handler on its first
invocation, as Lambda's init does. An environment reads the stack's clock from its file. What
a function prints (Powertools logs, EMF metrics) comes back over the environment's channel with
the answer, in order, and goes where the stack's own functions' output goes; output printed
after the answer arrives with the next invocation, as a Lambda environment is frozen between
invocations.

Run as ``python -m devstack.environments`` by `ExecutionEnvironments` only.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Mapping
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, BinaryIO

from billing import composition
from devstack.api_gateway import INTEGRATION_TIMEOUT, Handler, LocalLambdaContext, import_handler
from devstack.clock import shared_clock
from devstack.metrics import FunctionOutput, WholeLines
from devstack.processes import stop

logger = logging.getLogger(__name__)

_LOG, _ANSWER, _ERROR = "log", "answer", "error"


class FunctionError(RuntimeError):
    """The function raised (its traceback is in the function log), or its environment died."""


class _Environment:
    """One environment process, and the stack's end of its channel."""

    def __init__(self, command: list[str], variables: Mapping[str, str], output: BinaryIO) -> None:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            self.process = subprocess.Popen(
                [*command, "--channel-fd", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=dict(variables),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            self._channel = Connection(ours.detach())
        self._lost = False
        self._closing = threading.Lock()

    @property
    def usable(self) -> bool:
        return not self._lost and self.process.poll() is None

    def invoke(
        self, handler: str, event: dict[str, Any], context: LocalLambdaContext, log: FunctionOutput
    ) -> Any:
        try:
            self._channel.send((handler, event, context))
            while True:
                kind, value = self._channel.recv()
                if kind == _LOG:
                    log.add(value)
                elif kind == _ANSWER:
                    return value
                else:
                    raise FunctionError(value)
        except (EOFError, OSError) as error:
            self._lost = True
            raise FunctionError(
                f"the execution environment (pid {self.process.pid}) died: {error!r}"
            ) from error

    def close(self) -> None:
        """The process stopped first, so that a thread still reading its channel sees it end
        rather than a closed descriptor; then the channel closed, once."""
        with self._closing:
            stop(self.process)
            if not self._channel.closed:
                self._channel.close()


class ExecutionEnvironments:
    """Invocations spread over environment processes: an idle one if any, else a new one while
    fewer than `limit` run, else the first to be free."""

    def __init__(
        self,
        *,
        limit: int,
        variables: Mapping[str, str],
        clock_file: Path,
        log: FunctionOutput,
        output: BinaryIO,
    ) -> None:
        """`variables` is every environment's ``os.environ`` (its ``PYTHONPATH`` included);
        `log` takes what the functions print; `output` what the processes write outside the
        functions' output (a crash's traceback)."""
        if limit < 1:
            raise ValueError("an execution environment limit is at least 1")
        self._command = [sys.executable, "-m", __name__, "--clock-file", str(clock_file)]
        self._variables = dict(variables)
        self._limit = limit
        self._log = log
        self._output = output
        self._running: set[_Environment] = set()
        self._idle: list[_Environment] = []
        self._starting = 0
        self._closed = False
        self._free = threading.Condition()
        first = self._start()
        self._running.add(first)
        self._idle.append(first)

    def handler(self, name: str) -> Handler:
        """The function `name` (a template ``Handler``) as the local API Gateway calls it."""
        return partial(self.invoke, name)

    def invoke(self, handler: str, event: dict[str, Any], context: LocalLambdaContext) -> Any:
        environment = self._acquire()
        try:
            return environment.invoke(handler, event, context, self._log)
        finally:
            self._give_back(environment)

    @property
    def size(self) -> int:
        """How many environments run now."""
        with self._free:
            return len(self._running)

    def close(self) -> None:
        """Every environment stopped, once the invocations under way are answered (or API
        Gateway's integration timeout has passed)."""
        with self._free:
            self._closed = True
            self._free.notify_all()
            self._free.wait_for(
                lambda: not self._starting and len(self._idle) == len(self._running),
                timeout=INTEGRATION_TIMEOUT.total_seconds(),
            )
            environments = list(self._running)
            self._running.clear()
            self._idle.clear()
        for environment in environments:
            environment.close()

    def _start(self) -> _Environment:
        return _Environment(self._command, self._variables, self._output)

    def _acquire(self) -> _Environment:
        with self._free:
            while not (self._idle or self._closed) and self._count() >= self._limit:
                self._free.wait()
            if self._closed:
                raise FunctionError("the local stack is stopping")
            if self._idle:
                return self._idle.pop()
            self._starting += 1
        # Started outside the lock: a cold start keeps no other request waiting.
        try:
            environment = self._start()
        except BaseException:
            with self._free:
                self._starting -= 1
                self._free.notify_all()
            raise
        with self._free:
            self._starting -= 1
            self._running.add(environment)
            running = len(self._running)
        logger.info(
            "every execution environment was busy: started another (%d of at most %d)",
            running,
            self._limit,
        )
        return environment

    def _count(self) -> int:
        """Environments running or starting."""
        return len(self._running) + self._starting

    def _give_back(self, environment: _Environment) -> None:
        usable = environment.usable
        with self._free:
            if usable:
                self._idle.append(environment)
            else:
                self._running.discard(environment)
            self._free.notify_all()
        if not usable:
            environment.close()


# --- inside an environment ---


def _serve(channel: Connection) -> None:
    """Answer invocations until the stack closes the channel."""
    sending = threading.Lock()

    def send(message: tuple[str, Any]) -> None:
        with sending:
            channel.send(message)

    sys.stdout = WholeLines(lambda lines: send((_LOG, lines)))
    handlers: dict[str, Handler] = {}
    while True:
        try:
            name, event, context = channel.recv()
        except EOFError:
            return
        try:
            if name not in handlers:
                handlers[name] = import_handler(name)
            answer = handlers[name](event, context)
        except Exception as error:
            # As Lambda's runtime does, the traceback goes to the function's log.
            traceback.print_exc(file=sys.stdout)
            send((_ERROR, f"{name} raised {type(error).__name__}: {error}"))
        else:
            send((_ANSWER, answer))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--clock-file", type=Path, required=True)
    args = parser.parse_args()
    # Ctrl-C reaches the whole process group; the stack stops its environments itself, after
    # the requests under way are answered.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    composition.clock = shared_clock(args.clock_file)
    with Connection(args.channel_fd) as channel:
        _serve(channel)


if __name__ == "__main__":
    main()
