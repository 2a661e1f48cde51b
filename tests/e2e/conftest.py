"""The running local stack shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.devstack import STACK, RunningStack, running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The local stack (``python -m devstack``, what ``make dev`` runs) on free loopback ports,
    started once for the session with its clock at ``tests.support.devstack.START``.

    Tests share it, so each one opens accounts of its own (``stack.customer("race")`` gives a
    new account, its card saved: ``.account_id``, ``.token``), reads the clock instead of
    assuming it
    (``stack.now()``; moving it is ``stack.call("POST", "/_dev/clock", {"days": 3})``, forward
    only), and clears the faults it injects (``stack.localstripe.inject(...)`` then
    ``stack.localstripe.reset()``). ``stack.call`` is one HTTP request; calls from many threads
    at once are served at once."""
    with running_stack(STACK, tmp_path_factory.mktemp("stack")) as running:
        yield running
