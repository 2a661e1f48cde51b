"""Payments the customer's bank asks them to confirm (3-D Secure), on the in-memory fakes: a
renewal that needs it fails as a soft decline the customer is asked to confirm, a charge made
with the customer present waits for them, and the payment is completed once, whoever records it
first (the webhook or the page), never paying a period twice. The same flows through the HTTP
API and localstripe are in tests/integration/test_confirmations.py."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from billing.changes import ChangeResult
from billing.charging import ChargeOperation
from billing.domain.accounts import Account, PaymentProvider, PendingPurchase
from billing.domain.charges import IN_FLIGHT, ChargeAttempt, ChargeStatus, RefundStatus
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.failures import FailureReason
from billing.domain.state_machine import (
    Actor,
    EmailCustomer,
    EmailTemplate,
    Requester,
    RetryNowRequested,
)
from billing.domain.subscription import ChargeKind, Status, Subscription
from billing.operations.confirmations import Confirmations
from billing.provider_events import Outcome, ProviderEvents
from billing.providers.gateway import ProviderError
from tests.fakes import FakeGateway, InMemoryRepository
from tests.orchestration.charges import card_holder, opened, yearly_purchase
from tests.support.api import Clock

pytestmark = pytest.mark.unit

CUSTOMER = Requester(Actor.CUSTOMER, "user-1")


def _card_holder_asked(stripe: FakeGateway) -> Account:
    """An account with a card whose bank asks for 3-D Secure at setup (passed) and on every
    payment."""
    card = f"pm_{uuid4().hex[:10]}"
    stripe.asks_authentication(card)
    return card_holder(
        stripe, lambda customer: stripe.card_setup(customer, card, authenticate=True)
    )


def _waiting_purchase(
    repository: InMemoryRepository, stripe: FakeGateway, operation: ChargeOperation, clock: Clock
) -> tuple[Account, PendingPurchase, ChangeResult]:
    """A purchase of such a card holder, waiting for them to confirm it with their bank."""
    account = _card_holder_asked(stripe)
    repository.save_account(account)
    purchase = yearly_purchase(clock())
    return account, purchase, operation.purchase(account.id, purchase, CUSTOMER)


def _asking_bank(
    repository: InMemoryRepository, stripe: FakeGateway
) -> tuple[Account, Subscription]:
    """A subscription due for renewal, paid with a card whose bank asks for 3-D Secure."""
    account = _card_holder_asked(stripe)
    return account, opened(repository, account)


def _renewal_to_confirm(
    repository: InMemoryRepository, stripe: FakeGateway, operation: ChargeOperation
) -> tuple[Account, ChargeAttempt]:
    account, sub = _asking_bank(repository, stripe)
    result = operation.renew(sub.id, account.id)
    assert result.attempt is not None
    return account, result.attempt


def _emails(repository: InMemoryRepository) -> list[EmailCustomer]:
    return [m for m in repository.posted_messages() if isinstance(m, EmailCustomer)]


def test_a_renewal_the_bank_asks_to_confirm_is_past_due_and_the_customer_asked(
    repository: InMemoryRepository, stripe: FakeGateway, operation: ChargeOperation
) -> None:
    _, attempt = _renewal_to_confirm(repository, stripe, operation)

    sub = repository.get_subscription(attempt.subscription_id)
    assert attempt.status is ChargeStatus.FAILED
    assert attempt.failure_reason is FailureReason.AUTHENTICATION_REQUIRED
    assert attempt.provider_reference is not None
    assert sub.status is Status.PAST_DUE
    assert sub.last_failure is not None
    assert sub.last_failure.reason is FailureReason.AUTHENTICATION_REQUIRED
    # Not a hard decline: the card is retried on the dunning schedule.
    assert sub.next_retry_at == sub.first_failed_at + timedelta(days=1)  # type: ignore[operator]
    [email] = _emails(repository)
    assert email.template is EmailTemplate.RENEWAL_FAILED
    assert email.details["reason"] == "authentication_required"
    assert email.details["payment_id"] == attempt.id


def test_a_renewal_confirmed_afterwards_pays_its_period_once(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    events: ProviderEvents,
    confirmations: Confirmations,
) -> None:
    account, attempt = _renewal_to_confirm(repository, stripe, operation)
    assert attempt.provider_reference is not None

    stripe.authenticate(attempt.provider_reference)
    assert events.payment(PaymentProvider.STRIPE, attempt.provider_reference) == Outcome.SETTLED
    # The page says it is done too, and the webhook is delivered again: nothing more happens.
    done = confirmations.complete(account.id, attempt.subscription_id, attempt.id)
    again = events.payment(PaymentProvider.STRIPE, attempt.provider_reference)

    sub = repository.get_subscription(attempt.subscription_id)
    paid = repository.get_attempt(attempt.subscription_id, attempt.cycle, attempt.attempt)
    assert again == Outcome.UNCHANGED
    assert done.subscription == sub
    assert (sub.status, sub.cycle) == (Status.ACTIVE, 1)
    assert (paid.status, paid.failure_reason, paid.revision) == (ChargeStatus.SUCCEEDED, None, 1)
    assert len(stripe.charges) == 1
    receipts = [e for e in _emails(repository) if e.template is EmailTemplate.RENEWAL_RECEIPT]
    assert len(receipts) == 1


def test_an_authentication_the_bank_refuses_leaves_a_failed_attempt_and_dunning_goes_on(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    confirmations: Confirmations,
    clock: Clock,
) -> None:
    account, attempt = _renewal_to_confirm(repository, stripe, operation)
    assert attempt.provider_reference is not None

    stripe.authenticate(attempt.provider_reference, success=False)
    with pytest.raises(DomainError) as refused:
        confirmations.complete(account.id, attempt.subscription_id, attempt.id)

    assert refused.value.code is ErrorCode.AUTHENTICATION_REQUIRED
    assert refused.value.details["status"] == "requires_payment_method"  # type: ignore[index,call-overload]
    sub = repository.get_subscription(attempt.subscription_id)
    assert (sub.status, sub.failed_attempts) == (Status.PAST_DUE, 1)
    # The first scheduled retry charges again, as for any soft decline.
    clock.advance(days=1)
    retried = operation.renew(sub.id, account.id)
    assert retried.attempt is not None
    assert (retried.attempt.kind, retried.attempt.attempt) == (ChargeKind.RETRY, 2)
    assert len(stripe.charges) == 2


def test_retry_now_waits_for_the_customer_then_completes(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    confirmations: Confirmations,
    clock: Clock,
) -> None:
    account, attempt = _renewal_to_confirm(repository, stripe, operation)

    pressed = operation.change(
        attempt.subscription_id,
        account.id,
        lambda s, a, now: RetryNowRequested(at=now, by=CUSTOMER),
    )

    assert pressed.attempt is not None
    assert pressed.attempt.status is ChargeStatus.PENDING
    assert pressed.confirmation is not None
    assert pressed.confirmation.status == "requires_action"
    [_, on_session] = stripe.charges
    assert on_session.request.on_session
    reference = on_session.outcome.reference
    assert reference is not None
    # Not taken yet: the page shows how to confirm it.
    found = confirmations.confirmation(account.id, attempt.subscription_id, pressed.attempt.id)
    assert found.confirmation == pressed.confirmation
    stripe.authenticate(reference)
    done = confirmations.complete(account.id, attempt.subscription_id, pressed.attempt.id)
    assert done.attempt is not None
    assert done.attempt.status is ChargeStatus.SUCCEEDED
    assert done.subscription.status is Status.ACTIVE
    assert len(stripe.charges) == 2


def test_a_purchase_waits_for_the_customer_and_opens_once_confirmed(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    events: ProviderEvents,
    confirmations: Confirmations,
    clock: Clock,
) -> None:
    account, purchase, waiting = _waiting_purchase(repository, stripe, operation, clock)

    assert waiting.confirmation is not None
    assert waiting.attempt is not None
    assert waiting.attempt.status is ChargeStatus.PENDING
    held = repository.get_account(account.id).pending_purchase
    assert held is not None
    assert held.subscription_id == purchase.subscription_id
    [charge] = stripe.charges
    assert charge.outcome.reference is not None
    # Still waiting: the webhook of another event about it changes nothing, and the page is
    # told how to confirm it.
    assert events.payment(PaymentProvider.STRIPE, charge.outcome.reference) == Outcome.STILL_PENDING
    with pytest.raises(DomainError) as waiting_still:
        confirmations.complete(account.id, purchase.subscription_id, waiting.attempt.id)
    assert waiting_still.value.code is ErrorCode.AUTHENTICATION_REQUIRED
    stripe.authenticate(charge.outcome.reference)
    assert events.payment(PaymentProvider.STRIPE, charge.outcome.reference) == Outcome.SETTLED

    sub = repository.get_subscription(purchase.subscription_id)
    assert sub.status is Status.ACTIVE
    assert repository.get_account(account.id).open_subscription_id == sub.id


def test_a_purchase_abandoned_past_the_claim_window_is_released_and_its_payment_stopped(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    clock: Clock,
) -> None:
    account, purchase, waiting = _waiting_purchase(repository, stripe, operation, clock)
    assert waiting.attempt is not None

    clock.advance(seconds=IN_FLIGHT.total_seconds())
    released = operation.reconcile(purchase.subscription_id, account.id, 0, 1)

    assert released.attempt is not None
    assert released.attempt.status is ChargeStatus.FAILED
    assert released.attempt.failure_reason is FailureReason.AUTHENTICATION_REQUIRED
    assert repository.get_account(account.id).pending_purchase is None
    [charge] = stripe.charges
    assert charge.outcome.reference is not None
    assert ("abandon", charge.outcome.reference) in stripe.calls
    with pytest.raises(ProviderError):  # it can no longer be confirmed, so never taken
        stripe.authenticate(charge.outcome.reference)


def test_a_payment_confirmed_after_another_paid_its_period_is_given_back(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    events: ProviderEvents,
    confirmations: Confirmations,
    clock: Clock,
) -> None:
    account, attempt = _renewal_to_confirm(repository, stripe, operation)
    assert attempt.provider_reference is not None
    # The scheduled retry pays the period: the bank no longer asks.
    assert account.payment_method is not None
    stripe.exempts(account.payment_method.token)
    clock.advance(days=1)
    retried = operation.renew(attempt.subscription_id, account.id)
    assert retried.subscription.status is Status.ACTIVE

    # Its page no longer offers to confirm it; a customer who kept the page open still can.
    found = confirmations.confirmation(account.id, attempt.subscription_id, attempt.id)
    assert found.confirmation is None
    stripe.authenticate(attempt.provider_reference)
    assert events.payment(PaymentProvider.STRIPE, attempt.provider_reference) == Outcome.SETTLED

    sub = repository.get_subscription(attempt.subscription_id)
    late = repository.get_attempt(attempt.subscription_id, attempt.cycle, attempt.attempt)
    assert (sub.status, sub.cycle) == (Status.ACTIVE, 1)  # paid once, not moved on twice
    assert late.status is ChargeStatus.SUCCEEDED
    assert [(r.amount, r.status) for r in late.refunds] == [(late.amount, RefundStatus.SUCCEEDED)]
    assert [key for name, key in stripe.calls if name == "refund"] == [f"{attempt.id}.r01"]
    with pytest.raises(DomainError) as answered:
        confirmations.complete(account.id, attempt.subscription_id, attempt.id)
    assert answered.value.code is ErrorCode.NO_ACTION_REQUIRED
    refunded = [e for e in _emails(repository) if e.template is EmailTemplate.PAYMENT_REFUNDED]
    assert len(refunded) == 1


def test_another_accounts_payment_is_not_found(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    confirmations: Confirmations,
) -> None:
    _, attempt = _renewal_to_confirm(repository, stripe, operation)

    others = (("acct_other", attempt.subscription_id), (attempt.account_id, "sub_other"))
    for account_id, subscription_id in others:
        with pytest.raises(DomainError) as missing:
            confirmations.confirmation(account_id, subscription_id, attempt.id)
        assert missing.value.code is ErrorCode.NOT_FOUND
