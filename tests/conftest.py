"""Test tiers by folder, each with its marker and what its tests may do, and an AWS environment
that can only ever reach moto: fake credentials, a fixed region, no profile.

A test marked ``unit`` or ``property`` (every test under tests/unit and tests/property_based,
and the fakes' runs elsewhere) opens no socket and starts no process: either fails the test.

botocore's data (service models, endpoints) is read once per test process, not once per
botocore session: the code makes a session per thread (PynamoDB) and per function start, as in
Lambda, and tests start functions thousands of times; reading the same files again was half of
an API test's time.
"""

from __future__ import annotations

import _posixsubprocess
import functools
import multiprocessing.process
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import botocore.loaders
import botocore.session
import pytest

from tests.support.stand_ins import StandIn, running

TIERS = {
    "unit": "unit",
    "property_based": "property",
    "orchestration": "unit",
    "contract": "contract",
    "integration": "integration",
    "devstack": "devstack",
    "package": "package",
    "e2e": "e2e",
}
"""The marker of each folder of tests/; a test in a folder not named here is refused."""
PURE = ("unit", "property")
"""Markers whose tests run in this process alone, offline."""
_NOT_TESTS = ("support", "fakes")

LONG = (
    "tests/e2e/test_make_dev.py::",
    "tests/integration/api/test_hostile_input.py::test_hostile_requests_get_spec_errors_and_",
    "tests/integration/renewals/test_lifecycle.py::",
    "tests/integration/renewals/test_at_scale.py::",
    "tests/integration/test_iam_policies.py::",
    "tests/integration/renewals/test_concurrent_purchases.py::",
    "tests/integration/test_invoice_numbers.py::",
    "tests/package/test_built_artefact.py::",
    "tests/package/test_function_imports.py::",
)
"""The tests (node id prefixes) that take ten seconds or more on two busy cores, longest
first, and whole modules whose module-scoped fixtures take as long. `pytest -n auto --dist
worksteal` hands each worker a contiguous half of the collection and an idle worker takes the
end of another's queue: run first, they leave short tests for the end, and no core waits on one
long test. The end-to-end tests on the shared stack come before them (see `_run_order`)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_root = Path(__file__).parent
    for item in items:
        parts = Path(item.path).relative_to(tests_root).parts
        tier = TIERS.get(parts[0]) if len(parts) > 1 and parts[0] not in _NOT_TESTS else None
        if tier is None:
            raise pytest.UsageError(
                f"{item.nodeid}: every test lives in a tier's folder ({', '.join(TIERS)}); "
                "a new folder needs its marker in tests/conftest.py's TIERS"
            )
        item.add_marker(tier)
        if is_pure(item):
            # pytest-socket: socket.socket() raises for this test.
            item.add_marker(pytest.mark.disable_socket)
    items.sort(key=_run_order)


def _run_order(item: pytest.Item) -> tuple[int, int]:
    """The tests on the end-to-end tests' shared stack first, one after another (it is stopped
    when a worker's next test does not use it: tests/e2e/conftest.py), then the `LONG` ones,
    then the rest as collected (the sort is stable)."""
    if "stack" in getattr(item, "fixturenames", ()) and item.nodeid.startswith("tests/e2e/"):
        return (0, 0)
    for rank, prefix in enumerate(LONG):
        if item.nodeid.startswith(prefix):
            return (1, rank)
    return (2, 0)


def is_pure(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(marker) for marker in PURE)


class ProcessStarted(RuntimeError):
    """A unit or property test started a process."""


@contextmanager
def no_process_starts(test: str) -> Iterator[None]:
    """Every way Python starts a process raises `ProcessStarted` until the block ends:
    subprocess, multiprocessing (and so ProcessPoolExecutor), fork and spawn, os.system."""

    def refuse(what: str) -> Callable[..., Any]:
        def refused(*_: Any, **__: Any) -> Any:
            raise ProcessStarted(
                f"{test} started a process ({what}): a test that needs one belongs in "
                "tests/devstack (the local stack's machinery) or tests/integration"
            )

        return refused

    targets: list[tuple[Any, str]] = [
        (subprocess.Popen, "_execute_child"),
        (multiprocessing.process.BaseProcess, "start"),
        (_posixsubprocess, "fork_exec"),
        *((os, name) for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system")),
    ]
    with ExitStack() as patches:
        for owner, name in targets:
            original = getattr(owner, name)
            setattr(owner, name, refuse(f"{getattr(owner, '__name__', owner)}.{name}"))
            patches.callback(setattr, owner, name, original)
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if not is_pure(item):
        return (yield)
    with no_process_starts(item.nodeid):
        return (yield)


class _SearchPaths(list[str]):
    """A loader's search paths, which every boto3 session adds its own to: each added once."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    """One loader per data path for every botocore session: it caches what it read."""
    loader = botocore.loaders.create_loader(search_path_string)
    loader._search_paths = _SearchPaths(loader.search_paths)
    return loader


def pytest_configure(config: pytest.Config) -> None:
    botocore.session.create_loader = _shared_loader


def pytest_unconfigure(config: pytest.Config) -> None:
    botocore.session.create_loader = botocore.loaders.create_loader


@pytest.fixture(autouse=True)
def _offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "DYNAMODB_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


@pytest.fixture(scope="session")
def _localstripe() -> Iterator[StandIn]:
    """localstripe on a free loopback port, one per test process; the integration and contract
    tiers reset it after each test that uses it."""
    with running("devstack.localstripe_server", control="/_config") as stand_in:
        yield stand_in


@pytest.fixture(scope="session")
def _paypal() -> Iterator[StandIn]:
    """The PayPal stand-in, shared the same way."""
    with running("devstack.paypal_stand_in", control="/_standin") as stand_in:
        yield stand_in


@pytest.fixture(scope="session")
def _vies() -> Iterator[StandIn]:
    """The VIES stand-in, shared the same way."""
    with running("devstack.vies_stand_in", control="/_standin") as stand_in:
        yield stand_in
