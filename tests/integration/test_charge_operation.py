"""The charge operation end to end on the real adapters (DynamoDB in moto, the Stripe SDK against
localstripe), for what only they show: a renewal and a purchase charged at the provider, what
each costs in DynamoDB requests, a crash between the charge and its outcome reconciled by
finding the charge at localstripe by its key. Every case, with every fault, runs on the
in-memory fakes in tests/orchestration/test_charge_operation.py; each adapter is proven by its
contract suite in tests/contract."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from billing.charging import ChargeOperation
from billing.domain.accounts import Account, PaymentProvider
from billing.domain.charges import IN_FLIGHT, ChargeStatus
from billing.domain.subscription import Subscription
from billing.persistence.dynamodb import DynamoDBRepository
from billing.providers.stripe_gateway import StripeGateway
from tests.orchestration.charges import (
    card_holder,
    charged_after_purchase,
    opened,
    yearly_purchase,
)
from tests.support.api import Clock
from tests.support.aws import DynamoDBFaults, DynamoDBRequests, is_claim
from tests.support.localstripe import card_setup, payment_intents
from tests.support.stand_ins import StandIn, stripe_charges
from tests.support.subscriptions import CUSTOMER, FIRST_END


class Crash(Exception):
    """The process died here."""


@pytest.fixture
def clock() -> Clock:
    return Clock(FIRST_END + timedelta(hours=1))


@pytest.fixture
def operation(
    repository: DynamoDBRepository, stripe_gateway: StripeGateway, clock: Clock
) -> ChargeOperation:
    return ChargeOperation(repository, {PaymentProvider.STRIPE: stripe_gateway}, clock=clock)


def _stripe_customer(
    repository: DynamoDBRepository,
    gateway: StripeGateway,
    localstripe: StandIn,
    test_method: str = "pm_card_visa",
) -> tuple[Subscription, Account]:
    account = card_holder(gateway, lambda customer: card_setup(localstripe, customer, test_method))
    return opened(repository, account), account


def test_a_due_renewal_is_charged_and_the_period_advances(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
) -> None:
    sub, account = _stripe_customer(repository, stripe_gateway, localstripe)

    result = operation.renew(sub.id, account.id)

    assert result.subscription.period.start == FIRST_END
    assert repository.get_subscription(sub.id) == result.subscription
    [stored] = charged_after_purchase(repository, sub.id)
    assert stored.status is ChargeStatus.SUCCEEDED
    assert stored.provider_reference is not None
    assert stored.provider_reference.startswith("pi_")
    assert stripe_charges(localstripe, sub.id) == [stored.id]


def test_one_successful_charge_costs_one_read_one_claim_one_transaction(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    dynamodb_requests: DynamoDBRequests,
) -> None:
    sub, account = _stripe_customer(repository, stripe_gateway, localstripe)
    dynamodb_requests.clear()

    operation.renew(sub.id, account.id)

    # The claim is a transaction too: the attempt and the request in the account's trail. The
    # outcome's transaction numbers the invoice: the first this process issues reads the
    # sequence's head; the next charge knows it.
    assert dynamodb_requests.operations == [
        "TransactGetItems",
        "TransactWriteItems",
        "GetItem",
        "TransactWriteItems",
    ]
    other, customer = _stripe_customer(repository, stripe_gateway, localstripe)
    dynamodb_requests.clear()
    operation.renew(other.id, customer.id)
    assert dynamodb_requests.operations == [
        "TransactGetItems",
        "TransactWriteItems",
        "TransactWriteItems",
    ]


def _crash_at_commit(faults: DynamoDBFaults) -> None:
    """The process dies as it writes the outcome of the charge it made (once)."""

    def crash(params: Mapping[str, Any]) -> None:
        if not is_claim(params):
            del faults.before["TransactWriteItems"]
            raise Crash

    faults.before["TransactWriteItems"] = crash


def test_a_crash_after_the_provider_call_is_reconciled_without_charging_again(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    dynamodb_faults: DynamoDBFaults,
    clock: Clock,
) -> None:
    sub, account = _stripe_customer(repository, stripe_gateway, localstripe)
    _crash_at_commit(dynamodb_faults)
    with pytest.raises(Crash):
        operation.renew(sub.id, account.id)

    clock.now += IN_FLIGHT
    result = operation.renew(sub.id, account.id)

    # Found at localstripe by its key and written once: one PaymentIntent, one period.
    [settled] = charged_after_purchase(repository, sub.id)
    assert settled.status is ChargeStatus.SUCCEEDED
    assert stripe_charges(localstripe, sub.id) == [settled.id]
    assert result.subscription.cycle == 1
    assert repository.get_subscription(sub.id) == result.subscription


def test_a_purchase_charges_the_discounted_first_cycle_and_opens_the_subscription(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    dynamodb_requests: DynamoDBRequests,
    clock: Clock,
) -> None:
    account = repository.save_account(
        card_holder(
            stripe_gateway, lambda customer: card_setup(localstripe, customer, "pm_card_visa")
        )
    )
    purchase = yearly_purchase(clock.now)
    dynamodb_requests.clear()

    result = operation.purchase(account.id, purchase, CUSTOMER)

    # The account read, the slot claimed with the attempt, the invoice sequence's head read
    # (once per process), the subscription opened in the slot with the invoice.
    assert dynamodb_requests.operations == [
        "GetItem",
        "TransactWriteItems",
        "GetItem",
        "TransactWriteItems",
    ]
    assert repository.get_account(account.id).open_subscription_id == result.subscription.id
    [attempt] = repository.charge_attempts(purchase.subscription_id)
    assert attempt.status is ChargeStatus.SUCCEEDED
    assert account.stripe_customer_id is not None
    [intent] = payment_intents(localstripe, account.stripe_customer_id)
    # 3920 net and 20 % VAT: the customer gave no billing country.
    assert (intent.id, intent.amount, intent.currency) == (attempt.provider_reference, 4704, "eur")
