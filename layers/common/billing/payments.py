"""Changing a payment after it settled: its refunds and its dispute.

A payment (a succeeded charge attempt) changes with the subscription it paid for, in one
transaction: the payment one revision on (written only if no other change revised it first),
the subscription as the state machine decides on the events the change brings (a dispute holds
the renewals; a lost one makes the period unpaid; sales may cancel with a refund), the audit
entries and the emails owed. A change that lost a race is worked out again on fresh state, so
a webhook and a sales refund of the same payment never overwrite each other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from billing.changes import COMMIT_TRIES, notices
from billing.domain.billing_calendar import instant
from billing.domain.charges import ChargeAttempt, Refund
from billing.domain.dunning import DunningSchedule
from billing.domain.errors import TransitionRejected
from billing.domain.money import Money
from billing.domain.outbox import outgoing
from billing.domain.state_machine import (
    DEFAULT_SCHEDULE,
    Audit,
    Effect,
    Event,
    account_audit,
    apply,
)
from billing.domain.subscription import Subscription
from billing.domain.values import frozen
from billing.notifications.emails import payment_refunded
from billing.persistence.repository import (
    BillingRepository,
    ConcurrentModification,
    SubscriptionChange,
)


@frozen
class Revision:
    """What one change does to a payment: the payment as it becomes, the events it brings to
    its subscription, the audit entries of the payment itself, and the refunds it records as
    given back (their customer emails are written once the subscription's new state is known)."""

    payment: ChargeAttempt
    events: tuple[Event, ...] = ()
    audit: tuple[Audit, ...] = ()
    refunded: tuple[Money, ...] = ()


@frozen
class PaymentResult:
    payment: ChargeAttempt
    subscription: Subscription
    changed: bool
    """False when there was nothing to change (a redelivered webhook, a refund recorded by its
    webhook before its own request could)."""


Revise = Callable[[ChargeAttempt, Subscription, datetime], Revision | None]
"""Works out the change from the payment and subscription as stored now; None: nothing to do."""


class PaymentChanges:
    def __init__(
        self,
        repository: BillingRepository,
        *,
        clock: Callable[[], datetime],
        schedule: DunningSchedule = DEFAULT_SCHEDULE,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._schedule = schedule

    def change(
        self, subscription_id: str, cycle: int, attempt: int, revise: Revise
    ) -> PaymentResult:
        """Apply `revise` to the stored payment and write the result; NotFound without it.
        ConcurrentModification after COMMIT_TRIES lost races."""
        for _ in range(COMMIT_TRIES):
            now = instant(self._clock())
            payment = self._repository.get_attempt(subscription_id, cycle, attempt)
            sub = self._repository.get_subscription(subscription_id)
            revision = revise(payment, sub, now)
            if revision is None:
                return PaymentResult(payment, sub, changed=False)
            after, audit, effects = self._decided(sub, revision.events)
            effects += tuple(payment_refunded(after, amount) for amount in revision.refunded)
            try:
                stored = self._repository.commit(
                    SubscriptionChange(
                        before=sub,
                        after=after,
                        payments=(revision.payment,),
                        audit=(*revision.audit, *audit),
                        messages=outgoing(effects, now),
                        at=now,
                    )
                )
            except ConcurrentModification:
                continue
            [payment] = stored.payments
            return PaymentResult(payment, stored.subscription, changed=True)
        raise ConcurrentModification

    def _decided(
        self, sub: Subscription, events: tuple[Event, ...]
    ) -> tuple[Subscription, tuple[Audit, ...], tuple[Effect, ...]]:
        """`sub` after `events`, in order, with their audit entries and notices; an event the
        state machine refuses in the state reached (a dispute of a cancelled subscription's
        payment cleared twice…) changes nothing."""
        audit: tuple[Audit, ...] = ()
        effects: tuple[Effect, ...] = ()
        for event in events:
            try:
                decision = apply(sub, event, self._schedule)
            except TransitionRejected:
                continue
            sub = decision.subscription
            audit += tuple(decision.of_type(Audit))
            effects += notices(decision)
        return sub, audit, effects


def refund_audit(
    action: str, payment: ChargeAttempt, refund: Refund, at: datetime, **more: str
) -> Audit:
    """An audit entry about `refund` of `payment` (requested, recorded, refused), in the name
    of whoever gave it back."""
    details = {
        "subscription_id": payment.subscription_id,
        "payment_id": payment.id,
        "amount": str(refund.amount.amount),
        "currency": refund.amount.currency.value,
    }
    if refund.key is not None:
        details["refund_key"] = refund.key
    if refund.reference is not None:
        details["refund_reference"] = refund.reference
    return account_audit(refund.by, action, at, details | more)
