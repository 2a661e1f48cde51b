"""The charge operation on the in-memory repository and fake gateways, with faults injected where
they happen: in storage (a crash before the outcome is written, callers racing to claim or to
write) and at the provider (no answer before or after charging, 429s and 5xx, declines). What
needs the real adapters (moto's transactions, localstripe, the PayPal stand-in) is in
tests/integration/test_charge_operation.py."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from billing.changes import ChangeResult, EventFor, SubscriptionChanges
from billing.charging import ChargeOperation, RetryInProgress
from billing.domain.accounts import Account, PaymentProvider, PendingPurchase
from billing.domain.charges import IN_FLIGHT, UNAPPLIED, ChargeAttempt, ChargeStatus, RefundStatus
from billing.domain.errors import DomainError, ErrorCode, TransitionRejected
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.domain.state_machine import (
    CustomerCancelled,
    EmailCustomer,
    EmailTemplate,
    Event,
    RetryNowRequested,
)
from billing.domain.subscription import ChargeKind, Status, Subscription
from billing.operations.subscriptions import attempt_or_payment_pending
from billing.persistence.repository import NotFound, SubscriptionExists
from billing.providers.gateway import ChargeOutcome
from tests.fakes import FakeGateway, InMemoryRepository
from tests.orchestration.charges import (
    card_holder,
    charged_after_purchase,
    opened,
    yearly_purchase,
)
from tests.support.api import Clock
from tests.support.subscriptions import CUSTOMER, FIRST_END

pytestmark = pytest.mark.unit


class Crash(Exception):
    """The process died here."""


def _stripe_account(stripe: FakeGateway, *, declines: bool = False) -> Account:
    """A new account with a Stripe customer and a card saved, which declines if asked to."""
    card = f"pm_{uuid4().hex[:10]}"
    if declines:
        stripe.declines(card)
    return card_holder(stripe, lambda customer: stripe.card_setup(customer, card))


def _stripe_customer(
    repository: InMemoryRepository, stripe: FakeGateway, *, declines: bool = False
) -> tuple[Subscription, Account]:
    account = _stripe_account(stripe, declines=declines)
    return opened(repository, account), account


def _retry_now(sub: Subscription, account: Account, now: datetime) -> Event:
    return RetryNowRequested(at=now)


def test_a_due_renewal_is_charged_and_the_period_advances(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway
) -> None:
    sub, account = _stripe_customer(repository, stripe)

    result = operation.renew(sub.id, account.id)

    assert result.subscription.status is Status.ACTIVE
    assert result.subscription.period.start == FIRST_END
    assert result.attempt is not None
    [stored] = charged_after_purchase(repository, sub.id)
    assert stored.status is ChargeStatus.SUCCEEDED
    assert stored.provider_reference is not None
    assert stripe.charged(sub.id) == [stored.id]
    assert [c.outcome.reference for c in stripe.charges] == [stored.provider_reference]
    assert repository.audit_trail(sub.id)[-1].action == "charge_succeeded"
    assert EmailCustomer in {type(e) for e in result.effects}


def test_one_successful_charge_costs_one_read_one_claim_one_transaction(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway
) -> None:
    sub, account = _stripe_customer(repository, stripe)
    repository.calls.clear()

    operation.renew(sub.id, account.id)

    # The claim is a transaction too: the attempt and the request in the account's trail.
    assert repository.calls == ["load", "claim", "commit"]


def test_a_declined_renewal_goes_past_due_and_tells_the_customer_why(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway
) -> None:
    sub, account = _stripe_customer(repository, stripe, declines=True)

    result = operation.renew(sub.id, account.id)

    assert result.subscription.status is Status.PAST_DUE
    assert result.subscription.failed_attempts == 1
    assert result.subscription.last_failure is not None
    assert result.subscription.last_failure.reason is FailureReason.CARD_DECLINED
    assert EmailCustomer(EmailTemplate.RENEWAL_FAILED, result.effects[0].details) in result.effects  # type: ignore[union-attr]
    [stored] = charged_after_purchase(repository, sub.id)
    assert (stored.status, stored.failure_reason) == (
        ChargeStatus.FAILED,
        FailureReason.CARD_DECLINED,
    )


def test_the_same_attempt_started_twice_at_once_charges_once(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway
) -> None:
    sub, account = _stripe_customer(repository, stripe)
    # Both callers have read the subscription before either claims: the race is real.
    both_read = threading.Barrier(2)
    repository.before["claim"] = lambda *_: both_read.wait(timeout=10)

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
    assert len(stripe.charged(sub.id)) == 1
    assert [a.status for a in charged_after_purchase(repository, sub.id)] == [
        ChargeStatus.SUCCEEDED
    ]


def _crashed_after_charging(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway
) -> tuple[Subscription, Account, ChargeAttempt]:
    """A renewal charged at the provider whose process died before writing the outcome: the
    subscription, its account and the attempt its claim left."""
    sub, account = _stripe_customer(repository, stripe)
    repository.fail_next("commit", Crash())
    with pytest.raises(Crash):
        operation.renew(sub.id, account.id)
    [claimed] = charged_after_purchase(repository, sub.id)
    return sub, account, claimed


def test_a_crash_after_the_provider_call_is_reconciled_without_charging_again(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    sub, account, claimed = _crashed_after_charging(operation, repository, stripe)
    assert claimed.status is ChargeStatus.PENDING
    with pytest.raises(RetryInProgress):
        operation.renew(sub.id, account.id)  # the crashed call might still be running
    clock.now += IN_FLIGHT
    result = operation.renew(sub.id, account.id)

    assert result.subscription.status is Status.ACTIVE
    assert result.subscription.cycle == 1
    [settled] = charged_after_purchase(repository, sub.id)
    assert settled.id == claimed.id
    assert settled.status is ChargeStatus.SUCCEEDED
    assert stripe.charged(sub.id) == [claimed.id]
    assert [name for name, _ in stripe.calls if name == "charge"] == ["charge"]
    assert repository.get_subscription(sub.id) == result.subscription


def test_two_callers_reconciling_one_abandoned_charge_apply_it_once(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    sub, account, claimed = _crashed_after_charging(operation, repository, stripe)
    clock.now += IN_FLIGHT
    # The renewal run's sweep and a redelivered renewal both look the charge up, then both
    # write: each read the subscription before the other wrote.
    both_read = threading.Barrier(2, timeout=10)
    first_writes = iter(range(2))

    def meet_before_first_writes(*_: object) -> None:
        if next(first_writes, None) is not None:
            both_read.wait()

    repository.before["commit"] = meet_before_first_writes

    with ThreadPoolExecutor(max_workers=2) as pool:
        swept = pool.submit(operation.reconcile, sub.id, account.id, claimed.cycle, claimed.attempt)
        renewed = pool.submit(operation.renew, sub.id, account.id)
        results = [swept.result(), renewed.result()]

    stored = repository.get_subscription(sub.id)
    assert (stored.cycle, stored.status) == (1, Status.ACTIVE), "one period for one payment"
    assert {result.subscription.cycle for result in results} == {1}
    assert [a.status for a in charged_after_purchase(repository, sub.id)] == [
        ChargeStatus.SUCCEEDED
    ]
    assert [e.action for e in repository.audit_trail(sub.id)] == ["charge_succeeded"]
    assert stripe.charged(sub.id) == [claimed.id]


def test_a_provider_timeout_stays_pending_and_is_reconciled_without_a_new_charge(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    sub, account = _stripe_customer(repository, stripe)
    stripe.unanswered(after_charging=True)

    pending = operation.renew(sub.id, account.id)

    assert pending.attempt is not None
    assert pending.attempt.status is ChargeStatus.PENDING
    assert repository.get_subscription(sub.id) == sub
    clock.now += IN_FLIGHT
    settled = operation.renew(sub.id, account.id)
    assert settled.subscription.cycle == 1
    assert [a.status for a in charged_after_purchase(repository, sub.id)] == [
        ChargeStatus.SUCCEEDED
    ]
    assert len(stripe.charged(sub.id)) == 1


def test_a_timed_out_charge_is_found_however_far_our_clock_is_from_stripes(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    # Our clock runs days ahead of Stripe's (tests/integration/test_stripe_gateway.py shows
    # the adapter's look-up does not depend on it).
    clock.now = datetime.now(UTC) + timedelta(days=3)
    account = _stripe_account(stripe)
    sub = opened(repository, account, anchor=clock.now - timedelta(days=40))
    stripe.unanswered(after_charging=True)
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
    assert [a.status for a in charged_after_purchase(repository, sub.id)] == [
        ChargeStatus.SUCCEEDED
    ]
    [charge] = [c for c in stripe.charges if c.request.key == pending.id]
    assert charge.outcome.reference == swept.attempt.provider_reference, "one charge, found"


def test_a_change_written_while_the_provider_charges_stands_and_the_charge_is_recorded(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    sub, account = _stripe_customer(repository, stripe)
    changes = SubscriptionChanges(repository, clock=clock)

    def auto_renew_turned_off(_: object) -> None:
        stripe.before_charge = None
        off = CustomerCancelled(at=clock.now, by=CUSTOMER)
        changes.change(sub.id, account.id, lambda s, a, now: off)

    stripe.before_charge = auto_renew_turned_off
    repository.calls.clear()

    result = operation.renew(sub.id, account.id)

    # The outcome's first write lost the race: re-read, re-applied, written.
    assert repository.calls[-3:] == ["commit", "get_subscription", "commit"]
    after = result.subscription
    assert (after.status, after.auto_renew, after.cycle) == (Status.ACTIVE, False, 1)
    assert repository.get_subscription(sub.id) == after
    assert [e.action for e in repository.audit_trail(sub.id)] == [
        "customer_cancelled",
        "charge_succeeded",
    ]
    assert len(stripe.charged(sub.id)) == 1


def test_a_charge_that_paid_for_a_subscription_cancelled_meanwhile_is_given_back(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    """Retry Now charges while the customer cancels the past-due subscription: the cancel
    stands, and the money taken for nothing goes back at once, claimed in the same write."""
    account = _stripe_account(stripe)
    assert account.payment_method is not None
    stripe.declines(account.payment_method.token)
    sub = opened(repository, account)
    assert operation.renew(sub.id, account.id).subscription.status is Status.PAST_DUE
    paying = stripe.save_payment_method(
        account.stripe_customer_id, stripe.card_setup(account.stripe_customer_id, "pm_paying")
    )
    repository.save_account(replace(repository.get_account(account.id), payment_method=paying))
    changes = SubscriptionChanges(repository, clock=clock)

    def cancelled(_: object) -> None:
        stripe.before_charge = None
        changes.change(sub.id, account.id, lambda s, a, now: CustomerCancelled(at=now, by=CUSTOMER))

    stripe.before_charge = cancelled
    result = operation.change(
        sub.id, account.id, lambda s, a, now: RetryNowRequested(at=now, by=CUSTOMER)
    )

    assert result.subscription.status is Status.CANCELLED
    paid = repository.get_attempt(sub.id, 1, 2)
    assert paid.status is ChargeStatus.SUCCEEDED
    assert [(r.amount, r.status, r.by) for r in paid.refunds] == [
        (paid.amount, RefundStatus.SUCCEEDED, UNAPPLIED)
    ]
    assert [key for name, key in stripe.calls if name == "refund"] == [f"{paid.id}.r01"]


def test_a_charge_the_provider_is_still_processing_stays_pending_until_it_ends(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    account = _stripe_account(stripe)
    assert account.payment_method is not None
    stripe.processes(account.payment_method.token)  # Stripe's `processing`, PayPal's PENDING
    sub = opened(repository, account)

    pending = operation.renew(sub.id, account.id).attempt
    assert pending is not None
    assert pending.status is ChargeStatus.PENDING
    clock.now += IN_FLIGHT
    still = operation.reconcile(sub.id, account.id, pending.cycle, pending.attempt)
    assert (still.attempt, still.subscription) == (pending, sub), "looked up: still processing"

    [charge] = stripe.charges
    stripe.settle(pending.id, ChargeOutcome.succeeded(str(charge.outcome.reference)))
    settled = operation.reconcile(sub.id, account.id, pending.cycle, pending.attempt)

    assert settled.attempt is not None
    assert settled.attempt.status is ChargeStatus.SUCCEEDED
    assert settled.subscription.cycle == 1
    assert stripe.charged(sub.id) == [pending.id]


def test_a_charge_that_never_reached_the_provider_is_a_provider_error(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    sub, account = _stripe_customer(repository, stripe)
    stripe.unanswered(after_charging=False)  # times out before the provider does anything

    operation.renew(sub.id, account.id)
    clock.now += IN_FLIGHT
    result = operation.renew(sub.id, account.id)

    assert result.subscription.status is Status.ACTIVE
    assert result.subscription.provider_errors == 1
    [attempt] = charged_after_purchase(repository, sub.id)
    assert attempt.failure_reason is FailureReason.PROVIDER_ERROR
    assert stripe.charged(sub.id) == []


@pytest.mark.parametrize("status", [429, 503])
def test_persistent_429_and_5xx_end_as_provider_error_without_using_a_dunning_attempt(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, status: int
) -> None:
    sub, account = _stripe_customer(repository, stripe)
    stripe.fails(status, times=3)

    result = operation.renew(sub.id, account.id)

    assert stripe.charged(sub.id) == []
    # A 5xx may hide a charge: it is looked up (none) before it counts as failed.
    looked_up = [name for name, _ in stripe.calls if name == "find_charge"]
    assert looked_up == (["find_charge"] if status >= 500 else [])
    after = result.subscription
    assert after.status is Status.ACTIVE
    assert (after.failed_attempts, after.retries_left, after.provider_errors) == (0, 0, 1)
    assert after.provider_retry_at is not None
    assert result.effects == ()
    [attempt] = charged_after_purchase(repository, sub.id)
    assert attempt.failure_reason is FailureReason.PROVIDER_ERROR


def test_a_provider_error_in_dunning_leaves_the_retries_left(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway
) -> None:
    sub, account = _stripe_customer(repository, stripe, declines=True)
    dunned = operation.renew(sub.id, account.id).subscription
    stripe.fails(500, times=3)

    result = operation.change(sub.id, account.id, _retry_now)

    assert result.subscription.status is Status.PAST_DUE
    assert result.subscription.retries_left == dunned.retries_left
    assert result.subscription.failed_attempts == dunned.failed_attempts
    assert [a.failure_reason for a in charged_after_purchase(repository, sub.id)] == [
        FailureReason.PROVIDER_ERROR,
        FailureReason.CARD_DECLINED,
    ]


def test_without_a_payment_method_nothing_is_sent_and_the_method_is_invalid(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway
) -> None:
    account = Account(id=f"acct_{uuid4().hex[:10]}", email="ada@example.com")
    sub = opened(repository, account)

    result = operation.renew(sub.id, account.id)

    assert result.subscription.status is Status.PAST_DUE
    assert result.subscription.last_failure is not None
    assert result.subscription.last_failure.reason is FailureReason.PAYMENT_METHOD_INVALID
    assert stripe.calls == []


def test_a_paypal_wallet_is_renewed(
    operation: ChargeOperation, repository: InMemoryRepository, paypal: FakeGateway
) -> None:
    start = paypal.start_update(Account(id="acct", email="a@example.com"), None)
    method = paypal.save_payment_method(None, start.reference)
    account = Account(id=f"acct_{uuid4().hex[:10]}", email="ada@example.com", payment_method=method)
    sub = opened(repository, account)

    result = operation.renew(sub.id, account.id)

    assert result.subscription.cycle == 1
    [attempt] = charged_after_purchase(repository, sub.id)
    assert (attempt.provider, attempt.status) == (PaymentProvider.PAYPAL, ChargeStatus.SUCCEEDED)
    [charge] = paypal.charges
    assert (charge.request.key, charge.outcome.reference) == (
        attempt.id,
        attempt.provider_reference,
    )


@pytest.mark.parametrize(("event_for", "code"), [(_retry_now, ErrorCode.NO_ACTION_REQUIRED)])
def test_a_refused_request_claims_nothing(
    operation: ChargeOperation,
    repository: InMemoryRepository,
    stripe: FakeGateway,
    event_for: EventFor,
    code: ErrorCode,
) -> None:
    sub, account = _stripe_customer(repository, stripe)

    with pytest.raises(TransitionRejected) as refused:
        operation.change(sub.id, account.id, event_for)

    assert refused.value.code is code
    assert charged_after_purchase(repository, sub.id) == []


def test_another_accounts_subscription_is_not_found(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway
) -> None:
    sub, _ = _stripe_customer(repository, stripe)
    _, other = _stripe_customer(repository, stripe)

    with pytest.raises(NotFound):
        operation.change(sub.id, other.id, _retry_now)


def _buyer(
    repository: InMemoryRepository, stripe: FakeGateway, *, declines: bool = False
) -> Account:
    return repository.save_account(_stripe_account(stripe, declines=declines))


def test_a_purchase_charges_the_discounted_first_cycle_and_opens_the_subscription(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    account = _buyer(repository, stripe)
    purchase = yearly_purchase(clock.now)
    repository.calls.clear()

    result = operation.purchase(account.id, purchase, CUSTOMER)

    # The account read, the slot claimed with the attempt, the subscription opened in it.
    assert repository.calls == ["get_account", "claim", "commit"]
    assert result.subscription.version == 1
    stored = repository.get_account(account.id)
    assert (stored.open_subscription_id, stored.pending_purchase) == (
        purchase.subscription_id,
        None,
    )
    [attempt] = repository.charge_attempts(purchase.subscription_id)
    assert (attempt.kind, attempt.status) == (ChargeKind.PURCHASE, ChargeStatus.SUCCEEDED)
    # The discounted net price, 3920, with 20 % French VAT (no billing country given).
    assert attempt.amount == Money(4704, Currency.EUR)
    assert attempt.tax is not None
    assert (attempt.tax.net, attempt.tax.rate) == (Money(3920, Currency.EUR), 2000)
    assert [c.request.amount for c in stripe.charges] == [Money(4704, Currency.EUR)]
    assert attempt.invoice == 1
    assert attempt.requested_by == CUSTOMER
    assert [type(e) for e in result.effects] == [EmailCustomer]
    [requested] = repository.account_trail(account.id)
    assert (requested.action, requested.by) == ("charge_requested", CUSTOMER.id)


def test_a_declined_purchase_opens_nothing_and_frees_the_slot(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    account = _buyer(repository, stripe, declines=True)
    purchase = yearly_purchase(clock.now)

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
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    account = _buyer(repository, stripe)
    purchase = yearly_purchase(clock.now)
    first = operation.purchase(account.id, purchase, CUSTOMER)

    again = operation.purchase(account.id, purchase, CUSTOMER)

    assert again.subscription == first.subscription
    assert again.attempt == first.attempt
    assert again.effects == (), "the receipt went with the first answer"
    assert stripe.charged(purchase.subscription_id) == [f"{purchase.subscription_id}.c00000.a001"]
    assert [name for name, _ in stripe.calls if name == "charge"] == ["charge"]


def test_a_purchase_needs_a_payment_method_and_no_open_subscription(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    without_method = repository.save_account(Account(id="acct_nopm", email="a@example.com"))
    with pytest.raises(DomainError) as refused:
        operation.purchase(without_method.id, yearly_purchase(clock.now), CUSTOMER)
    assert refused.value.code is ErrorCode.PAYMENT_METHOD_REQUIRED

    account = _buyer(repository, stripe)
    operation.purchase(account.id, yearly_purchase(clock.now), CUSTOMER)
    second = yearly_purchase(clock.now)
    with pytest.raises(SubscriptionExists):
        operation.purchase(account.id, second, CUSTOMER)
    assert repository.charge_attempts(second.subscription_id) == []


def test_concurrent_purchases_charge_once(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    """Both requests read an account with nothing open; only the one that claims the slot
    calls the provider, the other is refused before charging."""
    account = _buyer(repository, stripe)
    purchases = [yearly_purchase(clock.now) for _ in range(2)]
    both_read = threading.Barrier(2, timeout=10)
    first_reads = iter(range(2))

    def meet_after_reading(*_: object) -> None:
        if next(first_reads, None) is not None:
            both_read.wait()

    repository.before["claim"] = meet_after_reading

    def buy(purchase: PendingPurchase) -> ChangeResult | SubscriptionExists:
        try:
            return operation.purchase(account.id, purchase, CUSTOMER)
        except SubscriptionExists as refused:
            return refused

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(buy, purchases))

    [bought] = [o for o in outcomes if isinstance(o, ChangeResult)]
    [refused] = [
        p for p, o in zip(purchases, outcomes, strict=True) if not isinstance(o, ChangeResult)
    ]
    assert bought.subscription.status is Status.ACTIVE
    assert stripe.charged() == [f"{bought.subscription.id}.c00000.a001"]
    assert repository.charge_attempts(refused.subscription_id) == []


def _charged_but_unanswered(
    operation: ChargeOperation,
    repository: InMemoryRepository,
    stripe: FakeGateway,
    clock: Clock,
) -> tuple[Account, PendingPurchase]:
    """A purchase whose charge answered after the client gave up: pending, holding the slot."""
    account = _buyer(repository, stripe)
    purchase = yearly_purchase(clock.now)
    stripe.unanswered(after_charging=True)
    with pytest.raises(DomainError):
        attempt_or_payment_pending(operation.purchase(account.id, purchase, CUSTOMER))
    assert repository.get_account(account.id).pending_purchase == purchase
    return account, purchase


def test_a_purchase_left_pending_blocks_another_and_the_sweep_opens_it(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    account, purchase = _charged_but_unanswered(operation, repository, stripe, clock)
    # Another tab buys meanwhile: refused, nothing charged.
    with pytest.raises(SubscriptionExists):
        operation.purchase(account.id, yearly_purchase(clock.now), CUSTOMER)

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
    assert len(stripe.charges) == 1
    # The customer's repeat of the same purchase finds it open.
    again = operation.purchase(account.id, purchase, CUSTOMER)
    assert again.subscription.id == purchase.subscription_id


def test_a_purchase_never_charged_frees_the_slot_when_swept(
    operation: ChargeOperation, repository: InMemoryRepository, stripe: FakeGateway, clock: Clock
) -> None:
    account = _buyer(repository, stripe)
    purchase = yearly_purchase(clock.now)
    # The provider failed without charging, and said so only after the client had given up.
    stripe.unanswered(after_charging=False)
    with pytest.raises(DomainError):
        attempt_or_payment_pending(operation.purchase(account.id, purchase, CUSTOMER))

    clock.now += IN_FLIGHT
    result = operation.reconcile(purchase.subscription_id, account.id, 0, 1)

    assert result.attempt is not None
    assert result.attempt.status is ChargeStatus.FAILED
    assert repository.get_account(account.id).pending_purchase is None
    assert stripe.charges == []
    bought = operation.purchase(account.id, yearly_purchase(clock.now), CUSTOMER)
    assert bought.subscription.status is Status.ACTIVE
