"""Refunds sales makes: all or part of a payment given back through the provider it was made
with, optionally cancelling the subscription at once.

A refund is money moving, so it follows the charge's rules: it is claimed on the payment (a
pending refund, numbered, its deterministic key) before the provider is called, so that two
requests cannot both give back what is left; the provider is called with that key; the outcome
is recorded on the payment with its subscription. The provider's webhook that follows finds the
refund by its key and records nothing twice; if it comes first, the request finds its refund
already recorded. A refund left pending by a crash is resumed, with its own key, by the next
refund request for the payment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from billing.domain.accounts import PaymentProvider
from billing.domain.billing_calendar import instant
from billing.domain.charges import (
    IN_FLIGHT,
    ChargeAttempt,
    ChargeStatus,
    Refund,
    RefundStatus,
    merge_refunds,
    parse_attempt_key,
)
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.money import Money
from billing.domain.state_machine import Requester, SalesCancelled
from billing.domain.subscription import Status, Subscription
from billing.domain.values import frozen
from billing.payments import PaymentChanges, Revision, refund_audit
from billing.persistence.repository import BillingRepository, NotFound
from billing.providers.gateway import PaymentGateway, ProviderRefund, RefundRefused


@frozen
class RefundResult:
    payment: ChargeAttempt
    subscription: Subscription


Ids = tuple[str, int, int]


class Refunds:
    def __init__(
        self,
        repository: BillingRepository,
        gateways: Mapping[PaymentProvider, PaymentGateway],
        payments: PaymentChanges,
        *,
        clock: Callable[[], datetime],
        in_flight: timedelta = IN_FLIGHT,
    ) -> None:
        self._repository = repository
        self._gateways = gateways
        self._payments = payments
        self._clock = clock
        self._in_flight = in_flight

    def refund(
        self, payment_id: str, amount: int | None, *, cancel: bool, by: Requester
    ) -> RefundResult:
        """Give `amount` minor units of payment `payment_id` back (None: all that is left) and,
        with `cancel`, cancel its subscription at once.

        Raises NotFound, DomainError (payment_not_refundable, refund_too_large,
        refund_in_progress, refund_refused) and the provider's errors (the refund then stays
        pending, resumed by the next request)."""
        ids = parse_attempt_key(payment_id)
        if ids is None:
            raise NotFound("Payment")
        payment = self._repository.get_attempt(*ids)
        if payment.status is not ChargeStatus.SUCCEEDED or payment.provider_reference is None:
            raise DomainError(ErrorCode.PAYMENT_NOT_REFUNDABLE)
        stale = self._pending(payment)
        if stale is not None:
            self._send(ids, payment, stale, cancel=False)
        claimed = self._payments.change(*ids, lambda p, s, at: claim(p, amount, by, at))
        refund = claimed.payment.refunds[-1]
        return self._send(ids, claimed.payment, refund, cancel=cancel)

    def resume(self, payment: ChargeAttempt) -> RefundResult:
        """Send the refund `payment` was just written with, pending (claimed in the change that
        found the money had to go back)."""
        pending = next(r for r in payment.refunds if r.status is RefundStatus.PENDING)
        return self._send(
            (payment.subscription_id, payment.cycle, payment.attempt),
            payment,
            pending,
            cancel=False,
        )

    def _pending(self, payment: ChargeAttempt) -> Refund | None:
        """A refund left pending: refused while it may still be in flight, else to resume."""
        pending = next((r for r in payment.refunds if r.status is RefundStatus.PENDING), None)
        if pending is None:
            return None
        if instant(self._clock()) - pending.at < self._in_flight:
            raise DomainError(ErrorCode.REFUND_IN_PROGRESS)
        return pending

    def _send(
        self, ids: Ids, payment: ChargeAttempt, refund: Refund, *, cancel: bool
    ) -> RefundResult:
        assert payment.provider is not None
        assert payment.provider_reference is not None
        assert refund.key is not None
        gateway = self._gateways[payment.provider]
        try:
            made = gateway.refund(payment.provider_reference, refund.amount, refund.key)
        except RefundRefused as refused:
            why = str(refused)
            self._payments.change(*ids, lambda p, s, at: _refused(p, refund, why, at))
            raise DomainError(ErrorCode.REFUND_REFUSED, why or None) from refused
        result = self._payments.change(
            *ids, lambda p, s, at: _made(p, s, refund, made, at, cancel=cancel)
        )
        return RefundResult(result.payment, result.subscription)


def claim(payment: ChargeAttempt, amount: int | None, by: Requester, at: datetime) -> Revision:
    """The pending refund of `amount` (all that is left when None), numbered after the
    payment's other refunds; refused when another is under way or when it is too large."""
    if any(r.status is RefundStatus.PENDING for r in payment.refunds):
        raise DomainError(ErrorCode.REFUND_IN_PROGRESS)
    left = payment.refundable
    wanted = left if amount is None else Money(amount, left.currency)
    if not 0 < wanted.amount <= left.amount:
        raise DomainError(
            ErrorCode.REFUND_TOO_LARGE,
            f"At most {left.amount} ({left.currency.value} minor units) is left to refund.",
            {"refundable": left.amount, "currency": left.currency.value},
        )
    refund = payment.next_refund(wanted, by, at)
    return Revision(
        payment.revised(refunds=(*payment.refunds, refund)),
        audit=(refund_audit("refund_requested", payment, refund, at),),
    )


def _made(
    payment: ChargeAttempt,
    sub: Subscription,
    refund: Refund,
    made: ProviderRefund,
    at: datetime,
    *,
    cancel: bool,
) -> Revision | None:
    """The refund given back (unless its webhook recorded it first) and, if asked, the
    subscription cancelled."""
    reported = Refund(made.amount, made.at, refund.by, key=refund.key, reference=made.reference)
    refunds, new = merge_refunds(payment.refunds, (reported,))
    cancelling = cancel and sub.status is not Status.CANCELLED
    events = (SalesCancelled(at=at, by=refund.by),) if cancelling else ()
    if not new and not events:
        return None
    audit = tuple(refund_audit("refund_recorded", payment, done, at) for done in new)
    return Revision(
        payment.revised(refunds=refunds),
        events=events,
        audit=audit,
        refunded=tuple(done.amount for done in new),
    )


def _refused(payment: ChargeAttempt, refund: Refund, why: str, at: datetime) -> Revision | None:
    """The pending refund failed: its amount is refundable again."""
    refunds = tuple(
        replace(r, status=RefundStatus.FAILED)
        if r.key == refund.key and r.status is RefundStatus.PENDING
        else r
        for r in payment.refunds
    )
    if refunds == payment.refunds:
        return None
    return Revision(
        payment.revised(refunds=refunds),
        audit=(refund_audit("refund_refused", payment, refund, at, error=why[:500]),),
    )
