"""Subscriptions in each state of the lifecycle, built the way production builds them: through
the state machine, from a purchase on 2026-01-31 09:30 UTC (month-end anchor)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from billing.domain.accounts import PaymentProvider, PendingPurchase
from billing.domain.charges import ChargeAttempt, ChargeStatus
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.domain.pricing import Discount, cycle_price
from billing.domain.state_machine import (
    Actor,
    ChargeFailed,
    CustomerCancelled,
    Decision,
    Requester,
    account_audit,
    apply,
    open_subscription,
)
from billing.domain.subscription import Channel, ChargeKind, Subscription
from billing.persistence.repository import BillingRepository, SubscriptionChange

ANCHOR = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
FIRST_END = datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
"""End of the first monthly period: February has no 31st."""
QUARTER_END = datetime(2026, 4, 30, 9, 30, tzinfo=UTC)
"""End of the first 3-month period: April has no 31st either."""
YEAR_END = datetime(2027, 1, 31, 9, 30, tzinfo=UTC)
PRICE = Money(4900, Currency.EUR)
CARD = "pm_card_1"
CUSTOMER = Requester(Actor.CUSTOMER, "user_ada")
"""The account administrator who buys in these tests."""
PARTNER = Requester(Actor.PARTNER, "prt_1")


def bought(*, discount: Discount | None = None, card_valid_through: date | None = None) -> Decision:
    """The purchase of a monthly Basic plan at ANCHOR: the subscription and what opening it
    says (its receipt), paid with a card valid through `card_valid_through`."""
    return open_subscription(
        subscription_id="sub_1",
        account_id="acct_1",
        plan_id="basic",
        cycle_months=1,
        price=PRICE,
        discount=discount,
        channel=Channel.DIRECT,
        by=CUSTOMER,
        at=ANCHOR,
        card_valid_through=card_valid_through,
    )


def _opened(
    channel: Channel, price: Money, changes: dict[str, Any], cycle_months: int = 1
) -> Subscription:
    sub = open_subscription(
        subscription_id="sub_1" if channel is Channel.DIRECT else "sub_p",
        account_id="acct_1" if channel is Channel.DIRECT else "acct_p",
        plan_id="basic",
        cycle_months=cycle_months,
        price=price,
        discount=None,
        channel=channel,
        by=CUSTOMER if channel is Channel.DIRECT else PARTNER,
        at=ANCHOR,
    ).subscription
    return replace(sub, **changes)


def purchase_of(sub: Subscription) -> PendingPurchase:
    """The purchase that opens `sub`."""
    return PendingPurchase(
        sub.id, sub.plan_id, sub.cycle_months, sub.price, sub.discount, sub.anchor
    )


def first_attempt(sub: Subscription, status: ChargeStatus = ChargeStatus.PENDING) -> ChargeAttempt:
    """The purchase's charge of `sub`'s first cycle."""
    return ChargeAttempt(
        subscription_id=sub.id,
        account_id=sub.account_id,
        cycle=0,
        attempt=1,
        kind=ChargeKind.PURCHASE,
        amount=cycle_price(sub.price, sub.discount, 0),
        status=status,
        created_at=sub.anchor,
        requested_by=CUSTOMER,
        provider=PaymentProvider.STRIPE,
        payment_method_id=CARD,
        provider_reference="pi_first" if status is ChargeStatus.SUCCEEDED else None,
    )


def store(repository: BillingRepository, sub: Subscription) -> Subscription:
    """`sub` written as opening it writes it: a direct one bought (the account's slot claimed
    with its first charge, then the subscription opened in it), a partner's straight away."""
    if sub.channel is Channel.PARTNER:
        return repository.commit(SubscriptionChange(before=None, after=sub)).subscription
    pending = first_attempt(sub)
    requested = account_audit(CUSTOMER, "charge_requested", sub.anchor, {"attempt_id": pending.id})
    repository.claim(pending, requested, purchase_of(sub))
    paid = replace(pending, status=ChargeStatus.SUCCEEDED, provider_reference="pi_first")
    return repository.commit(
        SubscriptionChange(before=None, after=sub, attempts=[paid])
    ).subscription


def active(**changes: Any) -> Subscription:
    """A direct monthly subscription bought at ANCHOR, auto-renewing."""
    return _opened(Channel.DIRECT, PRICE, changes)


def quarterly(**changes: Any) -> Subscription:
    """A direct 3-month subscription bought at ANCHOR, auto-renewing: its period ends at
    QUARTER_END, 89 days later."""
    return _opened(Channel.DIRECT, PRICE, changes, cycle_months=3)


def yearly(**changes: Any) -> Subscription:
    """A direct 12-month subscription bought at ANCHOR, auto-renewing: its period ends at
    YEAR_END."""
    return _opened(Channel.DIRECT, PRICE, changes, cycle_months=12)


def discounted(cycles: int = 1, amount_off: int = 980) -> Subscription:
    return active(discount=Discount("WELCOME20", Money(amount_off, Currency.EUR), cycles))


def partner(cycle_months: int = 1, **changes: Any) -> Subscription:
    """A subscription sold by a partner at ANCHOR, monthly unless said otherwise."""
    return _opened(Channel.PARTNER, Money(9900, Currency.EUR), changes, cycle_months)


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
