"""The notices the renewal schedule sends customers of plans of three months or more, once a
period: the renewal notice (the date, the amount, how to stop it) and the card expiring before
the renewal. Their moments are in `due_at`, so the due index finds them. A monthly plan's card
notice goes with the receipt of the period before the renewal the card would fail."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from billing.domain.accounts import PaymentMethod, PaymentMethodKind, PaymentProvider
from billing.domain.billing_calendar import add_months
from billing.domain.dunning import DunningSchedule
from billing.domain.errors import ErrorCode, TransitionRejected
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.domain.pricing import Discount
from billing.domain.state_machine import (
    DEFAULT_SCHEDULE,
    Actor,
    Audit,
    CardExpiryCheckDue,
    ChargeSucceeded,
    CustomerCancelled,
    CustomerResumed,
    Decision,
    EmailCustomer,
    EmailTemplate,
    Event,
    PeriodEnded,
    RenewalNoticeDue,
    apply,
    card_valid_through,
    due_event,
)
from billing.domain.subscription import (
    RENEWAL_NOTICE_MAX_LEAD,
    RENEWAL_NOTICE_MIN_LEAD,
    ChargeKind,
    Status,
    Subscription,
)
from tests.support.subscriptions import (
    ANCHOR,
    CARD,
    FIRST_END,
    PRICE,
    QUARTER_END,
    YEAR_END,
    active,
    bought,
    cancelled,
    declined,
    partner,
    past_due,
    quarterly,
    yearly,
)

DAY = timedelta(days=1)
LEAD = DEFAULT_SCHEDULE.renewal_notice
CARD_CHECK = YEAR_END - 30 * DAY
"""2027-01-01 09:30: thirty days before the yearly subscription's first renewal."""
EXPIRES_BEFORE = date(2026, 12, 31)
"""A card of 12/2026: it cannot pay the renewal of 31 January 2027."""
EXPIRES_AFTER = date(2027, 1, 31)
"""A card of 01/2027: valid on the renewal day itself."""


def _emails(decision: Decision) -> list[EmailTemplate]:
    return [email.template for email in decision.of_type(EmailCustomer)]


def _planned(sub: Subscription, schedule: DunningSchedule = DEFAULT_SCHEDULE) -> Subscription:
    """`sub` after the renewal schedule's first look at its period has planned the notice."""
    assert sub.renewal_notice_at is None
    event = due_event(sub, sub.period.end - RENEWAL_NOTICE_MAX_LEAD, CARD)
    assert isinstance(event, RenewalNoticeDue)
    return apply(sub, event, schedule).subscription


def _noticed(sub: Subscription) -> Subscription:
    planned = _planned(sub)
    assert planned.renewal_notice_at is not None
    return apply(planned, RenewalNoticeDue(at=planned.renewal_notice_at)).subscription


def _renewed(sub: Subscription, schedule: DunningSchedule = DEFAULT_SCHEDULE) -> Subscription:
    paid = ChargeSucceeded(at=sub.period.end, kind=ChargeKind.RENEWAL, amount=PRICE)
    return apply(sub, paid, schedule).subscription


def _walk(
    sub: Subscription, until: datetime, valid_through: date | None = EXPIRES_AFTER
) -> list[tuple[datetime, str, list[EmailTemplate]]]:
    """Run the renewal schedule on time, every renewal paid, until `until`: (when, what, emails)."""
    seen = []
    while sub.due_at is not None and sub.due_at < until:
        at = sub.due_at
        event = due_event(sub, at, CARD, card_valid_through=valid_through)
        assert event is not None
        decision = apply(sub, event)
        seen.append((at, event.name(), _emails(decision)))
        sub = decision.subscription
        if isinstance(event, PeriodEnded):
            sub = _renewed(sub)
    return seen


# --- When: due_at holds every notice's moment ---------------------------------------------------


def test_a_year_of_a_yearly_subscription_run_by_the_schedule() -> None:
    planning = YEAR_END - RENEWAL_NOTICE_MAX_LEAD
    assert _walk(yearly(), YEAR_END + 2 * DAY) == [
        (planning, "renewal_notice_due", []),
        (YEAR_END - LEAD, "renewal_notice_due", [EmailTemplate.RENEWAL_NOTICE]),
        (CARD_CHECK, "card_expiry_check_due", []),
        (YEAR_END, "period_ended", []),
    ]
    assert planning == datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def test_the_due_index_holds_the_earliest_notice_then_the_next_then_the_renewal() -> None:
    sub = yearly()
    assert sub.due_at == YEAR_END - RENEWAL_NOTICE_MAX_LEAD, "the first look, to plan"
    sub = _planned(sub)
    assert sub.renewal_notice_at == sub.due_at == YEAR_END - LEAD
    sub = apply(sub, RenewalNoticeDue(at=YEAR_END - LEAD)).subscription
    assert sub.due_at == CARD_CHECK
    sub = apply(sub, CardExpiryCheckDue(at=CARD_CHECK, card_valid_through=None)).subscription
    assert sub.due_at == YEAR_END
    assert sub.next_charge_at == YEAR_END, "a notice is not a charge"


def test_the_next_charge_shown_is_the_renewal_while_notices_are_pending() -> None:
    sub = _planned(quarterly())
    assert sub.due_at == QUARTER_END - LEAD
    assert (sub.next_charge_at, sub.next_charge_amount) == (QUARTER_END, PRICE)


def test_every_period_gets_its_notices_again_and_later_ones_are_planned_when_they_start() -> None:
    seen = _walk(quarterly(), add_months(QUARTER_END, 6) + DAY)
    notices = [at for at, _, emails in seen if emails == [EmailTemplate.RENEWAL_NOTICE]]
    ends = [QUARTER_END, add_months(ANCHOR, 6), add_months(ANCHOR, 9)]
    assert notices == [end - LEAD for end in ends], "once a period, the lead before its end"
    plannings = [at for at, name, emails in seen if name == "renewal_notice_due" and not emails]
    assert plannings == [ANCHOR], "only the purchased period needed a look to plan"
    checks = [at for at, name, _ in seen if name == "card_expiry_check_due"]
    assert checks == [end - 30 * DAY for end in ends]


def test_a_new_period_resets_the_notices_and_plans_its_own() -> None:
    schedule = DunningSchedule(renewal_notice=60 * DAY)
    sub = _noticed(yearly())
    sub = apply(sub, CardExpiryCheckDue(at=CARD_CHECK, card_valid_through=None)).subscription
    assert sub.renewal_notice_sent_at is not None
    assert sub.card_checked_at is not None
    renewed = _renewed(sub, schedule)
    second_end = add_months(ANCHOR, 24)
    assert (renewed.cycle, renewed.period.end) == (1, second_end)
    assert (renewed.renewal_notice_sent_at, renewed.card_checked_at) == (None, None)
    assert renewed.renewal_notice_at == renewed.due_at == second_end - 60 * DAY


def test_a_provider_error_at_the_renewal_keeps_its_backoff() -> None:
    sub = _planned(yearly())
    backing_off = apply(sub, declined(YEAR_END, reason=FailureReason.PROVIDER_ERROR)).subscription
    assert backing_off.due_at == YEAR_END + timedelta(minutes=5), "no notice of the old period"


# --- The renewal notice -------------------------------------------------------------------------


def test_the_renewal_notice_states_the_date_and_the_amount_and_is_sent_once() -> None:
    sub = _planned(yearly())
    decision = apply(sub, RenewalNoticeDue(at=YEAR_END - LEAD))
    [email] = decision.of_type(EmailCustomer)
    assert email.template is EmailTemplate.RENEWAL_NOTICE
    assert (
        email.details["next_charge_at"],
        email.details["next_charge_amount"],
        email.details["currency"],
    ) == ("2027-01-31T09:30:00Z", "4900", "EUR")
    assert "discount_ends" not in email.details
    sent = decision.subscription
    assert sent.renewal_notice_sent_at == YEAR_END - LEAD
    [audit] = decision.of_type(Audit)
    assert (audit.actor, audit.action, audit.by) == (
        Actor.SCHEDULER,
        "renewal_notice_due",
        "scheduler",
    )
    assert audit.details["renewal_notice_sent_at"] == "2026-12-17T09:30:00Z"
    # Redelivered, or the schedule looking again: nothing more.
    assert due_event(sent, YEAR_END - LEAD + DAY, CARD) is None
    with pytest.raises(TransitionRejected) as again:
        apply(sent, RenewalNoticeDue(at=YEAR_END - LEAD + DAY))
    assert again.value.code is ErrorCode.NOT_DUE


@pytest.mark.parametrize(("rate", "announced"), [(2000, "5880"), (0, "4900"), (1900, "5831")])
def test_the_renewal_notice_announces_the_amount_with_the_vat_the_customer_pays(
    rate: int, announced: str
) -> None:
    sub = _planned(yearly())

    event = due_event(sub, YEAR_END - LEAD, CARD, vat_rate=rate)
    assert isinstance(event, RenewalNoticeDue)
    [email] = apply(sub, event).of_type(EmailCustomer)

    assert email.details["next_charge_amount"] == announced


def test_the_first_look_plans_the_notice_without_sending_it() -> None:
    sub = yearly()
    decision = apply(sub, RenewalNoticeDue(at=YEAR_END - RENEWAL_NOTICE_MAX_LEAD))
    assert _emails(decision) == []
    planned = decision.subscription
    assert (planned.renewal_notice_at, planned.renewal_notice_sent_at) == (YEAR_END - LEAD, None)
    [audit] = decision.of_type(Audit)
    assert audit.details["renewal_notice_at"] == "2026-12-17T09:30:00Z"
    with pytest.raises(TransitionRejected):
        apply(planned, RenewalNoticeDue(at=YEAR_END - LEAD - DAY))


def test_a_notice_is_not_looked_at_before_the_earliest_lawful_moment() -> None:
    sub = yearly()
    assert due_event(sub, YEAR_END - RENEWAL_NOTICE_MAX_LEAD - DAY, CARD) is None
    with pytest.raises(TransitionRejected):
        apply(sub, RenewalNoticeDue(at=YEAR_END - RENEWAL_NOTICE_MAX_LEAD - DAY))


@pytest.mark.parametrize("days", [31, 45, 60, 89])
def test_the_lead_is_configuration(days: int) -> None:
    schedule = DunningSchedule(renewal_notice=days * DAY)
    sub = yearly()
    first_look = apply(sub, RenewalNoticeDue(at=YEAR_END - RENEWAL_NOTICE_MAX_LEAD), schedule)
    if days == 89:
        assert _emails(first_look) == [EmailTemplate.RENEWAL_NOTICE], "due at once"
        return
    assert _emails(first_look) == []
    planned = first_look.subscription
    assert planned.renewal_notice_at == planned.due_at == YEAR_END - days * DAY
    sent = apply(planned, RenewalNoticeDue(at=YEAR_END - days * DAY), schedule)
    assert _emails(sent) == [EmailTemplate.RENEWAL_NOTICE]


def test_a_planned_notice_keeps_its_moment_when_the_lead_changes() -> None:
    planned = _planned(yearly(), DunningSchedule(renewal_notice=60 * DAY))
    later = DunningSchedule(renewal_notice=31 * DAY)
    decision = apply(planned, RenewalNoticeDue(at=YEAR_END - 60 * DAY), later)
    assert _emails(decision) == [EmailTemplate.RENEWAL_NOTICE]


def test_a_late_schedule_still_sends_the_notice_before_the_period_ends() -> None:
    sub = _planned(yearly())
    late = YEAR_END - 2 * DAY
    event = due_event(sub, late, CARD)
    assert isinstance(event, RenewalNoticeDue), "the earliest of the notices due comes first"
    assert _emails(apply(sub, event)) == [EmailTemplate.RENEWAL_NOTICE]


def test_a_notice_not_sent_by_the_period_end_gives_way_to_the_renewal() -> None:
    sub = _planned(yearly())
    assert isinstance(due_event(sub, YEAR_END, CARD), PeriodEnded)
    assert isinstance(due_event(sub, YEAR_END + DAY, CARD), PeriodEnded)
    with pytest.raises(TransitionRejected) as too_late:
        apply(sub, RenewalNoticeDue(at=YEAR_END))
    assert too_late.value.code is ErrorCode.NOT_DUE
    renewed = _renewed(sub)
    assert renewed.renewal_notice_sent_at is None
    assert renewed.due_at == add_months(ANCHOR, 24) - LEAD, "the next period's notice"


def test_the_first_discounted_renewal_says_the_full_price_comes_back() -> None:
    sub = _planned(yearly(discount=Discount("WELCOME20", Money(980, Currency.EUR), 1)))
    [email] = apply(sub, RenewalNoticeDue(at=YEAR_END - LEAD)).of_type(EmailCustomer)
    assert (email.details["next_charge_amount"], email.details["discount_ends"]) == (
        "4900",
        "true",
    )


def test_a_notice_of_a_renewal_still_discounted_states_the_discounted_amount() -> None:
    sub = _planned(quarterly(discount=Discount("WELCOME20", Money(980, Currency.EUR), 2)))
    [email] = apply(sub, RenewalNoticeDue(at=QUARTER_END - LEAD)).of_type(EmailCustomer)
    assert email.details["next_charge_amount"] == "3920"
    assert "discount_ends" not in email.details


# --- Who gets no notice -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sub", "due"),
    [
        ("monthly", active(), FIRST_END),
        ("partner", partner(cycle_months=3), QUARTER_END - 7 * DAY),
        ("partner, reminded", partner(cycle_months=12, partner_reminded=True), YEAR_END),
        ("auto-renew off", quarterly(auto_renew=False), QUARTER_END),
        ("past due", past_due(), FIRST_END + DAY),
        ("cancelled", cancelled(), None),
    ],
)
def test_no_notice_for_monthly_partner_auto_renew_off_past_due_or_cancelled(
    name: str, sub: Subscription, due: datetime | None
) -> None:
    assert sub.due_at == due
    assert (sub.renewal_notice_due_at, sub.card_check_due_at) == (None, None)
    for at in (sub.period.end - RENEWAL_NOTICE_MAX_LEAD, sub.period.end - 30 * DAY):
        event = due_event(sub, at, CARD, card_valid_through=EXPIRES_BEFORE)
        assert not isinstance(event, RenewalNoticeDue | CardExpiryCheckDue)
        notices: list[Event] = [
            RenewalNoticeDue(at=at),
            CardExpiryCheckDue(at=at, card_valid_through=EXPIRES_BEFORE),
        ]
        for notice in notices:
            with pytest.raises(TransitionRejected):
                apply(sub, notice)


def test_past_due_quarterly_gets_no_notice_and_only_its_retries_are_due() -> None:
    sub = apply(_planned(quarterly()), declined(QUARTER_END)).subscription
    assert sub.status is Status.PAST_DUE
    assert sub.due_at == QUARTER_END + DAY, "the first retry"
    assert sub.renewal_notice_due_at is None


def test_turning_auto_renew_off_drops_the_notices_and_back_on_brings_them_back() -> None:
    planned = _planned(quarterly())
    off = apply(planned, CustomerCancelled(at=QUARTER_END - 50 * DAY)).subscription
    assert off.due_at == QUARTER_END, "only the end, where it lapses"
    assert due_event(off, QUARTER_END - LEAD, CARD) is None
    on = apply(off, CustomerResumed(at=QUARTER_END - 10 * DAY)).subscription
    assert on.due_at == QUARTER_END - LEAD, "overdue: the next run sends it"
    event = due_event(on, QUARTER_END - 10 * DAY, CARD)
    assert isinstance(event, RenewalNoticeDue)
    assert _emails(apply(on, event)) == [EmailTemplate.RENEWAL_NOTICE]


def test_a_customer_who_cancels_after_the_notice_is_not_renewed() -> None:
    noticed = _noticed(quarterly())
    off = apply(noticed, CustomerCancelled(at=QUARTER_END - DAY)).subscription
    ended = apply(off, PeriodEnded(at=QUARTER_END))
    assert ended.subscription.status is Status.CANCELLED
    assert _emails(ended) == [EmailTemplate.SUBSCRIPTION_ENDED]


# --- The card expiring before the renewal -------------------------------------------------------


def _checked(valid_through: date | None, sub: Subscription | None = None) -> Decision:
    sub = _noticed(yearly()) if sub is None else sub
    event = due_event(sub, CARD_CHECK, CARD, card_valid_through=valid_through)
    assert event == CardExpiryCheckDue(at=CARD_CHECK, card_valid_through=valid_through)
    return apply(sub, event)


def test_a_card_expiring_before_the_renewal_asks_for_a_new_one_thirty_days_before() -> None:
    decision = _checked(EXPIRES_BEFORE)
    [email] = decision.of_type(EmailCustomer)
    assert email.template is EmailTemplate.CARD_EXPIRING
    assert (
        email.details["card_expiry"],
        email.details["next_charge_at"],
        email.details["next_charge_amount"],
    ) == ("12/2026", "2027-01-31T09:30:00Z", "4900")
    checked = decision.subscription
    assert checked.card_checked_at == CARD_CHECK
    assert checked.due_at == YEAR_END
    [audit] = decision.of_type(Audit)
    assert (audit.action, audit.details["card_expiry"]) == ("card_expiry_check_due", "12/2026")


@pytest.mark.parametrize(
    "valid_through",
    [EXPIRES_AFTER, date(2031, 8, 31), None],
    ids=["valid on the renewal day", "years left", "paypal or no method"],
)
def test_a_card_that_pays_the_renewal_or_no_card_is_checked_without_an_email(
    valid_through: date | None,
) -> None:
    decision = _checked(valid_through)
    assert _emails(decision) == []
    assert decision.subscription.card_checked_at == CARD_CHECK
    assert decision.subscription.due_at == YEAR_END, "checked: once a period"


def test_the_card_is_checked_once_a_period() -> None:
    checked = _checked(EXPIRES_BEFORE).subscription
    assert due_event(checked, CARD_CHECK + DAY, CARD, card_valid_through=EXPIRES_BEFORE) is None
    with pytest.raises(TransitionRejected):
        apply(checked, CardExpiryCheckDue(at=CARD_CHECK + DAY, card_valid_through=EXPIRES_BEFORE))
    renewed = _renewed(checked)
    assert renewed.card_checked_at is None
    assert renewed.card_check_due_at == add_months(ANCHOR, 24) - 30 * DAY


def test_the_card_check_is_not_made_before_its_moment_or_after_the_end() -> None:
    sub = _noticed(yearly())
    assert due_event(sub, CARD_CHECK - DAY, CARD, card_valid_through=EXPIRES_BEFORE) is None
    with pytest.raises(TransitionRejected):
        apply(sub, CardExpiryCheckDue(at=CARD_CHECK - DAY, card_valid_through=EXPIRES_BEFORE))
    with pytest.raises(TransitionRejected):
        apply(sub, CardExpiryCheckDue(at=YEAR_END, card_valid_through=EXPIRES_BEFORE))


def test_when_both_notices_are_overdue_the_earliest_goes_first() -> None:
    sub = _planned(quarterly())
    assert sub.renewal_notice_at == QUARTER_END - LEAD
    late, march = QUARTER_END - DAY, date(2026, 3, 31)
    first = due_event(sub, late, CARD, card_valid_through=march)
    assert isinstance(first, RenewalNoticeDue)
    sub = apply(sub, first).subscription
    second = due_event(sub, late, CARD, card_valid_through=march)
    assert isinstance(second, CardExpiryCheckDue)
    assert _emails(apply(sub, second)) == [EmailTemplate.CARD_EXPIRING]


def test_even_with_the_shortest_lead_the_renewal_notice_comes_before_the_card_check() -> None:
    schedule = DunningSchedule(renewal_notice=RENEWAL_NOTICE_MIN_LEAD)
    sub = _planned(yearly(), schedule)
    assert sub.due_at == YEAR_END - 31 * DAY < CARD_CHECK
    assert isinstance(due_event(sub, sub.due_at, CARD), RenewalNoticeDue)


# --- The saved card's last valid day ------------------------------------------------------------

VISA = PaymentMethod(
    provider=PaymentProvider.STRIPE,
    kind=PaymentMethodKind.CARD,
    token="pm_card_visa",
    brand="visa",
    last4="4242",
    exp_month=2,
    exp_year=2028,
)


@pytest.mark.parametrize(
    ("method", "valid_through"),
    [
        (VISA, date(2028, 2, 29)),
        (replace(VISA, exp_month=12, exp_year=2026), date(2026, 12, 31)),
        (replace(VISA, exp_month=4), date(2028, 4, 30)),
        (replace(VISA, exp_month=None), None),
        (replace(VISA, exp_year=None), None),
        (replace(VISA, exp_month=13), None),
        (
            PaymentMethod(
                provider=PaymentProvider.PAYPAL,
                kind=PaymentMethodKind.PAYPAL,
                token="vault_token_7",
                paypal_email="payer@example.com",
            ),
            None,
        ),
        (None, None),
    ],
    ids=[
        "leap february",
        "december",
        "april",
        "no month",
        "no year",
        "bad month",
        "paypal",
        "none",
    ],
)
def test_a_card_is_valid_through_the_last_day_of_its_expiry_month(
    method: PaymentMethod | None, valid_through: date | None
) -> None:
    assert card_valid_through(method) == valid_through


def test_a_quarter_is_never_shorter_than_the_longest_lead() -> None:
    """So the first look at a 3-month period, the longest lead before its end, falls within it."""
    starts = [datetime(2024, 1, 1, 9, 30, tzinfo=UTC) + n * DAY for n in range(8 * 366)]
    for start in starts:
        assert add_months(start, 3) - start >= RENEWAL_NOTICE_MAX_LEAD, start


# --- monthly plans: the card notice goes with the receipt -------------------------------------

SECOND_END = datetime(2026, 3, 31, 9, 30, tzinfo=UTC)
"""The renewal after the one at FIRST_END, for a monthly plan bought at ANCHOR."""


def _renewed_with_card(sub: Subscription, valid_through: date | None) -> Decision:
    paid = ChargeSucceeded(
        at=FIRST_END, kind=ChargeKind.RENEWAL, amount=PRICE, card_valid_through=valid_through
    )
    return apply(sub, paid)


def test_a_monthly_renewal_paid_with_a_card_expiring_before_the_next_one_says_so() -> None:
    decision = _renewed_with_card(active(), date(2026, 2, 28))

    receipt, card = decision.of_type(EmailCustomer)
    assert (receipt.template, card.template) == (
        EmailTemplate.RENEWAL_RECEIPT,
        EmailTemplate.CARD_EXPIRING,
    )
    assert card.details["card_expiry"] == "02/2026"
    assert card.details["next_charge_at"] == "2026-03-31T09:30:00Z"
    assert decision.subscription.period.end == SECOND_END


def test_a_card_valid_on_the_next_renewal_day_is_not_expiring() -> None:
    decision = _renewed_with_card(active(), date(2026, 3, 31))

    assert [e.template for e in decision.of_type(EmailCustomer)] == [EmailTemplate.RENEWAL_RECEIPT]


def test_longer_plans_are_told_by_the_schedule_not_with_the_receipt() -> None:
    quarter = quarterly()
    paid = ChargeSucceeded(
        at=QUARTER_END,
        kind=ChargeKind.RENEWAL,
        amount=quarter.next_cycle_price,
        card_valid_through=date(2026, 5, 31),
    )

    assert [e.template for e in apply(quarter, paid).of_type(EmailCustomer)] == [
        EmailTemplate.RENEWAL_RECEIPT
    ]


def test_a_monthly_plan_bought_with_a_card_expiring_before_its_first_renewal_is_told() -> None:
    def emails(valid_through: date | None) -> list[EmailTemplate]:
        opened = bought(card_valid_through=valid_through)
        return [e.template for e in opened.of_type(EmailCustomer)]

    assert emails(date(2026, 1, 31)) == [
        EmailTemplate.PURCHASE_RECEIPT,
        EmailTemplate.CARD_EXPIRING,
    ]
    assert emails(date(2026, 2, 28)) == [EmailTemplate.PURCHASE_RECEIPT], "valid that day"
    assert emails(None) == [EmailTemplate.PURCHASE_RECEIPT], "PayPal has no expiry"
