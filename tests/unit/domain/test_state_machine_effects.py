"""The lifecycle of docs/rules.md through the state machine: states, charges, emails, audit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from billing.domain.dunning import DunningSchedule
from billing.domain.errors import TransitionRejected
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.domain.state_machine import (
    DEFAULT_SCHEDULE,
    SCHEDULER,
    Actor,
    Audit,
    Charge,
    ChargeSucceeded,
    CustomerCancelled,
    CustomerResumed,
    Decision,
    EmailCustomer,
    EmailTemplate,
    NotifyPartner,
    NotifySales,
    PartnerExtended,
    PartnerNotice,
    PartnerReminderDue,
    PaymentMethodUpdated,
    PeriodEnded,
    Requester,
    RetryDue,
    RetryNowRequested,
    SalesNotice,
    apply,
    due_event,
    open_subscription,
)
from billing.domain.subscription import (
    CancelReason,
    Channel,
    ChargeKind,
    Failure,
    Status,
    Subscription,
)
from tests.support.subscriptions import (
    ANCHOR,
    CARD,
    FIRST_END,
    PRICE,
    active,
    declined,
    discounted,
    partner,
    past_due,
)

DAY = timedelta(days=1)
SECOND_END = datetime(2026, 3, 31, 9, 30, tzinfo=UTC)
"""The anchor day comes back after February's clamp."""


def _emails(decision_effects: tuple[object, ...]) -> list[EmailTemplate]:
    return [e.template for e in decision_effects if isinstance(e, EmailCustomer)]


def test_purchase_opens_an_active_auto_renewing_subscription() -> None:
    decision = open_subscription(
        subscription_id="sub_9",
        account_id="acct_9",
        plan_id="basic",
        cycle_months=12,
        price=Money(46800, Currency.USD),
        discount=None,
        channel=Channel.DIRECT,
        by=Requester(Actor.CUSTOMER, "user_ada"),
        at=datetime(2028, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    )
    sub = decision.subscription
    assert (sub.status, sub.auto_renew, sub.access, sub.cycle) == (Status.ACTIVE, True, True, 0)
    assert sub.anchor == datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)
    assert sub.period.end == datetime(2029, 2, 28, 23, 59, 59, tzinfo=UTC)
    assert sub.next_charge_at == sub.period.end
    assert _emails(decision.effects) == [EmailTemplate.PURCHASE_RECEIPT]
    [audit] = decision.of_type(Audit)
    assert (audit.action, audit.from_status, audit.to_status) == ("opened", None, Status.ACTIVE)
    assert (audit.actor, audit.by) == (Actor.CUSTOMER, "user_ada")
    [receipt] = decision.of_type(EmailCustomer)
    # The receipt says when the first renewal comes and what it will cost.
    assert (receipt.details["next_charge_at"], receipt.details["next_charge_amount"]) == (
        "2029-02-28T23:59:59Z",
        "46800",
    )


def test_partner_subscription_is_not_auto_renewed_and_not_charged() -> None:
    sub = partner()
    assert (sub.auto_renew, sub.next_charge_at, sub.next_charge_amount) == (False, None, None)
    assert sub.due_at == FIRST_END - 7 * DAY


def test_period_end_charges_the_full_price_for_the_next_cycle() -> None:
    decision = apply(active(), PeriodEnded(at=FIRST_END))
    assert decision.effects == (Charge(ChargeKind.RENEWAL, PRICE, cycle=1, attempt=1),)
    assert decision.subscription == active()


def test_successful_renewal_starts_the_next_period_at_the_old_end() -> None:
    decision = apply(active(), ChargeSucceeded(at=FIRST_END, kind=ChargeKind.RENEWAL, amount=PRICE))
    sub = decision.subscription
    assert (sub.status, sub.cycle) == (Status.ACTIVE, 1)
    assert (sub.period.start, sub.period.end) == (FIRST_END, SECOND_END)
    assert _emails(decision.effects) == [EmailTemplate.RENEWAL_RECEIPT]
    [audit] = decision.of_type(Audit)
    assert (audit.actor, audit.action) == (Actor.PROVIDER, "charge_succeeded")
    assert audit.details["amount"] == "4900"


def test_discount_applies_to_its_cycles_then_renewals_are_full_price() -> None:
    sub = discounted(cycles=2, amount_off=980)
    charges = []
    for _ in range(3):
        [charge] = apply(sub, PeriodEnded(at=sub.period.end)).of_type(Charge)
        charges.append((charge.cycle, charge.amount.amount))
        sub = apply(
            sub, ChargeSucceeded(at=sub.period.end, kind=ChargeKind.RENEWAL, amount=charge.amount)
        ).subscription
    assert charges == [(1, 3920), (2, 4900), (3, 4900)]


def test_declined_renewal_goes_past_due_and_schedules_retries() -> None:
    failed = declined(FIRST_END, ChargeKind.RENEWAL, FailureReason.INSUFFICIENT_FUNDS)
    decision = apply(active(), failed)
    sub = decision.subscription
    assert (sub.status, sub.access, sub.failed_attempts, sub.retries_left) == (
        Status.PAST_DUE,
        True,
        1,
        4,
    )
    assert sub.next_retry_at == sub.next_charge_at == FIRST_END + DAY
    assert sub.last_failure is not None
    assert sub.last_failure.reason is FailureReason.INSUFFICIENT_FUNDS
    [email] = decision.of_type(EmailCustomer)
    assert email.template is EmailTemplate.RENEWAL_FAILED
    assert email.details["reason"] == "insufficient_funds"
    assert email.details["next_retry_at"] == "2026-03-01T09:30:00Z"


def test_retries_run_on_the_schedule_and_the_last_failure_cancels() -> None:
    sub = past_due()
    retry_dates = []
    decision = None
    while sub.status is Status.PAST_DUE:
        assert sub.next_retry_at is not None
        retry_dates.append(sub.next_retry_at - FIRST_END)
        event = due_event(sub, sub.next_retry_at, CARD)
        assert isinstance(event, RetryDue)
        [charge] = apply(sub, event).of_type(Charge)
        assert (charge.kind, charge.amount) == (ChargeKind.RETRY, PRICE)
        decision = apply(
            sub,
            declined(event.at, ChargeKind.RETRY, FailureReason.CARD_DECLINED),
        )
        sub = decision.subscription
    assert retry_dates == [DAY, 3 * DAY, 7 * DAY, 14 * DAY]
    assert decision is not None
    assert (sub.status, sub.cancel_reason, sub.access, sub.due_at) == (
        Status.CANCELLED,
        CancelReason.PAYMENT_FAILED,
        False,
        None,
    )
    assert _emails(decision.effects) == [EmailTemplate.CANCELLED_AFTER_FAILED_RETRIES]
    [notice] = decision.of_type(NotifySales)
    assert notice.notice is SalesNotice.CANCELLED_AFTER_FAILED_RETRIES


def test_successful_retry_keeps_the_anchor() -> None:
    sub = past_due()
    paid = apply(
        sub, ChargeSucceeded(at=FIRST_END + 3 * DAY, kind=ChargeKind.RETRY, amount=PRICE)
    ).subscription
    assert (paid.status, paid.period.start, paid.period.end) == (
        Status.ACTIVE,
        FIRST_END,
        SECOND_END,
    )
    assert (paid.failed_attempts, paid.retries_left, paid.last_failure, paid.next_retry_at) == (
        0,
        0,
        None,
        None,
    )


def test_auto_renew_off_cancels_at_period_end_without_charging() -> None:
    decision = apply(active(auto_renew=False), PeriodEnded(at=FIRST_END))
    sub = decision.subscription
    assert (sub.status, sub.cancel_reason) == (Status.CANCELLED, CancelReason.AUTO_RENEW_OFF)
    assert decision.of_type(Charge) == []
    # The fifth reason of the help page: shown like a failure, and the customer is told.
    assert sub.last_failure == Failure(FailureReason.AUTO_RENEW_OFF, FIRST_END)
    assert _emails(decision.effects) == [EmailTemplate.SUBSCRIPTION_ENDED]


def test_customer_cancel_turns_auto_renew_off_until_period_end() -> None:
    decision = apply(active(), CustomerCancelled(at=FIRST_END - DAY))
    sub = decision.subscription
    assert (sub.status, sub.auto_renew, sub.next_charge_at, sub.due_at) == (
        Status.ACTIVE,
        False,
        None,
        FIRST_END,
    )
    assert _emails(decision.effects) == [EmailTemplate.AUTO_RENEW_OFF]
    again = apply(sub, CustomerCancelled(at=FIRST_END - DAY))
    assert again.subscription == sub
    assert again.effects == ()


def test_customer_resume_before_period_end() -> None:
    decision = apply(active(auto_renew=False), CustomerResumed(at=FIRST_END - DAY))
    assert decision.subscription.auto_renew
    assert _emails(decision.effects) == [EmailTemplate.AUTO_RENEW_ON]


def test_cancel_while_past_due_stops_retries() -> None:
    decision = apply(past_due(), CustomerCancelled(at=FIRST_END + DAY))
    sub = decision.subscription
    assert (sub.status, sub.cancel_reason, sub.next_retry_at, sub.due_at) == (
        Status.CANCELLED,
        CancelReason.CANCELLED_BY_CUSTOMER,
        None,
        None,
    )
    assert sub.cancelled_at == FIRST_END + DAY


def test_retry_now_does_not_shift_the_dunning_schedule() -> None:
    sub = past_due()
    [charge] = apply(sub, RetryNowRequested(at=FIRST_END + DAY / 2)).of_type(Charge)
    assert (charge.kind, charge.attempt) == (ChargeKind.RETRY_NOW, 2)
    decision = apply(
        sub,
        declined(FIRST_END + DAY / 2, ChargeKind.RETRY_NOW, FailureReason.CARD_DECLINED),
    )
    after = decision.subscription
    assert (after.next_retry_at, after.retries_left) == (sub.next_retry_at, sub.retries_left)
    assert after.failed_attempts == 2
    assert _emails(decision.effects) == [EmailTemplate.RETRY_NOW_RESULT]
    [notice] = decision.of_type(NotifySales)
    assert (notice.notice, notice.details["outcome"]) == (SalesNotice.RETRY_NOW_OUTCOME, "failed")


def test_successful_retry_now_reactivates_and_tells_sales() -> None:
    decision = apply(
        past_due(), ChargeSucceeded(at=FIRST_END + DAY, kind=ChargeKind.RETRY_NOW, amount=PRICE)
    )
    assert decision.subscription.status is Status.ACTIVE
    [notice] = decision.of_type(NotifySales)
    assert notice.details["outcome"] == "succeeded"


def test_provider_error_uses_no_attempt_emails_nobody_and_backs_off() -> None:
    sub = active()
    delays = []
    for _ in range(3):
        event = due_event(sub, sub.due_at or FIRST_END, CARD)
        assert isinstance(event, PeriodEnded)
        decision = apply(
            sub,
            declined(event.at, ChargeKind.RENEWAL, FailureReason.PROVIDER_ERROR),
        )
        assert decision.of_type(EmailCustomer) == []
        sub = decision.subscription
        assert sub.due_at is not None
        delays.append(sub.due_at - event.at)
    assert (sub.status, sub.failed_attempts, sub.retries_left) == (Status.ACTIVE, 0, 0)
    assert delays == [timedelta(minutes=5), timedelta(minutes=10), timedelta(minutes=20)]
    assert sub.charge_attempts == 3, "each provider call had its own attempt key"


def _renewal_through_an_outage(sub: Subscription) -> list[Decision]:
    """Every scheduled renewal attempt ends in a provider error, as during an outage."""
    decisions = []
    while sub.status is Status.ACTIVE:
        event = due_event(sub, sub.due_at or FIRST_END, CARD)
        assert isinstance(event, PeriodEnded)
        decision = apply(sub, declined(event.at, ChargeKind.RENEWAL, FailureReason.PROVIDER_ERROR))
        decisions.append(decision)
        sub = decision.subscription
    return decisions


def test_an_outage_past_the_grace_makes_the_renewal_past_due_and_tells_the_customer() -> None:
    grace = DEFAULT_SCHEDULE.provider_error_grace
    *backing_off, last = _renewal_through_an_outage(active())
    # Within the grace: retried with backoff, still active, nobody emailed.
    assert all(d.subscription.status is Status.ACTIVE for d in backing_off)
    assert all(d.of_type(EmailCustomer) == [] for d in backing_off)
    assert max(d.subscription.due_at or FIRST_END for d in backing_off) == FIRST_END + grace
    # The attempt at the grace's end decides: past due, explained, emailed once.
    sub = last.subscription
    assert (sub.status, sub.access) == (Status.PAST_DUE, True)
    assert sub.last_failure == Failure(FailureReason.PROVIDER_ERROR, FIRST_END + grace, CARD)
    [email] = last.of_type(EmailCustomer)
    assert (email.template, email.details["reason"]) == (
        EmailTemplate.RENEWAL_FAILED,
        "provider_error",
    )
    # The dunning schedule counts from that moment, and Retry Now is allowed.
    assert (sub.first_failed_at, sub.next_retry_at, sub.retries_left) == (
        FIRST_END + grace,
        FIRST_END + grace + DAY,
        4,
    )
    [charge] = apply(sub, RetryNowRequested(at=FIRST_END + grace + DAY / 2)).of_type(Charge)
    assert charge.kind is ChargeKind.RETRY_NOW


def test_the_grace_is_configuration() -> None:
    schedule = DunningSchedule(retry_days=(2, 5), provider_error_grace=timedelta(hours=1))
    failed = declined(
        FIRST_END + timedelta(hours=1), ChargeKind.RENEWAL, FailureReason.PROVIDER_ERROR
    )
    sub = apply(active(), failed, schedule).subscription
    assert (sub.status, sub.next_retry_at, sub.retries_left) == (
        Status.PAST_DUE,
        FIRST_END + timedelta(hours=1) + 2 * DAY,
        2,
    )


def test_provider_errors_on_a_retry_past_the_grace_use_that_retry() -> None:
    sub = past_due()
    grace = DEFAULT_SCHEDULE.provider_error_grace
    assert sub.next_retry_at == FIRST_END + DAY
    decision = apply(
        sub, declined(FIRST_END + DAY + grace, ChargeKind.RETRY, FailureReason.PROVIDER_ERROR)
    )
    after = decision.subscription
    assert (after.status, after.retries_left) == (Status.PAST_DUE, sub.retries_left - 1)
    assert _emails(decision.effects) == [EmailTemplate.RENEWAL_FAILED]


def test_a_charge_outcome_is_recorded_in_the_name_of_who_asked_for_it() -> None:
    sales = Requester(Actor.SALES, "user_sam")
    decision = apply(
        past_due(),
        ChargeSucceeded(at=FIRST_END + DAY, by=sales, kind=ChargeKind.SALES, amount=PRICE),
    )
    [audit] = decision.of_type(Audit)
    assert (audit.actor, audit.by, audit.action) == (Actor.SALES, "user_sam", "charge_succeeded")
    scheduled = apply(active(), PeriodEnded(at=FIRST_END + DAY, by=SCHEDULER))
    assert scheduled.of_type(Audit) == []
    cancelled_by_scheduler = apply(active(auto_renew=False), PeriodEnded(at=FIRST_END))
    [audit] = cancelled_by_scheduler.of_type(Audit)
    assert (audit.actor, audit.by) == (Actor.SCHEDULER, "scheduler")


def test_provider_error_on_a_scheduled_retry_keeps_that_retry() -> None:
    sub = past_due()
    decision = apply(
        sub,
        declined(FIRST_END + DAY, ChargeKind.RETRY, FailureReason.PROVIDER_ERROR),
    )
    after = decision.subscription
    assert (after.retries_left, after.failed_attempts) == (sub.retries_left, sub.failed_attempts)
    assert after.due_at == FIRST_END + DAY + timedelta(minutes=5)
    assert isinstance(due_event(after, after.due_at, CARD), RetryDue)
    assert decision.of_type(EmailCustomer) == []


def test_hard_decline_is_not_retried_on_the_same_method() -> None:
    sub = past_due(FailureReason.PAYMENT_METHOD_INVALID)
    skipped = apply(sub, RetryDue(at=FIRST_END + DAY, payment_method_id=CARD))
    assert skipped.of_type(Charge) == []
    assert skipped.subscription.retries_left == sub.retries_left - 1
    # Nothing was attempted: no "we could not take the payment" for a charge never made.
    assert _emails(skipped.effects) == []


def test_hard_decline_is_retried_once_the_method_changed() -> None:
    sub = past_due(FailureReason.PAYMENT_METHOD_INVALID)
    [charge] = apply(sub, RetryDue(at=FIRST_END + DAY, payment_method_id="pm_new")).of_type(Charge)
    assert charge.kind is ChargeKind.RETRY


def test_new_payment_method_retries_past_due_at_once() -> None:
    [charge] = apply(past_due(), PaymentMethodUpdated(at=FIRST_END + DAY / 4)).of_type(Charge)
    assert (charge.kind, charge.cycle, charge.attempt) == (
        ChargeKind.PAYMENT_METHOD_UPDATE,
        1,
        2,
    )


def test_partner_is_reminded_seven_days_before_the_end() -> None:
    sub = partner()
    event = due_event(sub, FIRST_END - 7 * DAY, None)
    assert isinstance(event, PartnerReminderDue)
    decision = apply(sub, event)
    [notice] = decision.of_type(NotifyPartner)
    assert notice.notice is PartnerNotice.RENEWAL_REMINDER
    assert decision.subscription.due_at == FIRST_END


def test_partner_subscription_lapses_when_not_extended() -> None:
    sub = apply(partner(), PartnerReminderDue(at=FIRST_END - 7 * DAY)).subscription
    event = due_event(sub, FIRST_END, None)
    assert isinstance(event, PeriodEnded)
    decision = apply(sub, event)
    assert decision.subscription.cancel_reason is CancelReason.PARTNER_NOT_RENEWED
    assert [n.notice for n in decision.of_type(NotifyPartner)] == [PartnerNotice.NOT_RENEWED]
    assert decision.of_type(Charge) == []


def test_partner_extension_carries_into_the_next_period() -> None:
    sub = apply(partner(), PartnerExtended(at=FIRST_END - 2 * DAY)).subscription
    assert sub.due_at == FIRST_END, "no reminder once extended"
    renewed = apply(sub, PeriodEnded(at=FIRST_END))
    assert renewed.of_type(Charge) == []
    after = renewed.subscription
    assert (after.cycle, after.partner_prepaid_cycles, after.partner_reminded) == (1, 0, False)
    assert after.due_at == SECOND_END - 7 * DAY
    [audit] = renewed.of_type(Audit)
    assert audit.actor is Actor.SCHEDULER


def test_due_event_is_none_before_anything_is_due() -> None:
    assert due_event(active(), FIRST_END - timedelta(seconds=1), CARD) is None
    assert due_event(replace(active(), status=Status.CANCELLED), FIRST_END, CARD) is None


def test_rejection_carries_the_customer_message() -> None:
    with pytest.raises(TransitionRejected) as rejected:
        apply(active(), RetryNowRequested(at=ANCHOR))
    assert rejected.value.message == "The due date has not arrived yet; no action is needed."


def test_events_normalise_their_instant_to_utc_seconds() -> None:
    event = PeriodEnded(at=datetime(2026, 2, 28, 10, 30, 0, 5, tzinfo=UTC) - timedelta(hours=1))
    assert event.at == datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        PeriodEnded(at=datetime(2026, 2, 28, 9, 30))
