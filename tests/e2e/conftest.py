"""The running local stack shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.devstack import STACK, RunningStack, running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The local stack (``python -m devstack``, what ``make dev`` runs) on free loopback ports,
    started once for the session with its clock at ``tests.support.devstack.START`` (under
    ``pytest -n``, once by each worker that runs a test on it: on its own ports and in its own
    temporary folder).

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
    with running_stack(STACK, tmp_path_factory.mktemp("stack")) as running:
        yield running
