"""The running local stack shared by the end-to-end tests."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.devstack import STACK, RunningStack, running_stack


class _SharedStack:
    """The worker's one stack: started by the first test that asks for it, stopped as soon as
    the worker's next test does not use it (its pollers would otherwise take a fifth of a core
    for the rest of the run); started again should a later test ask for it."""

    def __init__(self) -> None:
        self._running: RunningStack | None = None
        self._exit = ExitStack()

    def get(self, work: Path) -> RunningStack:
        if self._running is None:
            self._running = self._exit.enter_context(running_stack(STACK, work))
        return self._running

    def stop(self) -> None:
        self._running = None
        self._exit.close()


_SHARED = _SharedStack()


@pytest.fixture
def stack(tmp_path_factory: pytest.TempPathFactory) -> RunningStack:
    """The local stack (``python -m devstack``, what ``make dev`` runs) on free loopback ports,
    started with its clock at ``tests.support.devstack.START`` and shared by the tests that run
    one after another on it (under ``pytest -n``, by each worker's: on its own ports and in its
    own temporary folder; the root conftest runs them one after another).

    Tests share it, so each one opens accounts of its own (``stack.customer("race")``: a new
    account with a card saved, ``.account_id`` and ``.token``), reads the clock instead of
    assuming it (``stack.now()``; ``stack.call("POST", "/_dev/clock", {"days": 3})`` moves it,
    forward only), and clears the faults it injects into ``stack.localstripe`` or
    ``stack.paypal`` (``reset()``, in a ``finally``).

    ``stack.call`` is one HTTP request, and calls from many threads are served at once, each in
    an execution environment of its own. To have requests in flight together whatever the
    timing, hold them at the provider: ``stack.localstripe.inject("POST",
    "/v1/payment_intents", hold=True, body_contains=account_id, times=2)``, send them from a
    ``ThreadPoolExecutor``, wait with ``tests.support.devstack.eventually`` until
    ``stack.localstripe.faults()`` shows the fault has no ``times`` left, then
    ``stack.localstripe.release()``, within the functions' provider timeout (20 s), past which
    they give up on the charge (tests/e2e/test_concurrent_requests.py does this)."""
    return _SHARED.get(tmp_path_factory.mktemp("stack"))


def _on_the_stack(item: pytest.Item | None) -> bool:
    """Whether `item` uses this folder's `stack` (tests/integration/renewals has one too)."""
    return (
        item is not None
        and Path(item.path).is_relative_to(Path(__file__).parent)
        and "stack" in getattr(item, "fixturenames", ())
    )


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if not _on_the_stack(nextitem):
        _SHARED.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    _SHARED.stop()
