"""Payments the customer's bank asks them to confirm (Strong Customer Authentication, 3-D
Secure): what their page needs to confirm one with Stripe.js, and the payment completed once
they did.

A charge made with the customer present (a purchase, Retry Now, the retry after a new card)
stays pending while it waits for them; one made without them (a renewal, a scheduled retry)
has failed, and they are emailed a link to confirm it. Either way the payment is completed by
what the provider says of it, read again: its `payment_intent.succeeded` webhook, or the page
telling us the customer is done. A pending attempt settles once, through the charge operation.
A failed one that the customer confirmed afterwards is paid after all: if the state machine
still takes that payment (the subscription is past due for that cycle), the subscription is
active for the period it paid; if not (another attempt paid the cycle meanwhile, or the
subscription ended), the money is given back at once, claimed in the same transaction that
records it, so that nothing is ever kept twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from billing.changes import ChangeResult
from billing.charging import ChargeOperation
from billing.domain.billing_calendar import instant
from billing.domain.charges import UNAPPLIED, ChargeAttempt, ChargeStatus, parse_attempt_key
from billing.domain.dunning import DunningSchedule
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.failures import FailureReason
from billing.domain.state_machine import (
    DEFAULT_SCHEDULE,
    ChargeSucceeded,
    accepts,
    account_audit,
)
from billing.domain.subscription import ChargeKind, Subscription
from billing.domain.values import frozen
from billing.operations.refunds import Refunds, claim
from billing.operations.subscriptions import authentication_required, declined
from billing.payments import PaymentChanges, Revision
from billing.persistence.repository import BillingRepository, NotFound
from billing.providers.gateway import ChargeOutcome, Confirmation


@frozen
class PaymentConfirmation:
    """A payment as the customer's page sees it: ours, and how to confirm it with the bank
    (None when there is nothing to confirm: it went through, or can no longer be taken)."""

    payment: ChargeAttempt
    confirmation: Confirmation | None


class Confirmations:
    def __init__(
        self,
        repository: BillingRepository,
        charging: ChargeOperation,
        payments: PaymentChanges,
        refunds: Refunds,
        *,
        clock: Callable[[], datetime],
        schedule: DunningSchedule = DEFAULT_SCHEDULE,
    ) -> None:
        self._repository = repository
        self._charging = charging
        self._payments = payments
        self._refunds = refunds
        self._clock = clock
        self._schedule = schedule

    def confirmation(
        self, account_id: str, subscription_id: str, payment_id: str
    ) -> PaymentConfirmation:
        """Payment `payment_id` of the account's subscription, with what confirming it takes
        now (read from the provider). NotFound for another account's payment."""
        payment = self._payment(account_id, subscription_id, payment_id)
        return PaymentConfirmation(
            payment, self._confirmable(payment, self._charging.provider_outcome(payment))
        )

    def complete(self, account_id: str, subscription_id: str, payment_id: str) -> ChangeResult:
        """The customer says they confirmed payment `payment_id`: what the provider says of it
        is recorded (settled once, whoever comes first: this request or the webhook).

        Raises NotFound, DomainError authentication_required (still to be confirmed: how),
        payment_declined (it can no longer be taken), payment_pending (the provider is still
        processing it)."""
        payment = self._payment(account_id, subscription_id, payment_id)
        outcome = self._charging.provider_outcome(payment)
        if outcome is not None:
            self.record(payment, outcome)
        payment = self._repository.get_attempt(
            payment.subscription_id, payment.cycle, payment.attempt
        )
        account = self._repository.get_account(account_id)
        if payment.status is ChargeStatus.SUCCEEDED:
            if payment.refunded.amount:
                raise DomainError(
                    ErrorCode.NO_ACTION_REQUIRED,
                    "This period was already paid: the payment you confirmed is given back.",
                )
            sub = self._repository.get_subscription(payment.subscription_id)
            return ChangeResult(sub, account, payment)
        confirmation = self._confirmable(payment, outcome)
        if confirmation is not None:
            raise authentication_required(payment, confirmation, account.locale)
        if payment.status is ChargeStatus.PENDING:
            raise DomainError(ErrorCode.PAYMENT_PENDING)
        raise declined(payment.failure_reason or FailureReason.AUTHENTICATION_REQUIRED, account)

    def record(self, payment: ChargeAttempt, outcome: ChargeOutcome) -> bool:
        """Bring `payment` level with the `outcome` the provider reports for it now: a pending
        one settled once it is final, a failed one paid after all (or given back, when it no
        longer pays for anything). False when there was nothing to record."""
        if payment.status is ChargeStatus.PENDING:
            if outcome.status is ChargeStatus.PENDING:
                return False
            return self._charging.settle(payment, outcome) is not None
        if (
            payment.status is not ChargeStatus.FAILED
            or outcome.status is not ChargeStatus.SUCCEEDED
        ):
            return False
        assert outcome.reference is not None
        reference = outcome.reference
        result = self._payments.change(
            payment.subscription_id,
            payment.cycle,
            payment.attempt,
            lambda p, sub, at: self._paid_late(p, sub, reference, at),
        )
        if result.changed and result.payment.refunds:
            self._refunds.resume(result.payment)
        return result.changed

    def _paid_late(
        self, payment: ChargeAttempt, sub: Subscription, reference: str, at: datetime
    ) -> Revision | None:
        if payment.status is not ChargeStatus.FAILED:
            return None  # recorded meanwhile
        paid = replace(
            payment,
            status=ChargeStatus.SUCCEEDED,
            provider_reference=reference,
            failure_reason=None,
        )
        details = {
            "subscription_id": payment.subscription_id,
            "payment_id": payment.id,
            "amount": str(payment.amount.amount),
            "currency": payment.amount.currency.value,
        }
        confirmed = account_audit(payment.requested_by, "payment_confirmed", at, details)
        event = _paid(payment, at)
        if accepts(sub, event, self._schedule):
            return Revision(paid.revised(), events=(event,), audit=(confirmed,))
        # It pays for nothing now: claimed back in the same write, sent once it is written.
        back = claim(paid, None, UNAPPLIED, at)
        return replace(back, audit=(confirmed, *back.audit))

    def _confirmable(
        self, payment: ChargeAttempt, outcome: ChargeOutcome | None
    ) -> Confirmation | None:
        """How the customer can still confirm `payment`, if confirming it would pay for
        something: a pending one, or a failed one whose cycle is still due (the state machine
        would take it). Never one whose period another payment paid, or a purchase released."""
        if outcome is None or outcome.confirmation is None:
            return None
        if payment.status is ChargeStatus.PENDING:
            return outcome.confirmation
        if payment.status is not ChargeStatus.FAILED or payment.kind is ChargeKind.PURCHASE:
            return None
        sub = self._repository.get_subscription(payment.subscription_id)
        at = instant(self._clock())
        return outcome.confirmation if accepts(sub, _paid(payment, at), self._schedule) else None

    def _payment(self, account_id: str, subscription_id: str, payment_id: str) -> ChargeAttempt:
        ids = parse_attempt_key(payment_id)
        if ids is None or ids[0] != subscription_id:
            raise NotFound("Payment")
        payment = self._repository.get_attempt(*ids)
        if payment.account_id != account_id:
            raise NotFound("Payment")
        return payment


def _paid(payment: ChargeAttempt, at: datetime) -> ChargeSucceeded:
    """What the subscription is told of `payment` once it is taken: paid, for its own cycle."""
    return ChargeSucceeded(
        at=at,
        by=payment.requested_by,
        kind=payment.kind,
        amount=payment.amount,
        cycle=payment.cycle,
    )
