"""Acting on what a payment provider tells us by webhook: never from the event's payload, which
may be stale, repeated or out of order, but from the payment or saved method as the provider has
it now, read again.

- A payment event (an outcome, a refund, a dispute) brings our record of the payment level with
  the provider's: a pending attempt is settled through the charge operation's settle-once
  commit (the outcome the sweep would reach, sooner), a failed one the customer confirmed with
  their bank afterwards is paid after all (`billing.operations.confirmations`), refunds made at
  the provider are recorded
  on it, and a dispute's opening and closing go through the state machine. An event that says
  nothing new (a `payment_failed` after the `succeeded` that settled it) changes nothing.
- A saved-method event brings the account's method level with the provider's: a card the
  network updated gets its new expiry and last digits (its old hard decline no longer blocks
  the retry), a method removed at the provider is removed here and the customer asked for one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from enum import StrEnum

from billing.changes import AccountWrite, write_account
from billing.domain.accounts import Account, PaymentMethod, PaymentProvider
from billing.domain.billing_calendar import instant
from billing.domain.charges import (
    ChargeAttempt,
    ChargeStatus,
    Dispute,
    DisputeStatus,
    Refund,
    merge_refunds,
    parse_attempt_key,
)
from billing.domain.money import Money
from billing.domain.outbox import outgoing
from billing.domain.state_machine import (
    Actor,
    Audit,
    DisputeLost,
    DisputeWon,
    Event,
    PaymentDisputed,
    Requester,
    account_audit,
)
from billing.domain.subscription import Subscription
from billing.notifications.emails import payment_method_removed
from billing.operations.confirmations import Confirmations
from billing.payments import PaymentChanges, Revision, refund_audit
from billing.persistence.repository import BillingRepository, NotFound
from billing.providers.gateway import (
    PaymentGateway,
    ProviderDispute,
    ProviderEvent,
    ProviderPayment,
    WebhookTopic,
)


class Outcome(StrEnum):
    """What acting on an event did, recorded with the event."""

    IGNORED = "ignored"
    """An event type we do not act on."""
    NOT_OURS = "not_ours"
    """About a payment or method this system did not make, or no longer knows."""
    STILL_PENDING = "still_pending"
    SETTLED = "settled"
    RECORDED = "recorded"
    """Refunds or a dispute recorded on the payment."""
    UNCHANGED = "unchanged"
    METHOD_UPDATED = "method_updated"
    METHOD_REMOVED = "method_removed"


class ProviderEvents:
    def __init__(
        self,
        repository: BillingRepository,
        gateways: Mapping[PaymentProvider, PaymentGateway],
        confirmations: Confirmations,
        payments: PaymentChanges,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._repository = repository
        self._gateways = gateways
        self._confirmations = confirmations
        self._payments = payments
        self._clock = clock

    def handle(self, event: ProviderEvent) -> Outcome:
        """Act on `event` (already verified and recorded once); what it did (`Outcome`).
        Raises ProviderError while the provider cannot say, so the event is tried again."""
        if event.reference is None or event.topic is None:
            return Outcome.IGNORED
        if event.topic is WebhookTopic.PAYMENT:
            return self.payment(event.provider, event.reference)
        return self.payment_method(event.provider, event.reference, event.account_id)

    # --- payments ---

    def payment(self, provider: PaymentProvider, reference: str) -> Outcome:
        """Bring our record of payment `reference` level with the provider's."""
        now = self._gateways[provider].payment(reference)
        ids = parse_attempt_key(now.charge_key or "")
        if ids is None:
            return Outcome.NOT_OURS
        try:
            attempt = self._repository.get_attempt(*ids)
        except NotFound:
            return Outcome.NOT_OURS
        outcome = Outcome.UNCHANGED
        if attempt.status is ChargeStatus.PENDING and now.outcome.status is ChargeStatus.PENDING:
            return Outcome.STILL_PENDING
        if self._confirmations.record(attempt, now.outcome):
            outcome = Outcome.SETTLED
        if not now.refunds and now.dispute is None:
            return outcome
        result = self._payments.change(
            *ids, lambda payment, sub, at: _level_with(provider, now, payment, sub, at)
        )
        return Outcome.RECORDED if result.changed else outcome

    # --- saved methods ---

    def payment_method(
        self, provider: PaymentProvider, token: str, account_id: str | None
    ) -> Outcome:
        """Bring the account's saved method `token` level with the provider's."""
        found = self._gateways[provider].payment_method(token)
        owner = found.account_id or account_id
        if owner is None:
            return Outcome.NOT_OURS

        def level(account: Account) -> tuple[Outcome, AccountWrite | None]:
            current = account.payment_method
            if current is None or current.token != token:
                return Outcome.NOT_OURS, None  # an older method, already replaced
            at = instant(self._clock())
            if found.method is None:
                email = payment_method_removed(account, current, self._next_charge(account))
                return Outcome.METHOD_REMOVED, AccountWrite(
                    replace(account, payment_method=None),
                    [_method_audit("payment_method_removed_by_provider", current, at)],
                    outgoing((email,), at),
                )
            updated = _updated(current, found.method, at)
            if updated is None:
                return Outcome.UNCHANGED, None
            return Outcome.METHOD_UPDATED, AccountWrite(
                replace(account, payment_method=updated),
                [_method_audit("payment_method_updated_by_provider", updated, at)],
            )

        try:
            outcome, _ = write_account(self._repository, owner, level)
        except NotFound:  # no such account (its open subscription is written with its pointer)
            return Outcome.NOT_OURS
        return outcome

    def _next_charge(self, account: Account) -> tuple[datetime, Money] | None:
        if account.open_subscription_id is None:
            return None
        sub = self._repository.get_subscription(account.open_subscription_id)
        at, amount = sub.next_charge_at, sub.next_charge_amount
        return None if at is None or amount is None else (at, amount)


def _method_audit(action: str, method: PaymentMethod, at: datetime) -> Audit:
    details = {"provider": method.provider.value, "payment_method": method.token}
    if method.last4:
        details["last4"] = method.last4
    if method.exp_month is not None and method.exp_year is not None:
        details["expiry"] = f"{method.exp_month:02d}/{method.exp_year}"
    return account_audit(_by(method.provider), action, at, details)


def _updated(current: PaymentMethod, found: PaymentMethod, at: datetime) -> PaymentMethod | None:
    """The saved method with the card details the provider has now; None when they are ours."""
    details = ("brand", "last4", "exp_month", "exp_year", "paypal_email")
    if all(getattr(current, name) == getattr(found, name) for name in details):
        return None
    return replace(current, **{name: getattr(found, name) for name in details}, updated_at=at)


def _by(provider: PaymentProvider) -> Requester:
    return Requester(Actor.PROVIDER, provider.value)


def _level_with(
    provider: PaymentProvider,
    now: ProviderPayment,
    payment: ChargeAttempt,
    sub: Subscription,
    at: datetime,
) -> Revision | None:
    """The change that brings `payment` level with what the provider reports `now`; None when
    it already is."""
    if payment.status is not ChargeStatus.SUCCEEDED:
        return None
    reported = tuple(
        Refund(r.amount, r.at, _by(provider), key=r.key, reference=r.reference) for r in now.refunds
    )
    refunds, new = merge_refunds(payment.refunds, reported)
    dispute = _dispute(now.dispute, payment.dispute, at)
    if not new and dispute == payment.dispute:
        return None
    audit = tuple(refund_audit("refund_recorded", payment, refund, refund.at) for refund in new)
    events: tuple[Event, ...] = ()
    if dispute is not None and dispute != payment.dispute:
        details = _dispute_details(payment, dispute)
        audit += (account_audit(_by(provider), f"dispute_{dispute.status.value}", at, details),)
        events = _dispute_events(payment, dispute, at)
    return Revision(
        payment.revised(refunds=refunds, dispute=dispute),
        events=events,
        audit=audit,
        refunded=tuple(refund.amount for refund in new),
    )


def _dispute(
    reported: ProviderDispute | None, recorded: Dispute | None, at: datetime
) -> Dispute | None:
    if reported is None:
        return recorded
    closed = None if reported.status is DisputeStatus.OPEN else at
    if recorded is not None and recorded.status is reported.status:
        return recorded
    return Dispute(
        reference=reported.reference,
        status=reported.status,
        reason=reported.reason,
        amount=reported.amount,
        opened_at=reported.opened_at,
        closed_at=closed,
    )


def _dispute_events(payment: ChargeAttempt, now: Dispute, at: datetime) -> tuple[Event, ...]:
    """What the subscription is told of a dispute that changed: that it opened (even if it is
    already closed when we first hear of it: its hold and sales' notice), then how it closed."""
    events: list[Event] = []
    if payment.dispute is None:
        events.append(
            PaymentDisputed(
                at=at,
                payment_id=payment.id,
                cycle=payment.cycle,
                amount=now.amount,
                reason=now.reason,
            )
        )
    if now.status is DisputeStatus.WON:
        events.append(DisputeWon(at=at, payment_id=payment.id))
    if now.status is DisputeStatus.LOST:
        events.append(
            DisputeLost(at=at, payment_id=payment.id, cycle=payment.cycle, attempt=payment.attempt)
        )
    return tuple(events)


def _dispute_details(payment: ChargeAttempt, dispute: Dispute) -> dict[str, str]:
    return {
        "subscription_id": payment.subscription_id,
        "payment_id": payment.id,
        "dispute_reference": dispute.reference,
        "dispute_reason": dispute.reason,
        "amount": str(dispute.amount.amount),
        "currency": dispute.amount.currency.value,
    }
