"""Retry Now's limit: 3 per subscription per 24 hours, counted from the attempt history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.domain.charges import ChargeAttempt, ChargeStatus
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.money import Currency, Money
from billing.domain.retry_now import check_retry_now_allowed
from billing.domain.state_machine import SCHEDULER, Actor, Requester
from billing.domain.subscription import ChargeKind

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


def _attempt(
    hours_ago: float, kind: ChargeKind = ChargeKind.RETRY_NOW, n: int = 1
) -> ChargeAttempt:
    return ChargeAttempt(
        subscription_id="sub_1",
        account_id="acct_1",
        cycle=1,
        attempt=n,
        kind=kind,
        amount=Money(4900, Currency.EUR),
        status=ChargeStatus.FAILED,
        created_at=NOW - timedelta(hours=hours_ago),
        requested_by=SCHEDULER if kind.scheduled else Requester(Actor.CUSTOMER, "user_ada"),
    )


def test_two_presses_in_a_day_leave_a_third() -> None:
    check_retry_now_allowed([_attempt(1), _attempt(2)], NOW)


def test_a_fourth_press_within_24_hours_is_refused_with_the_time_to_try_again() -> None:
    with pytest.raises(DomainError) as refused:
        check_retry_now_allowed([_attempt(1), _attempt(5), _attempt(23)], NOW)
    assert refused.value.code is ErrorCode.TOO_MANY_RETRIES
    assert refused.value.details == {"retry_after": "2026-03-05T13:00:00Z", "limit": 3}


def test_presses_older_than_24_hours_do_not_count() -> None:
    check_retry_now_allowed([_attempt(1), _attempt(5), _attempt(24)], NOW)


@pytest.mark.parametrize("kind", [ChargeKind.RETRY, ChargeKind.SALES, ChargeKind.RENEWAL])
def test_charges_nobody_pressed_for_do_not_count(kind: ChargeKind) -> None:
    check_retry_now_allowed([_attempt(1), _attempt(2), _attempt(3, kind)], NOW)
