"""Acting on the providers' webhooks and sales' refunds, on the in-memory fakes: every event read
again from the provider, so that repeated, late and out-of-order deliveries change nothing
more than the first; refunds claimed before the provider is called. The same flows through
the HTTP API, localstripe and the PayPal stand-in are in tests/integration/test_webhooks.py."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest

from billing.charging import ChargeOperation
from billing.domain.accounts import Account, PaymentProvider
from billing.domain.charges import (
    ChargeAttempt,
    ChargeStatus,
    DisputeStatus,
    RefundStatus,
)
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.domain.state_machine import (
    Actor,
    DisputeCleared,
    EmailCustomer,
    EmailTemplate,
    Requester,
    SalesNotice,
    apply,
)
from billing.domain.subscription import ChargeKind, Status, Subscription
from billing.operations.refunds import Refunds
from billing.persistence.repository import SubscriptionChange
from billing.provider_events import Outcome, ProviderEvents
from billing.providers.gateway import ChargeOutcome, ProviderEvent, ProviderRefund, WebhookTopic
from tests.fakes import FakeGateway, InMemoryRepository
from tests.orchestration.charges import card_holder, opened
from tests.support.api import Clock

pytestmark = pytest.mark.unit

SALES = Requester(Actor.SALES, "sales-1")
EUR = Currency.EUR


def _customer(repository: InMemoryRepository, stripe: FakeGateway) -> tuple[Account, Subscription]:
    card = f"pm_{uuid4().hex[:10]}"
    account = card_holder(stripe, lambda customer: stripe.card_setup(customer, card))
    return account, opened(repository, account)


def _renewed(
    repository: InMemoryRepository, stripe: FakeGateway, operation: ChargeOperation
) -> tuple[Account, ChargeAttempt]:
    """A monthly subscription whose first renewal (an hour ago) went through."""
    account, sub = _customer(repository, stripe)
    result = operation.renew(sub.id, account.id)
    assert result.attempt is not None
    assert result.attempt.status is ChargeStatus.SUCCEEDED
    return account, result.attempt


def _about(payment: ChargeAttempt, provider: PaymentProvider = PaymentProvider.STRIPE) -> str:
    assert payment.provider_reference is not None
    return payment.provider_reference


def _refunds_asked(gateway: FakeGateway) -> list[str | None]:
    """The keys of the refunds asked of the provider, every retry counted."""
    return [key for name, key in gateway.calls if name == "refund"]


def _messages(repository: InMemoryRepository) -> list[str]:
    """What the outbox was given to send: each email's template and each notice's name."""
    return [
        message.template.value if isinstance(message, EmailCustomer) else message.notice.value
        for message in repository.posted_messages()
    ]


# --- outcomes -------------------------------------------------------------------------------


def test_a_charge_still_processing_is_settled_by_its_event(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    events: ProviderEvents,
) -> None:
    account, sub = _customer(repository, stripe)
    assert account.payment_method is not None
    stripe.processes(account.payment_method.token)
    pending = operation.renew(sub.id, account.id).attempt
    assert pending is not None
    assert pending.status is ChargeStatus.PENDING
    [charge] = stripe.charges
    key, reference = charge.request.key, charge.outcome.reference
    assert reference is not None

    assert events.payment(PaymentProvider.STRIPE, reference) == Outcome.STILL_PENDING
    stripe.settle(key, ChargeOutcome.succeeded(reference))
    assert events.payment(PaymentProvider.STRIPE, reference) == Outcome.SETTLED

    renewed = repository.get_subscription(sub.id)
    assert (renewed.status, renewed.cycle) == (Status.ACTIVE, 1)
    assert repository.get_attempt(sub.id, 1, 1).status is ChargeStatus.SUCCEEDED
    assert len(stripe.charges) == 1
    # Delivered again, or a failure event arriving after: the payment already says it all.
    assert events.payment(PaymentProvider.STRIPE, reference) == Outcome.UNCHANGED
    assert repository.get_subscription(sub.id) == renewed


def test_an_event_for_a_payment_this_system_did_not_make_changes_nothing(
    events: ProviderEvents, stripe: FakeGateway
) -> None:
    foreign = ProviderEvent(
        PaymentProvider.STRIPE, "evt_1", "customer.created", Clock()(), topic=None
    )
    assert events.handle(foreign) == Outcome.IGNORED


# --- refunds --------------------------------------------------------------------------------


def test_a_refund_made_at_the_provider_is_recorded_once_and_the_customer_told(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    events: ProviderEvents,
) -> None:
    _, payment = _renewed(repository, stripe, operation)
    stripe.refund_at_provider(_about(payment), Money(1000, EUR))

    assert events.payment(PaymentProvider.STRIPE, _about(payment)) == Outcome.RECORDED
    assert events.payment(PaymentProvider.STRIPE, _about(payment)) == Outcome.UNCHANGED

    recorded = repository.get_attempt(payment.subscription_id, 1, 1)
    [refund] = recorded.refunds
    assert (refund.amount, refund.status, refund.by.actor) == (
        Money(1000, EUR),
        RefundStatus.SUCCEEDED,
        Actor.PROVIDER,
    )
    assert recorded.refundable == Money(4880, EUR), "4900 and its 20 % VAT, less 1000"
    assert _messages(repository).count(EmailTemplate.PAYMENT_REFUNDED.value) == 1
    trail = [entry.action for entry in repository.audit_trail(payment.subscription_id)]
    assert trail.count("refund_recorded") == 1


def test_sales_refunds_part_then_the_rest_and_no_more(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    refunds: Refunds,
    events: ProviderEvents,
) -> None:
    _, payment = _renewed(repository, stripe, operation)

    part = refunds.refund(payment.id, 900, cancel=False, by=SALES)
    rest = refunds.refund(payment.id, None, cancel=False, by=SALES)

    assert [r.amount.amount for r in rest.payment.refunds] == [900, 4980], "of 5880 with VAT"
    assert {r.status for r in rest.payment.refunds} == {RefundStatus.SUCCEEDED}
    assert part.subscription.status is Status.ACTIVE
    with pytest.raises(DomainError) as refused:
        refunds.refund(payment.id, 1, cancel=False, by=SALES)
    assert refused.value.code is ErrorCode.REFUND_TOO_LARGE
    # The webhooks that follow find both refunds recorded, by their keys.
    assert events.payment(PaymentProvider.STRIPE, _about(payment)) == Outcome.UNCHANGED
    assert len(_refunds_asked(stripe)) == 2
    assert _messages(repository).count(EmailTemplate.PAYMENT_REFUNDED.value) == 2


def test_a_refund_larger_than_the_payment_is_refused_before_the_provider_is_called(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    refunds: Refunds,
) -> None:
    _, payment = _renewed(repository, stripe, operation)
    before = repository.get_attempt(payment.subscription_id, 1, 1)

    with pytest.raises(DomainError) as refused:
        refunds.refund(payment.id, 5881, cancel=True, by=SALES)

    assert refused.value.code is ErrorCode.REFUND_TOO_LARGE
    assert refused.value.details == {"refundable": 5880, "currency": "EUR"}, "4900 + 20 % VAT"
    assert repository.get_attempt(payment.subscription_id, 1, 1) == before
    assert _refunds_asked(stripe) == []
    assert repository.get_subscription(payment.subscription_id).status is Status.ACTIVE


def test_a_refund_with_cancel_ends_the_subscription_at_once(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    refunds: Refunds,
) -> None:
    _, payment = _renewed(repository, stripe, operation)

    result = refunds.refund(payment.id, None, cancel=True, by=SALES)

    assert result.subscription.status is Status.CANCELLED
    assert result.subscription.cancel_reason is not None
    assert result.subscription.cancel_reason.value == "cancelled_by_sales"
    assert result.payment.refundable == Money(0, EUR)


def test_a_refund_the_webhook_records_first_is_recorded_once(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    refunds: Refunds,
    events: ProviderEvents,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The provider's webhook for the refund arrives while the request still waits for the
    provider's answer: it completes the claimed refund by its key; the request then finds it
    recorded."""
    _, payment = _renewed(repository, stripe, operation)
    provider_refund = stripe.refund

    def refund_then_webhook(reference: str, amount: Money, key: str) -> ProviderRefund:
        made = provider_refund(reference, amount, key)
        assert events.payment(PaymentProvider.STRIPE, reference) == Outcome.RECORDED
        return made

    monkeypatch.setattr(stripe, "refund", refund_then_webhook)

    result = refunds.refund(payment.id, 1500, cancel=False, by=SALES)

    [refund] = result.payment.refunds
    assert (refund.status, refund.by) == (RefundStatus.SUCCEEDED, SALES)
    assert _messages(repository).count(EmailTemplate.PAYMENT_REFUNDED.value) == 1


def test_a_refund_left_pending_by_a_crash_is_resumed_with_its_key(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    refunds: Refunds,
    clock: Clock,
) -> None:
    _, payment = _renewed(repository, stripe, operation)
    stripe.fails(503, times=3, operation="refund")  # every retry of the adapter: unavailable
    with pytest.raises(Exception):  # noqa: B017,PT011 - the provider's error, answered 503
        refunds.refund(payment.id, 1000, cancel=False, by=SALES)
    [pending] = repository.get_attempt(payment.subscription_id, 1, 1).refunds
    assert pending.status is RefundStatus.PENDING

    with pytest.raises(DomainError) as busy:
        refunds.refund(payment.id, 500, cancel=False, by=SALES)
    assert busy.value.code is ErrorCode.REFUND_IN_PROGRESS

    clock.advance(minutes=10)
    result = refunds.refund(payment.id, 500, cancel=False, by=SALES)
    assert [(r.amount.amount, r.status) for r in result.payment.refunds] == [
        (1000, RefundStatus.SUCCEEDED),
        (500, RefundStatus.SUCCEEDED),
    ]
    assert _refunds_asked(stripe).count(pending.key) == 2  # unavailable, then made with its key


def test_only_a_payment_that_went_through_is_refunded(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    refunds: Refunds,
) -> None:
    account, sub = _customer(repository, stripe)
    assert account.payment_method is not None
    stripe.declines(account.payment_method.token)
    declined = operation.renew(sub.id, account.id).attempt
    assert declined is not None

    with pytest.raises(DomainError) as refused:
        refunds.refund(declined.id, None, cancel=False, by=SALES)
    assert refused.value.code is ErrorCode.PAYMENT_NOT_REFUNDABLE
    with pytest.raises(Exception, match="not found"):
        refunds.refund("not-a-payment", None, cancel=False, by=SALES)


# --- disputes -------------------------------------------------------------------------------


def test_a_dispute_holds_the_next_renewal_until_sales_clears_it(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    events: ProviderEvents,
    clock: Clock,
) -> None:
    account, payment = _renewed(repository, stripe, operation)
    stripe.open_dispute(_about(payment))

    assert events.payment(PaymentProvider.STRIPE, _about(payment)) == Outcome.RECORDED

    held = repository.get_subscription(payment.subscription_id)
    assert held.disputed_payment_id == payment.id
    assert held.due_at is None
    assert SalesNotice.DISPUTE_OPENED.value in _messages(repository)
    dispute = repository.get_attempt(payment.subscription_id, 1, 1).dispute
    assert dispute is not None
    assert dispute.status is DisputeStatus.OPEN
    # The next period's end comes and goes: nothing is charged.
    clock.now = held.period.end + timedelta(hours=1)
    assert operation.renew(held.id, account.id).attempt is None
    assert len(stripe.charges) == 1
    # Sales clears it: the renewal goes through.
    cleared = apply(held, DisputeCleared(at=clock(), by=SALES)).subscription
    assert cleared.due_at == held.period.end


def test_a_lost_dispute_makes_the_renewed_period_unpaid(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    events: ProviderEvents,
) -> None:
    _, payment = _renewed(repository, stripe, operation)
    stripe.open_dispute(_about(payment))
    events.payment(PaymentProvider.STRIPE, _about(payment))
    stripe.close_dispute(_about(payment), won=False)

    assert events.payment(PaymentProvider.STRIPE, _about(payment)) == Outcome.RECORDED
    assert events.payment(PaymentProvider.STRIPE, _about(payment)) == Outcome.UNCHANGED

    unpaid = repository.get_subscription(payment.subscription_id)
    assert unpaid.status is Status.PAST_DUE
    assert unpaid.cycle == 0
    assert unpaid.last_failure is not None
    assert unpaid.last_failure.reason is FailureReason.PAYMENT_REVERSED
    messages = _messages(repository)
    assert EmailTemplate.PAYMENT_REVERSED.value in messages
    assert SalesNotice.DISPUTE_LOST.value in messages


def test_a_dispute_first_heard_of_when_it_is_won_is_recorded_with_its_hold(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    events: ProviderEvents,
) -> None:
    _, payment = _renewed(repository, stripe, operation)
    stripe.open_dispute(_about(payment))
    stripe.close_dispute(_about(payment), won=True)

    events.payment(PaymentProvider.STRIPE, _about(payment))

    sub = repository.get_subscription(payment.subscription_id)
    assert (sub.status, sub.disputed_payment_id) == (Status.ACTIVE, payment.id)
    notices = _messages(repository)
    assert SalesNotice.DISPUTE_OPENED.value in notices
    assert SalesNotice.DISPUTE_WON.value in notices


# --- saved methods --------------------------------------------------------------------------


def test_a_card_the_network_updated_is_stored_and_retried_after_a_hard_decline(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    events: ProviderEvents,
    clock: Clock,
) -> None:
    account, sub = _customer(repository, stripe)
    assert account.payment_method is not None
    card = account.payment_method.token
    stripe.declines(card, FailureReason.PAYMENT_METHOD_INVALID, "expired_card")
    assert operation.renew(sub.id, account.id).subscription.status is Status.PAST_DUE

    clock.advance(hours=2)
    stripe.update_card(card, "1881", 4, 2031)
    stripe.declines(card, FailureReason.CARD_DECLINED)  # any charge reaching it is counted
    assert events.payment_method(PaymentProvider.STRIPE, card, None) == Outcome.METHOD_UPDATED
    assert events.payment_method(PaymentProvider.STRIPE, card, None) == Outcome.UNCHANGED

    method = repository.get_account(account.id).payment_method
    assert method is not None
    assert (method.last4, method.exp_month, method.exp_year) == ("1881", 4, 2031)
    assert method.updated_at == clock()
    past_due = repository.get_subscription(sub.id)
    assert past_due.next_retry_at is not None
    clock.now = past_due.next_retry_at
    operation.renew(sub.id, account.id)
    assert len(stripe.charged(sub.id)) == 2  # the retry charged the updated card


def test_a_method_removed_at_the_provider_is_removed_and_the_customer_asked_for_another(
    repository: InMemoryRepository,
    paypal: FakeGateway,
    events: ProviderEvents,
) -> None:
    account = Account(id=f"acct_{uuid4().hex[:10]}", email="ada@example.com")
    start = paypal.start_update(account, account.id)
    method = paypal.save_payment_method(account.id, start.reference)
    account = replace(account, payment_method=method)
    opened(repository, account)
    paypal.remove_method(method.token)

    outcome = events.payment_method(PaymentProvider.PAYPAL, method.token, account.id)

    assert outcome == Outcome.METHOD_REMOVED
    assert repository.get_account(account.id).payment_method is None
    [message] = repository.posted_messages()
    assert isinstance(message, EmailCustomer)
    assert message.template is EmailTemplate.PAYMENT_METHOD_REMOVED
    assert "next_charge_at" in message.details
    # Delivered again: the method it names is no longer the account's.
    assert events.payment_method(PaymentProvider.PAYPAL, method.token, account.id) == "not_ours"


def test_an_event_about_a_replaced_method_changes_nothing(
    repository: InMemoryRepository, stripe: FakeGateway, events: ProviderEvents
) -> None:
    account, _ = _customer(repository, stripe)
    old = f"pm_{uuid4().hex[:10]}"
    stripe.save_payment_method(
        account.stripe_customer_id, stripe.card_setup(account.stripe_customer_id, old)
    )
    stripe.update_card(old, "0005", 1, 2030)

    assert events.payment_method(PaymentProvider.STRIPE, old, None) == Outcome.NOT_OURS
    assert repository.get_account(account.id).payment_method == account.payment_method


def test_a_webhook_event_is_routed_by_its_topic(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    events: ProviderEvents,
) -> None:
    _, payment = _renewed(repository, stripe, operation)
    stripe.refund_at_provider(_about(payment), Money(100, EUR))
    event = ProviderEvent(
        PaymentProvider.STRIPE,
        "evt_2",
        "charge.refunded",
        Clock()(),
        topic=WebhookTopic.PAYMENT,
        reference=_about(payment),
    )
    assert events.handle(event) == Outcome.RECORDED
    assert ChargeKind.RENEWAL is payment.kind


def test_two_refunds_of_what_is_left_at_once_give_it_back_once(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    refunds: Refunds,
) -> None:
    """Both requests read the payment before either claims its refund: the claim is a
    conditional write, so the second finds the first's pending refund and is refused before
    the provider is called."""
    _, payment = _renewed(repository, stripe, operation)
    both_read = threading.Barrier(2, timeout=5)
    commits = iter(range(2))

    def after_both_read(change: SubscriptionChange) -> None:
        if next(commits, None) is not None:
            both_read.wait()

    repository.before["commit"] = after_both_read

    def whole(_: int) -> str:
        try:
            refunds.refund(payment.id, None, cancel=False, by=SALES)
        except DomainError as refused:
            return refused.code.value
        return "refunded"

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = sorted(pool.map(whole, range(2)))

    # The loser re-reads the payment: the winner's refund is pending, or already made.
    assert answers[1] == "refunded"
    assert answers[0] in {"refund_in_progress", "refund_too_large"}
    assert len(_refunds_asked(stripe)) == 1
    [refund] = repository.get_attempt(payment.subscription_id, 1, 1).refunds
    assert (refund.amount, refund.status) == (Money(5880, EUR), RefundStatus.SUCCEEDED)
