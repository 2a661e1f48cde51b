"""Invariants of the state machine over random lifecycles.

A lifecycle is a random walk: the scheduler runs whenever something is due, customers, sales and
partners act at random moments, and every charge the machine asks for gets a random outcome.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.errors import TransitionRejected
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.domain.pricing import CYCLE_LENGTHS, Discount, cycle_price
from billing.domain.state_machine import (
    Actor,
    Charge,
    ChargeFailed,
    ChargeSucceeded,
    CustomerCancelled,
    CustomerResumed,
    Decision,
    Event,
    PartnerExtended,
    PaymentMethodUpdated,
    Requester,
    RetryNowRequested,
    SalesChargeRequested,
    apply,
    due_event,
    open_subscription,
)
from billing.domain.subscription import Channel, Status, Subscription

PERSON_EVENTS = (
    CustomerCancelled,
    CustomerResumed,
    RetryNowRequested,
    SalesChargeRequested,
    PaymentMethodUpdated,
    PartnerExtended,
)
OUTCOMES = st.one_of(st.just("succeeded"), st.sampled_from(list(FailureReason)))


@st.composite
def subscriptions(draw: st.DrawFn) -> Subscription:
    currency = draw(st.sampled_from(list(Currency)))
    price = Money(draw(st.integers(1, 10_000_000)), currency)
    discount = None
    if draw(st.booleans()):
        off = Money(draw(st.integers(0, price.amount)), currency)
        discount = Discount("COUPON", off, draw(st.integers(1, 3)))
    anchor = draw(
        st.datetimes(datetime(2024, 1, 1), datetime(2032, 12, 31), timezones=st.just(UTC))
    )
    return open_subscription(
        subscription_id="sub_h",
        account_id="acct_h",
        plan_id="basic",
        cycle_months=draw(st.sampled_from(CYCLE_LENGTHS)),
        price=price,
        discount=discount,
        channel=draw(st.sampled_from(list(Channel))),
        by=Requester(Actor.CUSTOMER, "user_h"),
        at=anchor,
    ).subscription


@st.composite
def steps(draw: st.DrawFn) -> tuple[str, timedelta, type[Event] | None, str]:
    """(who acts, how long after the last step, which person event, the charge outcome)."""
    who = draw(st.sampled_from(["scheduler", "scheduler", "person"]))
    delay = timedelta(seconds=draw(st.integers(0, 40 * 86400)))
    event = draw(st.sampled_from(PERSON_EVENTS)) if who == "person" else None
    return who, delay, event, draw(OUTCOMES)


def _outcome(charge: Charge, at: datetime, outcome: str, method: str) -> Event:
    if outcome == "succeeded":
        return ChargeSucceeded(at=at, kind=charge.kind, amount=charge.amount)
    reason = FailureReason(outcome)
    if reason is FailureReason.AUTO_RENEW_OFF:  # never a charge outcome
        reason = FailureReason.CARD_DECLINED
    return ChargeFailed(at=at, kind=charge.kind, reason=reason, payment_method_id=method)


def _check(before: Subscription, decision: Decision) -> None:
    after = decision.subscription
    if before.status is Status.CANCELLED:
        assert after.status is Status.CANCELLED, "cancelled is terminal"
        assert after == before
    assert after.period.start < after.period.end
    assert after.cycle >= before.cycle
    assert not (after.status is Status.CANCELLED and after.due_at is not None)
    assert (after.due_at is None) == (after.status is Status.CANCELLED)
    assert after.access == (after.status is not Status.CANCELLED)
    if after.status is Status.CANCELLED:
        assert after.cancel_reason is not None
        assert after.cancelled_at is not None
        assert not after.auto_renew
        assert after.next_charge_at is None
    if after.status is Status.PAST_DUE:
        assert after.channel is Channel.DIRECT
        assert 1 <= after.retries_left <= 4
        assert after.next_retry_at is not None
    for charge in decision.of_type(Charge):
        assert after.channel is Channel.DIRECT, "partner subscriptions are never charged"
        discounted = cycle_price(after.price, after.discount, charge.cycle)
        assert charge.amount.amount >= 0
        assert charge.amount >= discounted
        if after.discount is None or charge.cycle >= after.discount.cycles:
            assert charge.amount == after.price, "full price after the discounted cycles"


@settings(max_examples=300, deadline=None)
@given(
    sub=subscriptions(),
    walk=st.lists(steps(), min_size=10, max_size=60),
    method_changes=st.booleans(),
)
def test_lifecycle_invariants(
    sub: Subscription,
    walk: list[tuple[str, timedelta, type[Event] | None, str]],
    method_changes: bool,
) -> None:
    now, method = sub.anchor, "pm_1"
    for n, (who, delay, person_event, outcome) in enumerate(walk):
        if method_changes and n % 5 == 4:
            method = f"pm_{n}"
        if who == "scheduler":
            now = max(now, sub.due_at or now)
            event = due_event(sub, now, method)
        else:
            now += delay
            event = person_event(at=now) if person_event else None
        if event is None:
            continue
        try:
            decision = apply(sub, event)
        except TransitionRejected:
            continue
        _check(sub, decision)
        sub = decision.subscription
        for charge in decision.of_type(Charge):
            result = apply(sub, _outcome(charge, now, outcome, method))
            _check(sub, result)
            sub = result.subscription


@settings(max_examples=200, deadline=None)
@given(sub=subscriptions(), at=st.datetimes(timezones=st.just(UTC)))
def test_nothing_is_due_before_its_time(sub: Subscription, at: datetime) -> None:
    due = sub.due_at
    event = due_event(sub, at, "pm_1")
    assert (event is None) == (due is None or at.replace(microsecond=0) < due)
