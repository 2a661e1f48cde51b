"""The local stack as a developer runs it: a command started on free ports in a session of its
own (as a terminal's foreground job), called over HTTP, and stopped with Ctrl-C.

`running_stack` starts one; tests/e2e/conftest.py shares one for the session (its `stack`
fixture). A test on the shared stack opens accounts of its own (`RunningStack.customer`), reads
the clock rather than assuming it (`RunningStack.now`), and clears the faults it injects into the
stand-ins (`RunningStack.localstripe`, `RunningStack.paypal`: `tests.support.stand_ins.StandIn`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import HOST, free_port
from tests.support.api import fresh_account_id
from tests.support.localstripe import confirm_setup
from tests.support.stand_ins import StandIn

ROOT = Path(__file__).resolve().parents[2]
STACK = [sys.executable, "-m", "devstack"]
"""What `make dev` runs once the virtual environment is installed."""
START = "2026-01-31T09:30:00Z"
"""Where the tests start the clock (DEV_CLOCK_START): a month-end anchor."""
STARTUP_SECONDS = 180
"""First start after an install imports every function; well within this."""
PORT_VARIABLES = (
    "DEV_API_PORT",
    "DEV_MOTO_PORT",
    "DEV_STRIPE_PORT",
    "DEV_PAYPAL_PORT",
    "DEV_VIES_PORT",
)


@dataclass
class Answer:
    status: int
    body: Any


@dataclass(frozen=True)
class Customer:
    account_id: str
    token: str
    """For ``Authorization: Bearer``."""


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]
    url: str
    ports: dict[str, int]
    output: Path
    work: Path

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        key: str | None = None,
    ) -> Answer:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if key is not None:
            headers["Idempotency-Key"] = key
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Answer(response.status, json.loads(response.read()))
        except urllib.error.HTTPError as error:
            return Answer(error.code, json.loads(error.read()))

    def shell_variables(self) -> dict[str, str]:
        text = (self.work / "env").read_text(encoding="utf-8")
        return dict(
            line.removeprefix("export ").split("=", 1) for line in text.splitlines() if line
        )

    def now(self) -> str:
        """The stack's clock (``2026-01-31T09:30:00Z``)."""
        instant: str = self.call("POST", "/_dev/clock", {}).body["now"]
        return instant

    def customer(
        self, name: str, card: str | None = "pm_card_visa", *, locale: str = "en"
    ) -> Customer:
        """A fresh account (its id starts with `name`) in `locale`, opened by the admin, with
        Stripe's test `card` saved (none if told)."""
        account_id = fresh_account_id(name)
        opened = self.call(
            "PUT",
            f"/admin/accounts/{account_id}",
            {"email": f"{account_id}@example.com", "locale": locale, "domain_zone": "com"},
            token=self.shell_variables()["ADMIN_TOKEN"],
        )
        assert opened.status == 201, opened.body
        token: str = self.call("POST", "/_dev/token", {"account_id": account_id}).body["token"]
        if card is not None:
            saved = self.save_card(token, card)
            assert saved.status == 200, saved.body
        return Customer(account_id, token)

    def save_card(
        self, token: str, card: str = "pm_card_visa", *, authenticate: bool = False
    ) -> Answer:
        """The card form's flow: the setup started, its SetupIntent confirmed with Stripe's test
        `card` at the stack's localstripe (and the bank's 3-D Secure check passed, when it asks
        and the customer does: `authenticate`), then saved."""
        started = self.call(
            "POST", "/account/payment-method/setup", {"method": "card"}, token=token
        )
        assert (started.status, started.body["flow"]) == (200, "card_form"), started.body
        setup = started.body["reference"]
        confirm_setup(self.localstripe, setup, card, authenticate=authenticate)
        body = {"provider": "stripe", "setup_intent_id": setup}
        return self.call("PUT", "/account/payment-method", body, token=token)

    @property
    def localstripe(self) -> StandIn:
        return StandIn(f"http://{HOST}:{self.ports['DEV_STRIPE_PORT']}", "/_config")

    @property
    def paypal(self) -> StandIn:
        return StandIn(f"http://{HOST}:{self.ports['DEV_PAYPAL_PORT']}", "/_standin")

    @property
    def vies(self) -> StandIn:
        return StandIn(f"http://{HOST}:{self.ports['DEV_VIES_PORT']}", "/_standin")


def eventually(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Return once `condition()` holds; fail saying `what` did not happen within `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f}s")
        time.sleep(0.05)


def wait_until_serving(stack: RunningStack) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            pytest.fail(f"make dev exited:\n{stack.output.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{stack.url}/openapi.json", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"make dev did not serve within {STARTUP_SECONDS}s")


@contextmanager
def running_stack(command: Sequence[str], tmp_path: Path) -> Iterator[RunningStack]:
    """`command` (``make dev`` or ``python -m devstack``) on free ports until the block ends,
    the clock at START; killed if still running then."""
    ports = {variable: free_port() for variable in PORT_VARIABLES}
    assert len(set(ports.values())) == len(ports)
    output = tmp_path / "make-dev.out"
    environment = {
        **os.environ,
        **{variable: str(port) for variable, port in ports.items()},
        "DEV_CLOCK_START": START,
        "DEV_WORK_DIR": str(tmp_path / "devstack"),
    }
    with output.open("wb") as sink:
        # Its own session: Ctrl-C in a terminal signals the whole foreground process group.
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://{HOST}:{ports['DEV_API_PORT']}"
    running = RunningStack(process, url, ports, output, tmp_path / "devstack")
    try:
        wait_until_serving(running)
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def group_is_gone(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    return False


def ctrl_c(stack: RunningStack) -> str:
    os.killpg(stack.process.pid, signal.SIGINT)
    stack.process.wait(timeout=60)
    deadline = time.monotonic() + 10
    while not group_is_gone(stack.process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return stack.output.read_text(errors="replace")
