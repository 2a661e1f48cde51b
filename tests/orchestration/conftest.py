"""The operations wired to the in-memory fakes of every port (tests/fakes, each proven against
its real adapter in tests/contract): no socket, no process, faults injected where they happen."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.charging import ChargeOperation
from billing.domain.accounts import PaymentProvider
from tests.fakes import FakeGateway, InMemoryRepository
from tests.support.api import Clock
from tests.support.subscriptions import FIRST_END


@pytest.fixture
def clock() -> Clock:
    """An hour after the first period of a subscription bought at ANCHOR ended."""
    return Clock(FIRST_END + timedelta(hours=1))


@pytest.fixture
def repository() -> InMemoryRepository:
    return InMemoryRepository(shards=8)


@pytest.fixture
def stripe() -> FakeGateway:
    return FakeGateway(PaymentProvider.STRIPE)


@pytest.fixture
def paypal(clock: Clock) -> FakeGateway:
    return FakeGateway(PaymentProvider.PAYPAL, clock=clock)


@pytest.fixture
def operation(
    repository: InMemoryRepository, stripe: FakeGateway, paypal: FakeGateway, clock: Clock
) -> ChargeOperation:
    gateways = {PaymentProvider.STRIPE: stripe, PaymentProvider.PAYPAL: paypal}
    return ChargeOperation(repository, gateways, clock=clock)
