"""The renewal worker: carries out one queued renewal message through the charge operation.

Messages are hints, not orders: the worker re-reads the subscription and the state machine
decides. A duplicate (overlapping runs, a redelivery) or a stale message (cancelled, renewed or
retried since) finds nothing due, or the attempt already claimed, and changes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from billing.changes import ChangeResult
from billing.charging import ChargeOperation, RetryInProgress
from billing.domain.charges import ChargeStatus
from billing.domain.state_machine import (
    EmailCustomer,
    EmailTemplate,
    NotifyPartner,
    PartnerNotice,
)
from billing.domain.subscription import Status
from billing.domain.values import frozen
from billing.persistence.repository import NotFound
from billing.renewals import DueMessage, PendingMessage

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    """What one message came to, as counted in the renewal metrics."""

    CHARGED = "charged"
    DECLINED = "declined"
    UNKNOWN = "unknown"
    """The provider did not say; the attempt stays pending and is reconciled later."""
    CANCELLED = "cancelled"
    REMINDED = "reminded"
    """A notice sent before the renewal: the partner's reminder, or the customer's renewal
    notice or card-expiring notice (the detail says which)."""
    UNCHANGED = "unchanged"
    """Nothing was due any more (duplicate or stale message), or only state changed without a
    charge (a hard-declined method's retry skipped, a partner's prepaid cycle started)."""
    IN_PROGRESS = "in_progress"
    """Another caller holds the attempt; it settles it."""
    GONE = "gone"


@frozen
class RenewalResult:
    outcome: Outcome
    detail: str | None = None
    """The failure reason (declined), the cancel reason (cancelled) or the currency (charged)."""
    amount: int = 0
    """Minor units taken (charged)."""


class RenewalWorker:
    def __init__(self, charging: ChargeOperation) -> None:
        self._charging = charging

    def handle(self, message: DueMessage | PendingMessage) -> RenewalResult:
        """Carry out one message. Raises (so that it is delivered again) only when storage or
        a concurrent writer kept it from finishing."""
        try:
            if isinstance(message, PendingMessage):
                result = self._charging.reconcile(
                    message.subscription_id, message.account_id, message.cycle, message.attempt
                )
            else:
                result = self._charging.renew(message.subscription_id, message.account_id)
        except RetryInProgress:
            return RenewalResult(Outcome.IN_PROGRESS)
        except NotFound:
            logger.warning("queued subscription not found", extra=message.model_dump())
            return RenewalResult(Outcome.GONE)
        return _result(result)


def _result(result: ChangeResult) -> RenewalResult:
    attempt, sub = result.attempt, result.subscription
    if attempt is not None and attempt.status is ChargeStatus.SUCCEEDED:
        # Revenue is net: the VAT collected with it is the state's.
        revenue = attempt.amount if attempt.tax is None else attempt.tax.net
        return RenewalResult(Outcome.CHARGED, revenue.currency.value, revenue.amount)
    if attempt is not None and attempt.status is ChargeStatus.FAILED:
        reason = attempt.failure_reason
        return RenewalResult(Outcome.DECLINED, None if reason is None else reason.value)
    if attempt is not None:
        return RenewalResult(Outcome.UNKNOWN)
    if result.changed and sub.status is Status.CANCELLED and sub.cancel_reason is not None:
        return RenewalResult(Outcome.CANCELLED, sub.cancel_reason.value)
    notice = _notice(result)
    if notice is not None:
        return RenewalResult(Outcome.REMINDED, notice)
    return RenewalResult(Outcome.UNCHANGED)


def _notice(result: ChangeResult) -> str | None:
    """The notice before a renewal that `result` sends, if it is one: ``partner``, or the
    customer's email template."""
    for effect in result.effects:
        if isinstance(effect, NotifyPartner) and effect.notice is PartnerNotice.RENEWAL_REMINDER:
            return "partner"
        if isinstance(effect, EmailCustomer) and effect.template in _NOTICES:
            return effect.template.value
    return None


_NOTICES = frozenset({EmailTemplate.RENEWAL_NOTICE, EmailTemplate.CARD_EXPIRING})
"""The customer notices the schedule sends before a renewal."""


@dataclass
class RenewalTally:
    """Counts of a batch's results, for its metrics: outcomes, declines by reason, cancellations
    by reason, and revenue by currency (minor units)."""

    outcomes: Counter[Outcome] = field(default_factory=Counter)
    declined: Counter[str] = field(default_factory=Counter)
    cancelled: Counter[str] = field(default_factory=Counter)
    revenue: Counter[str] = field(default_factory=Counter)

    def add(self, result: RenewalResult) -> None:
        self.outcomes[result.outcome] += 1
        detail = result.detail or "unknown"
        if result.outcome is Outcome.DECLINED:
            self.declined[detail] += 1
        elif result.outcome is Outcome.CANCELLED:
            self.cancelled[detail] += 1
        elif result.outcome is Outcome.CHARGED:
            self.revenue[detail] += result.amount
