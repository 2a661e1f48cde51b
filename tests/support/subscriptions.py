"""Subscriptions in each state of the lifecycle, built the way production builds them: through
the state machine, from a purchase on 2026-01-31 09:30 UTC (month-end anchor)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.domain.pricing import Discount
from billing.domain.state_machine import (
    Actor,
    ChargeFailed,
    CustomerCancelled,
    apply,
    open_subscription,
)
from billing.domain.subscription import Channel, ChargeKind, Subscription

ANCHOR = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
FIRST_END = datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
"""End of the first monthly period: February has no 31st."""
PRICE = Money(4900, Currency.EUR)
CARD = "pm_card_1"


def active(**changes: Any) -> Subscription:
    """A direct monthly subscription bought at ANCHOR, auto-renewing."""
    sub = open_subscription(
        subscription_id="sub_1",
        account_id="acct_1",
        plan_id="basic",
        cycle_months=1,
        price=PRICE,
        discount=None,
        channel=Channel.DIRECT,
        actor=Actor.CUSTOMER,
        at=ANCHOR,
    ).subscription
    return replace(sub, **changes)


def discounted(cycles: int = 1, amount_off: int = 980) -> Subscription:
    return active(discount=Discount("WELCOME20", Money(amount_off, Currency.EUR), cycles))


def partner(**changes: Any) -> Subscription:
    sub = open_subscription(
        subscription_id="sub_p",
        account_id="acct_p",
        plan_id="standard",
        cycle_months=1,
        price=Money(9900, Currency.EUR),
        discount=None,
        channel=Channel.PARTNER,
        actor=Actor.PARTNER,
        at=ANCHOR,
    ).subscription
    return replace(sub, **changes)


def past_due(
    reason: FailureReason = FailureReason.INSUFFICIENT_FUNDS, method: str | None = CARD
) -> Subscription:
    """Past due after the first renewal was declined at FIRST_END."""
    failed = ChargeFailed(
        at=FIRST_END, kind=ChargeKind.RENEWAL, reason=reason, payment_method_id=method
    )
    return apply(active(), failed).subscription


def cancelled() -> Subscription:
    return apply(past_due(), CustomerCancelled(at=FIRST_END + timedelta(hours=1))).subscription
