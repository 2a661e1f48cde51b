"""Local servers as child processes on loopback: a port check that explains itself, a start
that waits until the child listens, and a stop that leaves nothing running."""

from __future__ import annotations

import errno
import signal
import socket
import subprocess
import time
from collections.abc import Sequence

HOST = "127.0.0.1"
STARTUP_SECONDS = 30.0
STOP_SECONDS = 10.0


class PortTaken(RuntimeError):
    """A port the stack needs is already in use."""


class StartFailed(RuntimeError):
    """A child process exited, or did not listen in time, while starting."""


def free_port() -> int:
    """A loopback port nothing listens on now (the system picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def ensure_free(port: int, what: str, variable: str) -> None:
    """Raise `PortTaken`, naming `what` uses the port and the variable that moves it, unless
    `port` can be bound on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers bind: connections of a stopped server waiting out TIME_WAIT do not
        # keep a new one from listening.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise PortTaken(
                f"port {port} on {HOST} ({what}) is already in use: stop what listens there, "
                f"or choose another port with {variable}=<port>"
            ) from error


def start(command: Sequence[str], port: int) -> subprocess.Popen[bytes]:
    """Run `command` and return once something listens on `port`; `StartFailed` (the child
    stopped) if it exits first or does not listen within `STARTUP_SECONDS`."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_listening(process, port)
    except BaseException:
        stop(process)
        raise
    return process


def ignore_interrupts() -> None:
    """For a child of the local stack, before it runs: SIGINT ignored. Ctrl-C in a terminal
    reaches the whole foreground process group, and a server stopped by it at once would pull
    the ground from under what of the stack still uses it (an email being sent from the
    outbox's stream). The stack stops its children itself, last, with `stop`; they stay in the
    group, so a signal sent to the group by anything else (SIGTERM, SIGKILL) still reaches
    them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartFailed(f"{process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise StartFailed(f"{process.args!r} not listening on {port} after {STARTUP_SECONDS:.0f}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate `process` (if still running) and wait for it; killed if it lingers."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
