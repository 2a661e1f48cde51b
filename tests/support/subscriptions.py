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


def _opened(channel: Channel, price: Money, changes: dict[str, Any]) -> Subscription:
    sub = open_subscription(
        subscription_id="sub_1" if channel is Channel.DIRECT else "sub_p",
        account_id="acct_1" if channel is Channel.DIRECT else "acct_p",
        plan_id="basic",
        cycle_months=1,
        price=price,
        discount=None,
        channel=channel,
        actor=Actor.CUSTOMER if channel is Channel.DIRECT else Actor.PARTNER,
        at=ANCHOR,
    ).subscription
    return replace(sub, **changes)


def active(**changes: Any) -> Subscription:
    """A direct monthly subscription bought at ANCHOR, auto-renewing."""
    return _opened(Channel.DIRECT, PRICE, changes)


def discounted(cycles: int = 1, amount_off: int = 980) -> Subscription:
    return active(discount=Discount("WELCOME20", Money(amount_off, Currency.EUR), cycles))


def partner(**changes: Any) -> Subscription:
    """A monthly subscription sold by a partner at ANCHOR."""
    return _opened(Channel.PARTNER, Money(9900, Currency.EUR), changes)


def declined(
    at: datetime,
    kind: ChargeKind = ChargeKind.RENEWAL,
    reason: FailureReason = FailureReason.CARD_DECLINED,
    method: str | None = CARD,
) -> ChargeFailed:
    return ChargeFailed(at=at, kind=kind, reason=reason, payment_method_id=method)


def past_due(
    reason: FailureReason = FailureReason.INSUFFICIENT_FUNDS, method: str | None = CARD
) -> Subscription:
    """Past due after the first renewal was declined at FIRST_END."""
    return apply(active(), declined(FIRST_END, reason=reason, method=method)).subscription


def cancelled() -> Subscription:
    return apply(past_due(), CustomerCancelled(at=FIRST_END + timedelta(hours=1))).subscription
