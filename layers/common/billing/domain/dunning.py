"""When failed renewals are tried again: the dunning schedule and the provider-error backoff."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from billing.domain.subscription import RENEWAL_NOTICE_MAX_LEAD, RENEWAL_NOTICE_MIN_LEAD
from billing.domain.values import frozen


@frozen
class DunningSchedule:
    """Retries `retry_days` after the first failed renewal; the last one closes the grace window.

    Scheduled `provider_error` failures use no retry while within `provider_error_grace` of the
    charge falling due: they are tried again after an exponential backoff from
    `provider_backoff` up to `provider_backoff_cap`. Past the grace, one counts as a failure.

    The schedule also says when renewals are announced: `renewal_notice` before a period ends
    (the renewal notice of plans of three months or more, docs/rules.md).
    """

    retry_days: tuple[int, ...] = (1, 3, 7, 14)
    provider_backoff: timedelta = timedelta(minutes=5)
    provider_backoff_cap: timedelta = timedelta(hours=6)
    provider_error_grace: timedelta = timedelta(hours=72)
    renewal_notice: timedelta = timedelta(days=45)

    def __post_init__(self) -> None:
        days = self.retry_days
        if not days or days[0] <= 0 or any(a >= b for a, b in pairwise(days)):
            raise ValueError(f"retry days must be positive and increasing, got {days}")
        if not timedelta(0) < self.provider_backoff <= self.provider_backoff_cap:
            raise ValueError("provider backoff must be positive and within its cap")
        if self.provider_error_grace < timedelta(0):
            raise ValueError("the provider-error grace cannot be negative")
        check_renewal_notice(self.renewal_notice)

    @property
    def retries(self) -> int:
        """How many scheduled retries follow the first failure."""
        return len(self.retry_days)

    @property
    def grace_period(self) -> timedelta:
        """How long a past-due subscription keeps access before the last retry decides."""
        return timedelta(days=self.retry_days[-1])

    def retry_at(self, first_failed_at: datetime, retries_left: int) -> datetime | None:
        """When the next scheduled retry runs, given how many are left; None when none are."""
        if not 0 <= retries_left <= self.retries:
            raise ValueError(f"{retries_left} retries left of a schedule of {self.retries}")
        if retries_left == 0:
            return None
        return first_failed_at + timedelta(days=self.retry_days[self.retries - retries_left])

    def provider_retry_at(self, failed_at: datetime, consecutive_errors: int) -> datetime:
        """When to try again after the `consecutive_errors`-th provider error in a row (1-based)."""
        delay = self.provider_backoff * (1 << min(max(consecutive_errors - 1, 0), 16))
        return failed_at + min(delay, self.provider_backoff_cap)


def check_renewal_notice(lead: timedelta) -> None:
    """ValueError unless a renewal notice sent `lead` before a period's end is sent between one
    and three months before it, whatever the lengths of the months in between."""
    if not RENEWAL_NOTICE_MIN_LEAD <= lead <= RENEWAL_NOTICE_MAX_LEAD:
        raise ValueError(
            f"the renewal notice must go out {RENEWAL_NOTICE_MIN_LEAD.days} to "
            f"{RENEWAL_NOTICE_MAX_LEAD.days} days before the period ends (between one and three "
            f"months, for months of any length), got {_days(lead)}"
        )


def _days(lead: timedelta) -> str:
    return f"{lead.days} days" if lead == timedelta(days=lead.days) else str(lead)
