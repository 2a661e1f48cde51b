"""The operations wired to the in-memory fakes of every port (tests/fakes, each proven against
its real adapter in tests/contract): no socket, no process, faults injected where they happen."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.charging import ChargeOperation
from billing.domain.accounts import PaymentProvider
from billing.operations.confirmations import Confirmations
from billing.operations.refunds import Refunds
from billing.payments import PaymentChanges
from billing.provider_events import ProviderEvents
from billing.providers.gateway import PaymentGateway
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
    repository: InMemoryRepository, gateways: dict[PaymentProvider, PaymentGateway], clock: Clock
) -> ChargeOperation:
    return ChargeOperation(repository, gateways, clock=clock)


@pytest.fixture
def gateways(stripe: FakeGateway, paypal: FakeGateway) -> dict[PaymentProvider, PaymentGateway]:
    return {PaymentProvider.STRIPE: stripe, PaymentProvider.PAYPAL: paypal}


@pytest.fixture
def payments(repository: InMemoryRepository, clock: Clock) -> PaymentChanges:
    return PaymentChanges(repository, clock=clock)


@pytest.fixture
def refunds(
    repository: InMemoryRepository,
    gateways: dict[PaymentProvider, PaymentGateway],
    payments: PaymentChanges,
    clock: Clock,
) -> Refunds:
    return Refunds(repository, gateways, payments, clock=clock)


@pytest.fixture
def confirmations(
    repository: InMemoryRepository,
    operation: ChargeOperation,
    payments: PaymentChanges,
    refunds: Refunds,
    clock: Clock,
) -> Confirmations:
    return Confirmations(repository, operation, payments, refunds, clock=clock)


@pytest.fixture
def events(
    repository: InMemoryRepository,
    gateways: dict[PaymentProvider, PaymentGateway],
    confirmations: Confirmations,
    payments: PaymentChanges,
    clock: Clock,
) -> ProviderEvents:
    return ProviderEvents(repository, gateways, confirmations, payments, clock=clock)
