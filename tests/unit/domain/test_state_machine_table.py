"""Every row of the transition table, each reached from a real lifecycle state."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from billing.domain.errors import ErrorCode, TransitionRejected, UnknownTransition
from billing.domain.failures import FailureReason
from billing.domain.state_machine import (
    DEFAULT_SCHEDULE,
    TRANSITIONS,
    CardExpiryCheckDue,
    Charge,
    ChargeFailed,
    ChargeSucceeded,
    CustomerCancelled,
    CustomerResumed,
    DisputeCleared,
    DisputeLost,
    DisputeWon,
    Event,
    PartnerExtended,
    PartnerReminderDue,
    PaymentDisputed,
    PaymentMethodUpdated,
    PeriodEnded,
    RenewalNoticeDue,
    RetryDue,
    RetryNowRequested,
    SalesCancelled,
    SalesChargeRequested,
    apply,
    find_transition,
)
from billing.domain.subscription import ChargeKind, Status, Subscription
from tests.support.subscriptions import (
    CARD,
    FIRST_END,
    PRICE,
    YEAR_END,
    active,
    cancelled,
    declined,
    partner,
    past_due,
    yearly,
)

DAY = timedelta(days=1)
HARD = FailureReason.PAYMENT_METHOD_INVALID
SOFT = FailureReason.CARD_DECLINED
PROVIDER = FailureReason.PROVIDER_ERROR
GRACE = DEFAULT_SCHEDULE.provider_error_grace


def _ok(kind: ChargeKind, at_offset: timedelta = DAY) -> ChargeSucceeded:
    return ChargeSucceeded(at=FIRST_END + at_offset, kind=kind, amount=PRICE)


def _failed(kind: ChargeKind, reason: FailureReason, offset: timedelta = DAY) -> ChargeFailed:
    return declined(FIRST_END + offset, kind, reason)


def _last_retry(reason: FailureReason = SOFT) -> Subscription:
    return replace(past_due(reason), retries_left=1)


NOTICE_AT = YEAR_END - DEFAULT_SCHEDULE.renewal_notice
CARD_CHECK_AT = YEAR_END - 30 * DAY


def _card_check(valid_through: date | None, at: timedelta = timedelta(0)) -> CardExpiryCheckDue:
    return CardExpiryCheckDue(at=CARD_CHECK_AT + at, card_valid_through=valid_through)


PAID = "sub_1.c00000.a001"
"""The payment of the current period of `active()` (its purchase)."""
RENEWED = "sub_1.c00001.a002"
"""The renewal that paid `_renewed()`'s current period, at its second attempt."""


def _disputed(at: timedelta = DAY) -> PaymentDisputed:
    return PaymentDisputed(
        at=FIRST_END - at, payment_id=PAID, cycle=0, amount=PRICE, reason="fraudulent"
    )


def _lost(cycle: int = 0) -> DisputeLost:
    return DisputeLost(at=FIRST_END - DAY, payment_id=PAID, cycle=cycle, attempt=1)


def _held(sub: Subscription) -> Subscription:
    return replace(sub, disputed_payment_id=PAID)


def _renewed() -> Subscription:
    """Renewed once: in its second period, paid by the renewal's second attempt."""
    return replace(active(), cycle=1, disputed_payment_id=RENEWED)


def _renewal_lost() -> DisputeLost:
    return DisputeLost(at=FIRST_END + 3 * DAY, payment_id=RENEWED, cycle=1, attempt=2)


def _noticed() -> Subscription:
    """A yearly subscription whose renewal notice is sent: next, the card check."""
    return yearly(renewal_notice_at=NOTICE_AT, renewal_notice_sent_at=NOTICE_AT)


# (case id, state, event, expected status or rejection code)
CASES: list[tuple[str, Subscription, Event, Status | ErrorCode]] = [
    ("period_end_not_reached", active(), PeriodEnded(at=FIRST_END - timedelta(seconds=1)),
     ErrorCode.NOT_DUE),
    ("partner_period_not_over_at_reminder_time", partner(),
     PeriodEnded(at=FIRST_END - 3 * DAY), ErrorCode.NOT_DUE),
    ("partner_extended_starts_next_period", partner(partner_prepaid_cycles=1),
     PeriodEnded(at=FIRST_END), Status.ACTIVE),
    ("partner_not_extended_cancelled", partner(partner_reminded=True),
     PeriodEnded(at=FIRST_END), Status.CANCELLED),
    ("auto_renew_off_cancelled_at_period_end", active(auto_renew=False),
     PeriodEnded(at=FIRST_END), Status.CANCELLED),
    ("period_end_charges_renewal", active(), PeriodEnded(at=FIRST_END), Status.ACTIVE),
    ("period_end_while_past_due_is_stale", past_due(), PeriodEnded(at=FIRST_END + 30 * DAY),
     ErrorCode.NOT_DUE),
    ("partner_reminder_too_early", partner(), PartnerReminderDue(at=FIRST_END - 8 * DAY),
     ErrorCode.NOT_DUE),
    ("partner_reminded_seven_days_before", partner(),
     PartnerReminderDue(at=FIRST_END - 7 * DAY), Status.ACTIVE),
    ("partner_reminder_for_direct_is_stale", active(), PartnerReminderDue(at=FIRST_END),
     ErrorCode.NOT_DUE),
    ("renewal_notice_first_look_plans_it", yearly(),
     RenewalNoticeDue(at=YEAR_END - 89 * DAY), Status.ACTIVE),
    ("renewal_notice_sent_when_planned", yearly(renewal_notice_at=NOTICE_AT),
     RenewalNoticeDue(at=NOTICE_AT), Status.ACTIVE),
    ("renewal_notice_before_its_time", yearly(renewal_notice_at=NOTICE_AT),
     RenewalNoticeDue(at=NOTICE_AT - DAY), ErrorCode.NOT_DUE),
    ("renewal_notice_once_a_period", _noticed(), RenewalNoticeDue(at=NOTICE_AT + DAY),
     ErrorCode.NOT_DUE),
    ("renewal_notice_after_the_end", yearly(renewal_notice_at=NOTICE_AT),
     RenewalNoticeDue(at=YEAR_END), ErrorCode.NOT_DUE),
    ("renewal_notice_for_monthly_plans_is_stale", active(),
     RenewalNoticeDue(at=FIRST_END - DAY), ErrorCode.NOT_DUE),
    ("card_expiring_before_the_renewal", _noticed(), _card_check(date(2026, 12, 31)),
     Status.ACTIVE),
    ("card_valid_at_the_renewal", _noticed(), _card_check(date(2027, 1, 31)), Status.ACTIVE),
    ("card_check_before_its_time", _noticed(), _card_check(None, -DAY), ErrorCode.NOT_DUE),
    ("card_check_for_past_due_is_stale", past_due(),
     CardExpiryCheckDue(at=FIRST_END + DAY, card_valid_through=date(2026, 1, 31)),
     ErrorCode.NOT_DUE),
    ("retry_before_its_date", past_due(), RetryDue(at=FIRST_END + DAY / 2, payment_method_id=CARD),
     ErrorCode.NOT_DUE),
    ("hard_decline_same_method_last_retry_cancels", _last_retry(HARD),
     RetryDue(at=FIRST_END + 30 * DAY, payment_method_id=CARD), Status.CANCELLED),
    ("hard_decline_same_method_skips_retry", past_due(HARD),
     RetryDue(at=FIRST_END + DAY, payment_method_id=CARD), Status.PAST_DUE),
    ("retry_due_charges", past_due(), RetryDue(at=FIRST_END + DAY, payment_method_id=CARD),
     Status.PAST_DUE),
    ("retry_due_while_active_is_stale", active(), RetryDue(at=FIRST_END, payment_method_id=CARD),
     ErrorCode.NOT_DUE),
    ("success_after_cancel", cancelled(), _ok(ChargeKind.RETRY), ErrorCode.SUBSCRIPTION_CANCELLED),
    ("failure_after_cancel", cancelled(), _failed(ChargeKind.RETRY, SOFT),
     ErrorCode.SUBSCRIPTION_CANCELLED),
    ("renewal_succeeds", active(), _ok(ChargeKind.RENEWAL, timedelta(0)), Status.ACTIVE),
    ("renewal_of_its_cycle_succeeds", active(),
     replace(_ok(ChargeKind.RENEWAL, timedelta(0)), cycle=1), Status.ACTIVE),
    # A payment confirmed late for a cycle another attempt paid meanwhile pays nothing twice.
    ("payment_of_another_cycle_refused", past_due(),
     replace(_ok(ChargeKind.RETRY), cycle=2), ErrorCode.NO_ACTION_REQUIRED),
    ("stale_success_while_active", active(), _ok(ChargeKind.RETRY_NOW, timedelta(0)),
     ErrorCode.NO_ACTION_REQUIRED),
    ("renewal_succeeds_with_a_card_expiring", active(),
        replace(_ok(ChargeKind.RENEWAL, timedelta(0)), card_valid_through=date(2026, 2, 28)),
        Status.ACTIVE),
    ("retry_now_succeeds", past_due(), _ok(ChargeKind.RETRY_NOW), Status.ACTIVE),
    ("retry_now_succeeds_with_a_card_expiring", past_due(),
        replace(_ok(ChargeKind.RETRY_NOW), card_valid_through=date(2026, 3, 30)), Status.ACTIVE),
    ("scheduled_retry_succeeds", past_due(), _ok(ChargeKind.RETRY), Status.ACTIVE),
    ("scheduled_retry_succeeds_with_a_card_expiring", past_due(),
        replace(_ok(ChargeKind.RETRY), card_valid_through=date(2026, 3, 30)), Status.ACTIVE),
    ("renewal_provider_error_backs_off", active(),
     _failed(ChargeKind.RENEWAL, PROVIDER, timedelta(0)), Status.ACTIVE),
    ("renewal_declined_goes_past_due", active(),
     _failed(ChargeKind.RENEWAL, SOFT, timedelta(0)), Status.PAST_DUE),
    ("renewal_provider_error_past_the_grace_goes_past_due", active(),
     _failed(ChargeKind.RENEWAL, PROVIDER, GRACE), Status.PAST_DUE),
    ("stale_failure_while_active", active(), _failed(ChargeKind.SALES, SOFT, timedelta(0)),
     ErrorCode.NO_ACTION_REQUIRED),
    ("retry_provider_error_backs_off", past_due(), _failed(ChargeKind.RETRY, PROVIDER),
     Status.PAST_DUE),
    ("last_retry_provider_error_past_the_grace_cancels", _last_retry(),
     _failed(ChargeKind.RETRY, PROVIDER, DAY + GRACE), Status.CANCELLED),
    ("last_retry_declined_cancels", _last_retry(), _failed(ChargeKind.RETRY, SOFT, 14 * DAY),
     Status.CANCELLED),
    ("retry_declined_retries_left", past_due(), _failed(ChargeKind.RETRY, SOFT),
     Status.PAST_DUE),
    ("retry_now_declined", past_due(), _failed(ChargeKind.RETRY_NOW, SOFT), Status.PAST_DUE),
    ("sales_charge_provider_error", past_due(), _failed(ChargeKind.SALES, PROVIDER),
     Status.PAST_DUE),
    ("sales_charge_declined", past_due(), _failed(ChargeKind.SALES, SOFT), Status.PAST_DUE),
    ("partner_customer_cannot_cancel", partner(), CustomerCancelled(at=FIRST_END - DAY),
     ErrorCode.MANAGED_BY_PARTNER),
    ("cancel_when_cancelled_is_idempotent", cancelled(), CustomerCancelled(at=FIRST_END + DAY),
     Status.CANCELLED),
    ("cancel_when_auto_renew_off_is_idempotent", active(auto_renew=False),
     CustomerCancelled(at=FIRST_END - DAY), Status.ACTIVE),
    ("cancel_active_turns_auto_renew_off", active(), CustomerCancelled(at=FIRST_END - DAY),
     Status.ACTIVE),
    ("cancel_past_due_cancels", past_due(), CustomerCancelled(at=FIRST_END + DAY),
     Status.CANCELLED),
    ("partner_customer_cannot_resume", partner(), CustomerResumed(at=FIRST_END - DAY),
     ErrorCode.MANAGED_BY_PARTNER),
    ("resume_cancelled", cancelled(), CustomerResumed(at=FIRST_END + DAY),
     ErrorCode.SUBSCRIPTION_CANCELLED),
    ("resume_when_auto_renew_on_is_idempotent", active(), CustomerResumed(at=FIRST_END - DAY),
     Status.ACTIVE),
    ("resume_after_period_end", active(auto_renew=False), CustomerResumed(at=FIRST_END),
     ErrorCode.PERIOD_ENDED),
    ("resume_before_period_end", active(auto_renew=False), CustomerResumed(at=FIRST_END - DAY),
     Status.ACTIVE),
    ("resume_past_due_is_idempotent", past_due(), CustomerResumed(at=FIRST_END + DAY),
     Status.PAST_DUE),
    ("partner_customer_cannot_retry", partner(), RetryNowRequested(at=FIRST_END),
     ErrorCode.MANAGED_BY_PARTNER),
    ("retry_now_when_active", active(), RetryNowRequested(at=FIRST_END - DAY),
     ErrorCode.NO_ACTION_REQUIRED),
    ("retry_now_when_cancelled", cancelled(), RetryNowRequested(at=FIRST_END + DAY),
     ErrorCode.SUBSCRIPTION_CANCELLED),
    ("retry_now_when_past_due", past_due(), RetryNowRequested(at=FIRST_END + DAY / 2),
     Status.PAST_DUE),
    ("sales_charge_partner", partner(), SalesChargeRequested(at=FIRST_END),
     ErrorCode.MANAGED_BY_PARTNER),
    ("sales_charge_active", active(), SalesChargeRequested(at=FIRST_END - DAY),
     ErrorCode.NO_ACTION_REQUIRED),
    ("sales_charge_cancelled", cancelled(), SalesChargeRequested(at=FIRST_END + DAY),
     ErrorCode.SUBSCRIPTION_CANCELLED),
    ("sales_charge_past_due", past_due(), SalesChargeRequested(at=FIRST_END + DAY),
     Status.PAST_DUE),
    ("partner_method_update", partner(), PaymentMethodUpdated(at=FIRST_END - DAY),
     ErrorCode.MANAGED_BY_PARTNER),
    ("method_update_retries_past_due", past_due(), PaymentMethodUpdated(at=FIRST_END + DAY),
     Status.PAST_DUE),
    ("method_update_active_nothing_to_retry", active(), PaymentMethodUpdated(at=FIRST_END),
     Status.ACTIVE),
    ("method_update_cancelled_nothing_to_retry", cancelled(),
     PaymentMethodUpdated(at=FIRST_END + DAY), Status.CANCELLED),
    ("extend_direct_subscription", active(), PartnerExtended(at=FIRST_END - DAY),
     ErrorCode.NOT_PARTNER_MANAGED),
    ("extend_cancelled_partner_subscription",
     partner(status=Status.CANCELLED, auto_renew=False), PartnerExtended(at=FIRST_END),
     ErrorCode.SUBSCRIPTION_CANCELLED),
    ("partner_extends", partner(), PartnerExtended(at=FIRST_END - DAY), Status.ACTIVE),
    ("dispute_holds_active", active(), _disputed(), Status.ACTIVE),
    ("dispute_holds_past_due", past_due(), _disputed(-DAY), Status.PAST_DUE),
    ("dispute_of_cancelled_told", cancelled(), _disputed(-DAY), Status.CANCELLED),
    ("dispute_lost_reopens_period", _renewed(), _renewal_lost(), Status.PAST_DUE),
    ("dispute_lost_of_the_purchase_left_to_sales", _held(active()), _lost(), Status.ACTIVE),
    ("dispute_lost_past_due", _held(past_due()), _lost(), Status.PAST_DUE),
    ("dispute_lost_cancelled", cancelled(), _lost(), Status.CANCELLED),
    ("dispute_won_active", _held(active()),
     DisputeWon(at=FIRST_END - DAY, payment_id=PAID), Status.ACTIVE),
    ("dispute_won_past_due", _held(past_due()),
     DisputeWon(at=FIRST_END + DAY, payment_id=PAID), Status.PAST_DUE),
    ("dispute_won_cancelled", cancelled(),
     DisputeWon(at=FIRST_END + DAY, payment_id=PAID), Status.CANCELLED),
    ("dispute_cleared_active", _held(active()), DisputeCleared(at=FIRST_END - DAY),
     Status.ACTIVE),
    ("dispute_cleared_past_due", _held(past_due()), DisputeCleared(at=FIRST_END + DAY),
     Status.PAST_DUE),
    ("dispute_cleared_cancelled", _held(cancelled()), DisputeCleared(at=FIRST_END + DAY),
     Status.CANCELLED),
    ("nothing_held_to_clear", active(), DisputeCleared(at=FIRST_END - DAY),
     ErrorCode.NO_ACTION_REQUIRED),
    ("sales_cancels_cancelled", cancelled(), SalesCancelled(at=FIRST_END + DAY),
     Status.CANCELLED),
    ("sales_cancels_active", active(), SalesCancelled(at=FIRST_END - DAY), Status.CANCELLED),
]  # fmt: skip


@pytest.mark.parametrize(("state", "event", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_transition(state: Subscription, event: Event, expected: Status | ErrorCode) -> None:
    if isinstance(expected, ErrorCode):
        with pytest.raises(TransitionRejected) as rejected:
            apply(state, event)
        assert rejected.value.code is expected
    else:
        assert apply(state, event).subscription.status is expected


def test_cases_exercise_every_row_of_the_table() -> None:
    exercised = {find_transition(state, event) for _, state, event, _ in CASES}
    missing = [TRANSITIONS.index(row) for row in TRANSITIONS if row not in exercised]
    assert missing == []


def test_a_held_subscription_is_not_due_until_sales_clears_it() -> None:
    held = apply(active(), _disputed()).subscription

    assert held.disputed_payment_id == PAID
    assert held.due_at is None
    assert held.next_charge_at is None
    cleared = apply(held, DisputeCleared(at=FIRST_END + DAY)).subscription
    assert cleared.due_at == FIRST_END


def test_a_lost_dispute_makes_the_current_period_unpaid_and_charges_it_again() -> None:
    lost = _renewal_lost()
    reopened = replace(apply(_renewed(), lost).subscription, disputed_payment_id=None)

    assert reopened.status is Status.PAST_DUE
    assert reopened.cycle == 0
    assert reopened.period.end == FIRST_END
    assert reopened.last_failure is not None
    assert reopened.last_failure.reason is FailureReason.PAYMENT_REVERSED
    assert reopened.next_retry_at == DEFAULT_SCHEDULE.retry_at(lost.at, reopened.retries_left)
    [charge] = apply(reopened, RetryDue(at=lost.at + DAY, payment_method_id=CARD)).of_type(Charge)
    assert (charge.cycle, charge.attempt) == (1, 3)


def test_a_card_updated_after_its_hard_decline_is_retried() -> None:
    sub = past_due(HARD)
    assert sub.next_retry_at is not None
    assert sub.last_failure is not None
    failed_at = sub.last_failure.at

    skipped = RetryDue(at=sub.next_retry_at, payment_method_id=CARD)
    updated = replace(skipped, payment_method_updated_at=failed_at + DAY)
    updated_before = replace(skipped, payment_method_updated_at=failed_at - DAY)

    assert find_transition(sub, skipped).guards[0].value == "same_method_hard_declined"
    assert find_transition(sub, updated_before).guards[0].value == "same_method_hard_declined"
    assert apply(sub, updated).effects[0] == apply(past_due(SOFT), skipped).effects[0]


def test_case_ids_are_unique() -> None:
    assert len({case[0] for case in CASES}) == len(CASES)


def test_rows_either_reject_or_lead_somewhere() -> None:
    for row in TRANSITIONS:
        assert (row.reject is None) != (row.to is None), row


def test_rows_that_cancel_give_a_reason_and_others_do_not() -> None:
    for row in TRANSITIONS:
        cancels = row.to is Status.CANCELLED and row.status is not Status.CANCELLED
        assert (row.cancel_reason is not None) == cancels, row


def test_an_event_no_row_covers_is_a_programming_error() -> None:
    class Unheard(Event):
        pass

    with pytest.raises(UnknownTransition):
        apply(active(), Unheard(at=FIRST_END))
