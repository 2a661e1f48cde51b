"""The dunning schedule: when failed renewals are retried, and the provider-error backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.domain.dunning import DunningSchedule

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
