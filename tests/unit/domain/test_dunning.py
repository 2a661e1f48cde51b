"""The dunning schedule: when failed renewals are retried, the provider-error backoff, and how
long before a period ends the renewal notice goes out."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

import pytest

from billing.domain.dunning import DunningSchedule
from billing.domain.subscription import RENEWAL_NOTICE_MAX_LEAD, RENEWAL_NOTICE_MIN_LEAD

FIRST_FAILED = datetime(2026, 2, 28, 9, 30, 15, tzinfo=UTC)


def test_default_schedule() -> None:
    schedule = DunningSchedule()

    assert schedule.retry_days == (1, 3, 7, 14)
    assert schedule.retries == 4
    assert schedule.provider_backoff == timedelta(minutes=5)
    assert schedule.provider_backoff_cap == timedelta(hours=6)


def test_default_grace_period_is_fourteen_days() -> None:
    assert DunningSchedule().grace_period == timedelta(days=14)


@pytest.mark.parametrize(
    ("retries_left", "expected"),
    [
        (4, datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)),
        (3, datetime(2026, 3, 3, 9, 30, 15, tzinfo=UTC)),
        (2, datetime(2026, 3, 7, 9, 30, 15, tzinfo=UTC)),
        (1, datetime(2026, 3, 14, 9, 30, 15, tzinfo=UTC)),
    ],
)
def test_default_retries_follow_the_first_failure(retries_left: int, expected: datetime) -> None:
    assert DunningSchedule().retry_at(FIRST_FAILED, retries_left) == expected


def test_no_retry_when_none_are_left() -> None:
    assert DunningSchedule().retry_at(FIRST_FAILED, 0) is None


def test_last_retry_closes_the_grace_window() -> None:
    schedule = DunningSchedule()

    assert schedule.retry_at(FIRST_FAILED, 1) == FIRST_FAILED + schedule.grace_period


def test_retries_are_measured_from_the_first_failure_across_a_year_end() -> None:
    first = datetime(2026, 12, 25, 23, 0, tzinfo=UTC)

    assert [DunningSchedule().retry_at(first, left) for left in (4, 3, 2, 1)] == [
        datetime(2026, 12, 26, 23, 0, tzinfo=UTC),
        datetime(2026, 12, 28, 23, 0, tzinfo=UTC),
        datetime(2027, 1, 1, 23, 0, tzinfo=UTC),
        datetime(2027, 1, 8, 23, 0, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("retry_days", "retries_left", "days_after"),
    [
        ((2, 5), 2, 2),
        ((2, 5), 1, 5),
        ((10,), 1, 10),
        ((1, 2, 3, 4, 5, 6), 6, 1),
        ((1, 2, 3, 4, 5, 6), 4, 3),
        ((1, 2, 3, 4, 5, 6), 1, 6),
    ],
)
def test_custom_retry_days(retry_days: tuple[int, ...], retries_left: int, days_after: int) -> None:
    schedule = DunningSchedule(retry_days=retry_days)

    assert schedule.retries == len(retry_days)
    assert schedule.grace_period == timedelta(days=retry_days[-1])
    assert schedule.retry_at(FIRST_FAILED, retries_left) == FIRST_FAILED + timedelta(
        days=days_after
    )


@pytest.mark.parametrize(
    "retry_days",
    [
        (),
        (0,),
        (0, 3),
        (-1, 3),
        (3, 3),
        (1, 5, 2),
        (7, 3, 1),
        (1, 3, 3, 14),
    ],
)
def test_invalid_retry_days_are_rejected(retry_days: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="positive and increasing"):
        DunningSchedule(retry_days=retry_days)


@pytest.mark.parametrize(
    ("backoff", "cap"),
    [
        (timedelta(0), timedelta(hours=6)),
        (timedelta(minutes=-5), timedelta(hours=6)),
        (timedelta(hours=7), timedelta(hours=6)),
        (timedelta(minutes=5), timedelta(minutes=4)),
        (timedelta(0), timedelta(0)),
    ],
)
def test_invalid_provider_backoff_is_rejected(backoff: timedelta, cap: timedelta) -> None:
    with pytest.raises(ValueError, match="within its cap"):
        DunningSchedule(provider_backoff=backoff, provider_backoff_cap=cap)


@pytest.mark.parametrize(
    ("consecutive_errors", "minutes"),
    [
        (1, 5),
        (2, 10),
        (3, 20),
        (4, 40),
        (5, 80),
        (6, 160),
        (7, 320),
        (8, 360),
        (9, 360),
        (20, 360),
        (1000, 360),
    ],
)
def test_provider_backoff_doubles_from_five_minutes_up_to_six_hours(
    consecutive_errors: int, minutes: int
) -> None:
    failed_at = datetime(2026, 2, 28, 23, 58, tzinfo=UTC)

    assert DunningSchedule().provider_retry_at(failed_at, consecutive_errors) == failed_at + (
        timedelta(minutes=minutes)
    )


@pytest.mark.parametrize("consecutive_errors", [0, -3])
def test_provider_backoff_before_any_error_is_the_first_delay(consecutive_errors: int) -> None:
    assert DunningSchedule().provider_retry_at(FIRST_FAILED, consecutive_errors) == (
        FIRST_FAILED + timedelta(minutes=5)
    )


@pytest.mark.parametrize(
    ("consecutive_errors", "seconds"),
    [(1, 30), (2, 60), (3, 120), (4, 240), (5, 300), (6, 300)],
)
def test_custom_provider_backoff_and_cap(consecutive_errors: int, seconds: int) -> None:
    schedule = DunningSchedule(
        provider_backoff=timedelta(seconds=30), provider_backoff_cap=timedelta(minutes=5)
    )

    assert schedule.provider_retry_at(FIRST_FAILED, consecutive_errors) == FIRST_FAILED + (
        timedelta(seconds=seconds)
    )


@pytest.mark.parametrize("consecutive_errors", [1, 2, 10])
def test_backoff_equal_to_its_cap_is_always_the_cap(consecutive_errors: int) -> None:
    schedule = DunningSchedule(
        provider_backoff=timedelta(hours=1), provider_backoff_cap=timedelta(hours=1)
    )

    assert schedule.provider_retry_at(FIRST_FAILED, consecutive_errors) == FIRST_FAILED + (
        timedelta(hours=1)
    )


@pytest.mark.parametrize("retries_left", [-1, 5, 8])
def test_more_retries_left_than_scheduled_is_rejected(retries_left: int) -> None:
    with pytest.raises(ValueError, match="retries"):
        DunningSchedule().retry_at(FIRST_FAILED, retries_left)


def test_the_renewal_notice_goes_out_45_days_before_the_end_by_default() -> None:
    assert DunningSchedule().renewal_notice == timedelta(days=45)


@pytest.mark.parametrize("days", [31, 45, 89])
def test_a_renewal_notice_between_one_and_three_months_is_accepted(days: int) -> None:
    assert DunningSchedule(renewal_notice=timedelta(days=days)).renewal_notice.days == days


@pytest.mark.parametrize(
    ("lead", "written"),
    [
        (timedelta(days=30), "30 days"),
        (timedelta(days=90), "90 days"),
        (timedelta(days=31) - timedelta(seconds=1), "30 days, 23:59:59"),
        (timedelta(0), "0 days"),
        (timedelta(days=-40), "-40 days"),
    ],
)
def test_a_renewal_notice_outside_one_to_three_months_is_rejected(
    lead: timedelta, written: str
) -> None:
    with pytest.raises(ValueError, match=f"31 to 89 days before the period ends.*got {written}$"):
        DunningSchedule(renewal_notice=lead)


def _months_before(end: datetime, months: int) -> datetime:
    """`end` moved back by whole calendar months, clamped to the month's last day."""
    year, month = divmod(end.year * 12 + end.month - 1 - months, 12)
    day = min(end.day, calendar.monthrange(year, month + 1)[1])
    return end.replace(year=year, month=month + 1, day=day)


ENDS = [datetime(2024, 1, 1, 9, 30, tzinfo=UTC) + timedelta(days=n) for n in range(8 * 366)]
"""Every day of eight years, two leap years among them, as a period's end."""


def test_the_lead_bounds_put_the_notice_between_one_and_three_months_before_any_end() -> None:
    for end in ENDS:
        assert end - RENEWAL_NOTICE_MIN_LEAD <= _months_before(end, 1), end
        assert end - RENEWAL_NOTICE_MAX_LEAD >= _months_before(end, 3), end


def test_the_lead_bounds_are_the_widest_that_do() -> None:
    day = timedelta(days=1)
    assert any(end - (RENEWAL_NOTICE_MIN_LEAD - day) > _months_before(end, 1) for end in ENDS)
    assert any(end - (RENEWAL_NOTICE_MAX_LEAD + day) < _months_before(end, 3) for end in ENDS)
    # 31 August: one month before is 31 July, 31 days. 1 May: three months before is 1 February,
    # 89 days in a common year.
    august_end = datetime(2026, 8, 31, 9, 30, tzinfo=UTC)
    assert august_end - _months_before(august_end, 1) == RENEWAL_NOTICE_MIN_LEAD
    may_first = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    assert may_first - _months_before(may_first, 3) == RENEWAL_NOTICE_MAX_LEAD
