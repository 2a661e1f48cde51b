"""Invariants of the state machine over random lifecycles.

A lifecycle is a random walk: the scheduler runs whenever something is due, customers, sales and
partners act at random moments, and every charge the machine asks for gets a random outcome.
"""

from __future__ import annotations

import calendar
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.dunning import DunningSchedule
from billing.domain.errors import TransitionRejected
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.domain.pricing import CYCLE_LENGTHS, Discount, cycle_price
from billing.domain.state_machine import (
    Actor,
    CardExpiryCheckDue,
    Charge,
    ChargeFailed,
    ChargeSucceeded,
    CustomerCancelled,
    CustomerResumed,
    Decision,
    EmailCustomer,
    EmailTemplate,
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
from billing.domain.subscription import (
    NOTICE_MIN_CYCLE_MONTHS,
    RENEWAL_NOTICE_MAX_LEAD,
    RENEWAL_NOTICE_MIN_LEAD,
    Channel,
    Status,
    Subscription,
)

PERSON_EVENTS = (
    CustomerCancelled,
    CustomerResumed,
    RetryNowRequested,
    SalesChargeRequested,
    PaymentMethodUpdated,
    PartnerExtended,
)
OUTCOMES = st.one_of(st.just("succeeded"), st.sampled_from(list(FailureReason)))
CARDS = st.none() | st.dates(date(2024, 1, 1), date(2036, 12, 31))
"""The saved card's last valid day, or none (PayPal, no method)."""
NOTICES = (EmailTemplate.RENEWAL_NOTICE, EmailTemplate.CARD_EXPIRING)


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


def _check_notices(before: Subscription, decision: Decision, at: datetime) -> None:
    """Customer notices only for the subscriptions that get them, within their period."""
    for email in decision.of_type(EmailCustomer):
        if email.template not in NOTICES:
            continue
        assert before.channel is Channel.DIRECT
        assert before.status is Status.ACTIVE
        assert before.auto_renew
        assert before.cycle_months >= NOTICE_MIN_CYCLE_MONTHS
        assert before.period.end - RENEWAL_NOTICE_MAX_LEAD <= at < before.period.end
        assert decision.subscription.cycle == before.cycle


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
    card=CARDS,
)
def test_lifecycle_invariants(
    sub: Subscription,
    walk: list[tuple[str, timedelta, type[Event] | None, str]],
    method_changes: bool,
    card: date | None,
) -> None:
    now, method = sub.anchor, "pm_1"
    notices: Counter[tuple[int, EmailTemplate]] = Counter()
    for n, (who, delay, person_event, outcome) in enumerate(walk):
        if method_changes and n % 5 == 4:
            method = f"pm_{n}"
        if who == "scheduler":
            now = max(now, sub.due_at or now)
            event = due_event(sub, now, method, card_valid_through=card)
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
        _check_notices(sub, decision, now)
        notices.update((sub.cycle, e.template) for e in decision.of_type(EmailCustomer))
        sub = decision.subscription
        for charge in decision.of_type(Charge):
            result = apply(sub, _outcome(charge, now, outcome, method))
            _check(sub, result)
            sub = result.subscription
    assert all(count == 1 for (_, email), count in notices.items() if email in NOTICES), (
        "each notice at most once a period"
    )


def _months_before(end: datetime, months: int) -> datetime:
    year, month = divmod(end.year * 12 + end.month - 1 - months, 12)
    return end.replace(
        year=year, month=month + 1, day=min(end.day, calendar.monthrange(year, month + 1)[1])
    )


@settings(max_examples=200, deadline=None)
@given(
    sub=subscriptions().filter(
        lambda s: s.channel is Channel.DIRECT and s.cycle_months >= NOTICE_MIN_CYCLE_MONTHS
    ),
    days=st.integers(RENEWAL_NOTICE_MIN_LEAD.days, RENEWAL_NOTICE_MAX_LEAD.days),
    card=CARDS,
)
def test_on_time_every_period_gets_one_renewal_notice_one_to_three_months_before_its_end(
    sub: Subscription, days: int, card: date | None
) -> None:
    schedule = DunningSchedule(renewal_notice=timedelta(days=days))
    notices: list[tuple[datetime, datetime]] = []
    checks: list[tuple[timedelta, bool, datetime]] = []
    for _ in range(4 * 3):  # scheduler looks of three periods at least
        at = sub.due_at
        assert at is not None
        event = due_event(sub, at, "pm_1", card_valid_through=card)
        assert event is not None
        decision = apply(sub, event, schedule)
        templates = [e.template for e in decision.of_type(EmailCustomer)]
        if EmailTemplate.RENEWAL_NOTICE in templates:
            notices.append((at, sub.period.end))
        if isinstance(event, CardExpiryCheckDue):
            emailed = EmailTemplate.CARD_EXPIRING in templates
            checks.append((sub.period.end - at, emailed, sub.period.end))
        sub = decision.subscription
        for charge in decision.of_type(Charge):
            paid = ChargeSucceeded(at=at, kind=charge.kind, amount=charge.amount)
            sub = apply(sub, paid, schedule).subscription
    ends = [end for _, end in notices]
    assert len(ends) == len(set(ends)) >= 2
    for at, end in notices:
        assert end - at == timedelta(days=days)
        assert _months_before(end, 3) <= at <= _months_before(end, 1)
    assert len(checks) >= 2
    for lead, emailed, end in checks:
        assert lead == timedelta(days=30)
        assert emailed == (card is not None and card < end.date())


@settings(max_examples=200, deadline=None)
@given(sub=subscriptions(), at=st.datetimes(timezones=st.just(UTC)))
def test_nothing_is_due_before_its_time(sub: Subscription, at: datetime) -> None:
    due = sub.due_at
    event = due_event(sub, at, "pm_1")
    assert (event is None) == (due is None or at.replace(microsecond=0) < due)
