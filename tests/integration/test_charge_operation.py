"""The charge operation end to end: moto DynamoDB, the real Stripe SDK against localstripe and
the PayPal stand-in, with faults injected where they happen — in DynamoDB requests (crashes,
races) and at the provider (timeouts, 429, 5xx)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from billing.changes import ChangeResult
from billing.charging import ChargeOperation, RetryInProgress
from billing.domain.accounts import Account, PaymentProvider, PendingPurchase
from billing.domain.charges import IN_FLIGHT, ChargeAttempt, ChargeStatus
from billing.domain.errors import DomainError, ErrorCode, TransitionRejected
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.domain.pricing import Discount
from billing.domain.state_machine import (
    EmailCustomer,
    EmailTemplate,
    Event,
    RetryNowRequested,
)
from billing.domain.subscription import ChargeKind, Status, Subscription
from billing.operations.subscriptions import attempt_or_payment_pending
from billing.persistence.dynamodb import DynamoDBRepository
from billing.persistence.repository import NotFound, SubscriptionExists
from billing.providers.gateway import PaymentGateway
from billing.providers.paypal_gateway import PayPalGateway
from billing.providers.stripe_gateway import CHARGE_KEY, StripeGateway
from tests.support.aws import DynamoDBFaults, DynamoDBRequests, is_claim
from tests.support.localstripe import payment_intents
from tests.support.stand_ins import StandIn, stripe_charges
from tests.support.subscriptions import ANCHOR, CUSTOMER, FIRST_END, PRICE, active, store

PAYMENT_INTENTS = ("POST", "/v1/payment_intents")


@dataclass
class Clock:
    now: datetime = FIRST_END + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


class Crash(Exception):
    """The process died here."""


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def operation(
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    paypal_gateway: PayPalGateway,
    clock: Clock,
) -> ChargeOperation:
    gateways: dict[PaymentProvider, PaymentGateway] = {
        PaymentProvider.STRIPE: stripe_gateway,
        PaymentProvider.PAYPAL: paypal_gateway,
    }
    return ChargeOperation(repository, gateways, clock=clock)


def _open(
    repository: DynamoDBRepository, account: Account, anchor: datetime = ANCHOR
) -> Subscription:
    """A monthly subscription bought at `anchor` by `account`, which is saved first."""
    repository.save_account(account)
    sub = replace(active(), id=f"sub_{uuid4().hex[:10]}", account_id=account.id, anchor=anchor)
    return store(repository, sub)


def _charged_after_purchase(
    repository: DynamoDBRepository, subscription_id: str
) -> list[ChargeAttempt]:
    """The subscription's attempts, newest first, leaving out the purchase that opened it."""
    return [
        attempt
        for attempt in repository.charge_attempts(subscription_id)
        if attempt.kind is not ChargeKind.PURCHASE
    ]


def _stripe_account(gateway: StripeGateway, test_method: str) -> Account:
    """A new account with a Stripe customer and `test_method` saved as its card."""
    account = Account(id=f"acct_{uuid4().hex[:10]}", email="ada@example.com")
    customer = gateway.create_customer(account)
    method = gateway.save_payment_method(customer, test_method)
    return replace(account, stripe_customer_id=customer, payment_method=method)


def _stripe_customer(
    repository: DynamoDBRepository, gateway: StripeGateway, test_method: str = "pm_card_visa"
) -> tuple[Subscription, Account]:
    account = _stripe_account(gateway, test_method)
    return _open(repository, account), account


def _retry_now(sub: Subscription, account: Account, now: datetime) -> Event:
    return RetryNowRequested(at=now)


def test_a_due_renewal_is_charged_and_the_period_advances(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
) -> None:
    sub, account = _stripe_customer(repository, stripe_gateway)

    result = operation.renew(sub.id, account.id)

    assert result.subscription.status is Status.ACTIVE
    assert result.subscription.period.start == FIRST_END
    assert result.attempt is not None
    [stored] = _charged_after_purchase(repository, sub.id)
    assert stored.status is ChargeStatus.SUCCEEDED
    assert stored.provider_reference is not None
    assert stored.provider_reference.startswith("pi_")
    assert stripe_charges(localstripe, sub.id) == [stored.id]
    assert repository.audit_trail(sub.id)[-1].action == "charge_succeeded"
    assert EmailCustomer in {type(e) for e in result.effects}


def test_one_successful_charge_costs_one_read_one_claim_one_transaction(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    dynamodb_requests: DynamoDBRequests,
) -> None:
    sub, account = _stripe_customer(repository, stripe_gateway)
    dynamodb_requests.clear()

    operation.renew(sub.id, account.id)

    # The claim is a transaction too: the attempt and the request in the account's trail.
    assert dynamodb_requests.operations == [
        "TransactGetItems",
        "TransactWriteItems",
        "TransactWriteItems",
    ]


def test_a_declined_renewal_goes_past_due_and_tells_the_customer_why(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
) -> None:
    sub, account = _stripe_customer(repository, stripe_gateway, "pm_card_chargeCustomerFail")

    result = operation.renew(sub.id, account.id)

    assert result.subscription.status is Status.PAST_DUE
    assert result.subscription.failed_attempts == 1
    assert result.subscription.last_failure is not None
    assert result.subscription.last_failure.reason is FailureReason.CARD_DECLINED
    assert EmailCustomer(EmailTemplate.RENEWAL_FAILED, result.effects[0].details) in result.effects  # type: ignore[union-attr]
    [stored] = _charged_after_purchase(repository, sub.id)
    assert (stored.status, stored.failure_reason) == (
        ChargeStatus.FAILED,
        FailureReason.CARD_DECLINED,
    )


def test_the_same_attempt_started_twice_at_once_charges_once(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    dynamodb_faults: DynamoDBFaults,
) -> None:
    sub, account = _stripe_customer(repository, stripe_gateway)
    # Both callers have read the subscription before either claims: the race is real.
    both_read = threading.Barrier(2)
    dynamodb_faults.before["TransactWriteItems"] = lambda params: (
        both_read.wait(timeout=10) if is_claim(params) else None
    )

    def attempt() -> ChangeResult | ErrorCode:
        try:
            return operation.renew(sub.id, account.id)
        except RetryInProgress as refused:
            return refused.code

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda _: attempt(), range(2)))

    assert ErrorCode.RETRY_IN_PROGRESS in outcomes
    [charged] = [o for o in outcomes if isinstance(o, ChangeResult)]
    assert charged.subscription.cycle == 1
    assert len(stripe_charges(localstripe, sub.id)) == 1
    assert [a.status for a in _charged_after_purchase(repository, sub.id)] == [
        ChargeStatus.SUCCEEDED
    ]


def _crash_at_commit(faults: DynamoDBFaults) -> None:
    """The process dies as it writes the outcome of the charge it made (once)."""

    def crash(params: Mapping[str, Any]) -> None:
        if not is_claim(params):
            del faults.before["TransactWriteItems"]
            raise Crash

    faults.before["TransactWriteItems"] = crash


def _crashed_after_charging(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    dynamodb_faults: DynamoDBFaults,
) -> tuple[Subscription, Account, ChargeAttempt]:
    """A renewal charged at localstripe whose process died before writing the outcome: the
    subscription, its account and the attempt its claim left."""
    sub, account = _stripe_customer(repository, stripe_gateway)
    _crash_at_commit(dynamodb_faults)
    with pytest.raises(Crash):
        operation.renew(sub.id, account.id)
    [claimed] = _charged_after_purchase(repository, sub.id)
    return sub, account, claimed


def test_a_crash_after_the_provider_call_is_reconciled_without_charging_again(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    dynamodb_faults: DynamoDBFaults,
    clock: Clock,
) -> None:
    sub, account, claimed = _crashed_after_charging(
        operation, repository, stripe_gateway, dynamodb_faults
    )
    assert claimed.status is ChargeStatus.PENDING
    with pytest.raises(RetryInProgress):
        operation.renew(sub.id, account.id)  # the crashed call might still be running
    clock.now += IN_FLIGHT
    result = operation.renew(sub.id, account.id)

    assert result.subscription.status is Status.ACTIVE
    assert result.subscription.cycle == 1
    [settled] = _charged_after_purchase(repository, sub.id)
    assert settled.id == claimed.id
    assert settled.status is ChargeStatus.SUCCEEDED
    assert stripe_charges(localstripe, sub.id) == [claimed.id]
    assert repository.get_subscription(sub.id) == result.subscription


def test_two_callers_reconciling_one_abandoned_charge_apply_it_once(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    dynamodb_faults: DynamoDBFaults,
    clock: Clock,
) -> None:
    sub, account, claimed = _crashed_after_charging(
        operation, repository, stripe_gateway, dynamodb_faults
    )
    clock.now += IN_FLIGHT
    # The renewal run's sweep and a redelivered renewal both look the charge up, then both
    # write: each read the subscription before the other wrote.
    both_read = threading.Barrier(2, timeout=10)
    first_writes = iter(range(2))

    def meet_before_first_writes(params: Mapping[str, Any]) -> None:
        if not is_claim(params) and next(first_writes, None) is not None:
            both_read.wait()

    dynamodb_faults.before["TransactWriteItems"] = meet_before_first_writes

    with ThreadPoolExecutor(max_workers=2) as pool:
        swept = pool.submit(operation.reconcile, sub.id, account.id, claimed.cycle, claimed.attempt)
        renewed = pool.submit(operation.renew, sub.id, account.id)
        results = [swept.result(), renewed.result()]

    stored = repository.get_subscription(sub.id)
    assert (stored.cycle, stored.status) == (1, Status.ACTIVE), "one period for one payment"
    assert {result.subscription.cycle for result in results} == {1}
    assert [a.status for a in _charged_after_purchase(repository, sub.id)] == [
        ChargeStatus.SUCCEEDED
    ]
    assert [e.action for e in repository.audit_trail(sub.id)] == ["charge_succeeded"]
    assert stripe_charges(localstripe, sub.id) == [claimed.id]


def test_a_provider_timeout_stays_pending_and_is_reconciled_without_a_new_charge(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    clock: Clock,
) -> None:
    sub, account = _stripe_customer(repository, stripe_gateway)
    localstripe.inject(*PAYMENT_INTENTS, delay=1.5, process_first=True)

    pending = operation.renew(sub.id, account.id)

    assert pending.attempt is not None
    assert pending.attempt.status is ChargeStatus.PENDING
    assert repository.get_subscription(sub.id) == sub
    clock.now += IN_FLIGHT
    settled = operation.renew(sub.id, account.id)
    assert settled.subscription.cycle == 1
    assert [a.status for a in _charged_after_purchase(repository, sub.id)] == [
        ChargeStatus.SUCCEEDED
    ]
    assert len(stripe_charges(localstripe, sub.id)) == 1


def test_a_timed_out_charge_is_found_however_far_our_clock_is_from_stripes(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    clock: Clock,
) -> None:
    # Our clock runs days ahead of Stripe's, which stamps `created` from the wall clock.
    clock.now = datetime.now(UTC) + timedelta(days=3)
    account = _stripe_account(stripe_gateway, "pm_card_visa")
    sub = _open(repository, account, anchor=clock.now - timedelta(days=40))
    localstripe.inject(*PAYMENT_INTENTS, delay=1.5, process_first=True)
    pending = operation.renew(sub.id, account.id).attempt
    assert pending is not None
    assert pending.status is ChargeStatus.PENDING

    clock.now += timedelta(days=4)
    swept = operation.reconcile(sub.id, account.id, pending.cycle, pending.attempt)

    assert swept.attempt is not None
    assert swept.attempt.status is ChargeStatus.SUCCEEDED
    assert swept.subscription.cycle == 1
    assert swept.subscription.status is Status.ACTIVE
    assert operation.renew(sub.id, account.id).attempt is None, "the next period is not due"
    assert [a.status for a in _charged_after_purchase(repository, sub.id)] == [
        ChargeStatus.SUCCEEDED
    ]
    assert account.stripe_customer_id is not None
    assert [
        intent.id
        for intent in payment_intents(localstripe, _customer(account))
        if intent.metadata.to_dict().get(CHARGE_KEY) == pending.id
    ] == [swept.attempt.provider_reference], "one PaymentIntent for the cycle"


def test_a_charge_that_never_reached_the_provider_is_a_provider_error(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    clock: Clock,
) -> None:
    sub, account = _stripe_customer(repository, stripe_gateway)
    localstripe.inject(*PAYMENT_INTENTS, delay=1.5)  # times out before Stripe does anything

    operation.renew(sub.id, account.id)
    clock.now += IN_FLIGHT
    result = operation.renew(sub.id, account.id)

    assert result.subscription.status is Status.ACTIVE
    assert result.subscription.provider_errors == 1
    [attempt] = _charged_after_purchase(repository, sub.id)
    assert attempt.failure_reason is FailureReason.PROVIDER_ERROR


@pytest.mark.parametrize("status", [429, 503])
def test_persistent_429_and_5xx_end_as_provider_error_without_using_a_dunning_attempt(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    status: int,
) -> None:
    sub, account = _stripe_customer(repository, stripe_gateway)
    localstripe.inject(*PAYMENT_INTENTS, status=status, times=3)

    result = operation.renew(sub.id, account.id)

    assert len(stripe_charges(localstripe, sub.id)) == 3
    after = result.subscription
    assert after.status is Status.ACTIVE
    assert (after.failed_attempts, after.retries_left, after.provider_errors) == (0, 0, 1)
    assert after.provider_retry_at is not None
    assert result.effects == ()
    [attempt] = _charged_after_purchase(repository, sub.id)
    assert attempt.failure_reason is FailureReason.PROVIDER_ERROR


def test_a_provider_error_in_dunning_leaves_the_retries_left(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
) -> None:
    sub, account = _stripe_customer(repository, stripe_gateway, "pm_card_chargeCustomerFail")
    dunned = operation.renew(sub.id, account.id).subscription
    localstripe.inject(*PAYMENT_INTENTS, status=500, times=3)

    result = operation.change(sub.id, account.id, _retry_now)

    assert result.subscription.status is Status.PAST_DUE
    assert result.subscription.retries_left == dunned.retries_left
    assert result.subscription.failed_attempts == dunned.failed_attempts
    assert [a.failure_reason for a in _charged_after_purchase(repository, sub.id)] == [
        FailureReason.PROVIDER_ERROR,
        FailureReason.CARD_DECLINED,
    ]


def test_without_a_payment_method_nothing_is_sent_and_the_method_is_invalid(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    localstripe: StandIn,
) -> None:
    account = Account(id=f"acct_{uuid4().hex[:10]}", email="ada@example.com")
    sub = _open(repository, account)

    result = operation.renew(sub.id, account.id)

    assert result.subscription.status is Status.PAST_DUE
    assert result.subscription.last_failure is not None
    assert result.subscription.last_failure.reason is FailureReason.PAYMENT_METHOD_INVALID
    assert stripe_charges(localstripe, sub.id) == []


def test_a_paypal_wallet_is_renewed(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    paypal_gateway: PayPalGateway,
    paypal: StandIn,
) -> None:
    start = paypal_gateway.start_update(Account(id="acct", email="a@example.com"), None)
    assert start.approval_url is not None
    paypal.post(start.approval_url.removeprefix(paypal.url), {"email": "ada@example.com"})
    method = paypal_gateway.save_payment_method(None, start.reference)
    account = Account(id=f"acct_{uuid4().hex[:10]}", email="ada@example.com", payment_method=method)
    sub = _open(repository, account)

    result = operation.renew(sub.id, account.id)

    assert result.subscription.cycle == 1
    [attempt] = _charged_after_purchase(repository, sub.id)
    assert (attempt.provider, attempt.status) == (PaymentProvider.PAYPAL, ChargeStatus.SUCCEEDED)
    captures = [c for c in paypal.get("/_standin/captures") if c["custom_id"] == attempt.id]
    assert [c["id"] for c in captures] == [attempt.provider_reference]


@pytest.mark.parametrize(
    ("event_for", "code"),
    [
        (_retry_now, ErrorCode.NO_ACTION_REQUIRED),
    ],
)
def test_a_refused_request_claims_nothing(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    event_for: Callable[[Subscription, Account, datetime], Event],
    code: ErrorCode,
) -> None:
    sub, account = _stripe_customer(repository, stripe_gateway)

    with pytest.raises(TransitionRejected) as refused:
        operation.change(sub.id, account.id, event_for)

    assert refused.value.code is code
    assert _charged_after_purchase(repository, sub.id) == []


def test_another_accounts_subscription_is_not_found(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
) -> None:
    sub, _ = _stripe_customer(repository, stripe_gateway)
    _, other = _stripe_customer(repository, stripe_gateway)

    with pytest.raises(NotFound):
        operation.change(sub.id, other.id, _retry_now)


def _purchase(clock: Clock) -> PendingPurchase:
    return PendingPurchase(
        subscription_id=f"sub_{uuid4().hex[:10]}",
        plan_id="standard",
        cycle_months=12,
        price=PRICE,
        discount=Discount("WELCOME20", Money(980, Currency.EUR), 1),
        at=clock.now,
    )


def _customer(account: Account) -> str:
    assert account.stripe_customer_id is not None
    return account.stripe_customer_id


def _buyer(
    repository: DynamoDBRepository, gateway: StripeGateway, test_method: str = "pm_card_visa"
) -> Account:
    return repository.save_account(_stripe_account(gateway, test_method))


def test_a_purchase_charges_the_discounted_first_cycle_and_opens_the_subscription(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    dynamodb_requests: DynamoDBRequests,
    clock: Clock,
) -> None:
    account = _buyer(repository, stripe_gateway)
    purchase = _purchase(clock)
    dynamodb_requests.clear()

    result = operation.purchase(account.id, purchase, CUSTOMER)

    # The account read, the slot claimed with the attempt, the subscription opened in it.
    assert dynamodb_requests.operations == ["GetItem", "TransactWriteItems", "TransactWriteItems"]
    assert result.subscription.version == 1
    stored = repository.get_account(account.id)
    assert (stored.open_subscription_id, stored.pending_purchase) == (
        purchase.subscription_id,
        None,
    )
    [attempt] = repository.charge_attempts(purchase.subscription_id)
    assert (attempt.kind, attempt.status) == (ChargeKind.PURCHASE, ChargeStatus.SUCCEEDED)
    assert attempt.amount == Money(3920, Currency.EUR)
    assert attempt.requested_by == CUSTOMER
    assert [type(e) for e in result.effects] == [EmailCustomer]
    [requested] = repository.account_trail(account.id)
    assert (requested.action, requested.by) == ("charge_requested", CUSTOMER.id)


def test_a_declined_purchase_opens_nothing_and_frees_the_slot(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    clock: Clock,
) -> None:
    account = _buyer(repository, stripe_gateway, "pm_card_chargeCustomerFail")
    purchase = _purchase(clock)

    result = operation.purchase(account.id, purchase, CUSTOMER)

    assert result.attempt is not None
    assert result.attempt.failure_reason is FailureReason.CARD_DECLINED
    with pytest.raises(NotFound):
        repository.get_subscription(purchase.subscription_id)
    stored = repository.get_account(account.id)
    assert (stored.open_subscription_id, stored.pending_purchase) == (None, None)
    [attempt] = repository.charge_attempts(purchase.subscription_id)
    assert attempt.status is ChargeStatus.FAILED


def test_a_repeated_purchase_is_not_charged_twice(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    clock: Clock,
) -> None:
    account = _buyer(repository, stripe_gateway)
    purchase = _purchase(clock)
    first = operation.purchase(account.id, purchase, CUSTOMER)

    again = operation.purchase(account.id, purchase, CUSTOMER)

    assert again.subscription == first.subscription
    assert again.attempt == first.attempt
    assert again.effects == (), "the receipt went with the first answer"
    assert len(stripe_charges(localstripe, purchase.subscription_id)) == 1


def test_a_purchase_needs_a_payment_method_and_no_open_subscription(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    clock: Clock,
) -> None:
    without_method = repository.save_account(Account(id="acct_nopm", email="a@example.com"))
    with pytest.raises(DomainError) as refused:
        operation.purchase(without_method.id, _purchase(clock), CUSTOMER)
    assert refused.value.code is ErrorCode.PAYMENT_METHOD_REQUIRED

    account = _buyer(repository, stripe_gateway)
    operation.purchase(account.id, _purchase(clock), CUSTOMER)
    second = _purchase(clock)
    with pytest.raises(SubscriptionExists):
        operation.purchase(account.id, second, CUSTOMER)
    assert repository.charge_attempts(second.subscription_id) == []


def test_concurrent_purchases_charge_once(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    clock: Clock,
) -> None:
    """Both requests read an account with nothing open; only the one that claims the slot
    calls the provider, the other is refused before charging."""
    account = _buyer(repository, stripe_gateway)
    purchases = [_purchase(clock) for _ in range(2)]
    # The first charge is still at the provider when the second request reads the account.
    localstripe.inject("POST", "/v1/payment_intents", delay=0.5, body_contains=account.id)
    with ThreadPoolExecutor(2) as pool:
        winner = pool.submit(operation.purchase, account.id, purchases[0], CUSTOMER)
        while not repository.get_account(account.id).pending_purchase:
            time.sleep(0.01)
        loser = pool.submit(operation.purchase, account.id, purchases[1], CUSTOMER)
        with pytest.raises(SubscriptionExists):
            loser.result()
        assert winner.result().subscription.id == purchases[0].subscription_id
    assert len(payment_intents(localstripe, _customer(account))) == 1
    assert repository.charge_attempts(purchases[1].subscription_id) == []


def _charged_but_unanswered(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    clock: Clock,
    test_method: str = "pm_card_visa",
) -> tuple[Account, PendingPurchase]:
    """A purchase whose charge answered after the client gave up: pending, holding the slot."""
    account = _buyer(repository, stripe_gateway, test_method)
    purchase = _purchase(clock)
    localstripe.inject("POST", "/v1/payment_intents", delay=1.5, process_first=True)
    with pytest.raises(DomainError):
        attempt_or_payment_pending(operation.purchase(account.id, purchase, CUSTOMER))
    assert repository.get_account(account.id).pending_purchase == purchase
    return account, purchase


def test_a_purchase_left_pending_blocks_another_and_the_sweep_opens_it(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    clock: Clock,
) -> None:
    account, purchase = _charged_but_unanswered(
        operation, repository, stripe_gateway, localstripe, clock
    )
    # Another tab buys meanwhile: refused, nothing charged.
    with pytest.raises(SubscriptionExists):
        operation.purchase(account.id, _purchase(clock), CUSTOMER)

    clock.now += IN_FLIGHT
    result = operation.reconcile(purchase.subscription_id, account.id, 0, 1)

    assert result.subscription.status is Status.ACTIVE
    assert result.subscription.anchor == purchase.at, "the period starts at the purchase"
    assert [e.template for e in result.effects if isinstance(e, EmailCustomer)] == [
        EmailTemplate.PURCHASE_RECEIPT
    ]
    stored = repository.get_account(account.id)
    assert (stored.open_subscription_id, stored.pending_purchase) == (
        purchase.subscription_id,
        None,
    )
    assert len(payment_intents(localstripe, _customer(account))) == 1
    # The customer's repeat of the same purchase finds it open.
    again = operation.purchase(account.id, purchase, CUSTOMER)
    assert again.subscription.id == purchase.subscription_id


def test_a_purchase_never_charged_frees_the_slot_when_swept(
    operation: ChargeOperation,
    repository: DynamoDBRepository,
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    clock: Clock,
) -> None:
    account = _buyer(repository, stripe_gateway)
    purchase = _purchase(clock)
    # Stripe failed without charging, and said so only after the client had given up.
    localstripe.inject("POST", "/v1/payment_intents", delay=1.5, status=503)
    with pytest.raises(DomainError):
        attempt_or_payment_pending(operation.purchase(account.id, purchase, CUSTOMER))

    clock.now += IN_FLIGHT
    result = operation.reconcile(purchase.subscription_id, account.id, 0, 1)

    assert result.attempt is not None
    assert result.attempt.status is ChargeStatus.FAILED
    assert repository.get_account(account.id).pending_purchase is None
    assert payment_intents(localstripe, _customer(account)) == []
    bought = operation.purchase(account.id, _purchase(clock), CUSTOMER)
    assert bought.subscription.status is Status.ACTIVE
