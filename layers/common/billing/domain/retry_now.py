"""How often a customer may press Retry Now: at most 3 times per subscription in 24 hours."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from billing.domain.billing_calendar import format_instant
from billing.domain.charges import ChargeAttempt
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.subscription import ChargeKind

RETRY_NOW_LIMIT = 3
RETRY_NOW_WINDOW = timedelta(hours=24)


def check_retry_now_allowed(attempts: Iterable[ChargeAttempt], now: datetime) -> None:
    """Refuse a Retry Now when `RETRY_NOW_LIMIT` were made within the window before `now`.

    `attempts` is the subscription's attempt history, any order. The refusal says when the
    oldest counted attempt leaves the window, so the customer knows when to try again.
    """
    recent = sorted(
        attempt.created_at
        for attempt in attempts
        if attempt.kind is ChargeKind.RETRY_NOW and now - attempt.created_at < RETRY_NOW_WINDOW
    )
    if len(recent) >= RETRY_NOW_LIMIT:
        retry_after = recent[-RETRY_NOW_LIMIT] + RETRY_NOW_WINDOW
        raise DomainError(
            ErrorCode.TOO_MANY_RETRIES,
            f"Retry Now can be used {RETRY_NOW_LIMIT} times in 24 hours; "
            f"try again after {format_instant(retry_after)}.",
            {"retry_after": format_instant(retry_after), "limit": RETRY_NOW_LIMIT},
        )
