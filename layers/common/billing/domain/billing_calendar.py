"""The billing calendar: UTC instants at second precision and month-anchored periods."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime

from billing.domain.values import frozen

_INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_INSTANT_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def instant(value: datetime) -> datetime:
    """The same moment as an aware UTC datetime truncated to the second; rejects naive values."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("billing instants must be timezone-aware")
    return value.astimezone(UTC).replace(microsecond=0)


def format_instant(value: datetime) -> str:
    """ISO 8601 with ``Z`` and second precision, e.g. ``2026-01-31T09:30:00Z``."""
    return instant(value).strftime(_INSTANT_FORMAT)


def parse_instant(text: str) -> datetime:
    """Parse the one instant format the product uses; anything else is a ValueError."""
    # strptime alone also takes unpadded fields and a lower-case "z".
    if not _INSTANT_PATTERN.fullmatch(text):
        raise ValueError(f"time data {text!r} does not match format {_INSTANT_FORMAT!r}")
    return datetime.strptime(text, _INSTANT_FORMAT).replace(tzinfo=UTC)


def add_months(anchor: datetime, months: int) -> datetime:
    """`anchor` moved by whole calendar months, clamping to the month's last day when it is shorter.

    Always computed from the anchor, never chained: Jan 31 + 1 = Feb 28/29, Jan 31 + 2 = Mar 31.
    """
    if months < 0:
        raise ValueError("periods only move forward")
    month_index = anchor.month - 1 + months
    year, month = anchor.year + month_index // 12, month_index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


@frozen
class Period:
    """A billing period, ``start`` inclusive and ``end`` exclusive."""

    start: datetime
    end: datetime


def billing_period(anchor: datetime, cycle_months: int, cycle: int) -> Period:
    """The `cycle`-th period (0 = the first) of a subscription anchored at `anchor`."""
    return Period(
        start=add_months(anchor, cycle * cycle_months),
        end=add_months(anchor, (cycle + 1) * cycle_months),
    )
