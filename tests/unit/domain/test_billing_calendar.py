"""The billing calendar: UTC second-precision instants and month-anchored periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from itertools import pairwise

import pytest

from billing.domain.billing_calendar import (
    Period,
    add_months,
    billing_period,
    format_instant,
    instant,
    parse_instant,
)

# --- instants ------------------------------------------------------------------------------------


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: such a datetime is naive in all but name."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_instant_keeps_an_utc_value() -> None:
    value = datetime(2026, 1, 31, 9, 30, 15, tzinfo=UTC)

    result = instant(value)

    assert result == value
    assert result.tzinfo is UTC


def test_instant_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        instant(datetime(2026, 1, 31, 9, 30))


def test_instant_rejects_a_tzinfo_without_offset() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        instant(datetime(2026, 1, 31, 9, 30, tzinfo=_NoOffset()))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            datetime(2026, 1, 31, 10, 30, tzinfo=timezone(timedelta(hours=1))),
            datetime(2026, 1, 31, 9, 30, tzinfo=UTC),
        ),
        (
            datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))),
            datetime(2025, 12, 31, 23, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2027, 1, 1, 1, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            datetime(2026, 6, 1, 6, 30, tzinfo=UTC),
        ),
    ],
)
def test_instant_converts_other_offsets_to_utc(value: datetime, expected: datetime) -> None:
    result = instant(value)

    assert result == expected
    assert result.tzinfo is UTC
    assert result.utcoffset() == timedelta(0)


@pytest.mark.parametrize("microsecond", [1, 500_000, 999_999])
def test_instant_truncates_microseconds(microsecond: int) -> None:
    value = datetime(2026, 1, 31, 9, 30, 15, microsecond, tzinfo=UTC)

    assert instant(value) == datetime(2026, 1, 31, 9, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 1, 31, 9, 30, tzinfo=UTC), "2026-01-31T09:30:00Z"),
        (datetime(2026, 1, 31, 9, 30, 15, 999_999, tzinfo=UTC), "2026-01-31T09:30:15Z"),
        (
            datetime(2026, 1, 31, 10, 30, tzinfo=timezone(timedelta(hours=1))),
            "2026-01-31T09:30:00Z",
        ),
        (
            datetime(2026, 12, 31, 20, 0, 5, tzinfo=timezone(timedelta(hours=-5))),
            "2027-01-01T01:00:05Z",
        ),
        (datetime(2028, 2, 29, 0, 0, tzinfo=UTC), "2028-02-29T00:00:00Z"),
    ],
)
def test_format_instant_is_iso_with_z_and_seconds(value: datetime, text: str) -> None:
    assert format_instant(value) == text


def test_format_instant_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_instant(datetime(2026, 1, 31, 9, 30))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31T09:30:00Z", datetime(2026, 1, 31, 9, 30, tzinfo=UTC)),
        ("2028-02-29T23:59:59Z", datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)),
        ("2025-12-31T23:59:59Z", datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_parse_instant_reads_the_product_format(text: str, expected: datetime) -> None:
    result = parse_instant(text)

    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 31, 9, 30, tzinfo=UTC),
        datetime(2026, 1, 31, 9, 30, 15, 123_456, tzinfo=UTC),
        datetime(2026, 1, 31, 10, 30, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(2028, 2, 29, 0, 0, tzinfo=UTC),
    ],
)
def test_format_then_parse_is_the_instant(value: datetime) -> None:
    assert parse_instant(format_instant(value)) == instant(value)


@pytest.mark.parametrize(
    "text",
    ["2026-01-31T09:30:00Z", "2000-02-29T00:00:00Z", "2031-12-31T23:59:59Z"],
)
def test_parse_then_format_is_the_text(text: str) -> None:
    assert format_instant(parse_instant(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-31T09:30:00+00:00",
        "2026-01-31T09:30:00+01:00",
        "2026-01-31T09:30:00.5Z",
        "2026-01-31T09:30:00.000000Z",
        "2026-01-31T09:30:00",
        "2026-01-31 09:30:00Z",
        "2026-01-31T09:30Z",
        "2026-01-31",
        "2026-02-30T09:30:00Z",
        "2026-01-31T24:00:00Z",
        "31/01/2026 09:30:00",
        "",
    ],
)
def test_parse_instant_rejects_other_formats(text: str) -> None:
    with pytest.raises(ValueError, match=r"does not match format|out of range|unconverted"):
        parse_instant(text)


@pytest.mark.parametrize("text", ["2026-1-31T9:30:00Z", "2026-01-31T09:30:00z"])
def test_parse_instant_rejects_unpadded_or_lowercase_variants(text: str) -> None:
    with pytest.raises(ValueError, match="does not match format"):
        parse_instant(text)


# --- add_months ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "months", "expected"),
    [
        # Jan 31: clamped in short months, back to the 31st whenever the month has one.
        (datetime(2025, 1, 31, tzinfo=UTC), 0, datetime(2025, 1, 31, tzinfo=UTC)),
        (datetime(2025, 1, 31, tzinfo=UTC), 1, datetime(2025, 2, 28, tzinfo=UTC)),
        (datetime(2025, 1, 31, tzinfo=UTC), 2, datetime(2025, 3, 31, tzinfo=UTC)),
        (datetime(2025, 1, 31, tzinfo=UTC), 3, datetime(2025, 4, 30, tzinfo=UTC)),
        (datetime(2025, 1, 31, tzinfo=UTC), 4, datetime(2025, 5, 31, tzinfo=UTC)),
        (datetime(2025, 1, 31, tzinfo=UTC), 5, datetime(2025, 6, 30, tzinfo=UTC)),
        (datetime(2025, 1, 31, tzinfo=UTC), 12, datetime(2026, 1, 31, tzinfo=UTC)),
        (datetime(2025, 1, 31, tzinfo=UTC), 13, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), 2, datetime(2028, 3, 31, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), 3, datetime(2028, 4, 30, tzinfo=UTC)),
        (datetime(2027, 1, 31, tzinfo=UTC), 13, datetime(2028, 2, 29, tzinfo=UTC)),
        # Feb 29 with yearly cycles: Feb 28 in common years, Feb 29 again in the next leap year.
        (datetime(2028, 2, 29, tzinfo=UTC), 12, datetime(2029, 2, 28, tzinfo=UTC)),
        (datetime(2028, 2, 29, tzinfo=UTC), 24, datetime(2030, 2, 28, tzinfo=UTC)),
        (datetime(2028, 2, 29, tzinfo=UTC), 36, datetime(2031, 2, 28, tzinfo=UTC)),
        (datetime(2028, 2, 29, tzinfo=UTC), 48, datetime(2032, 2, 29, tzinfo=UTC)),
        (datetime(2028, 2, 29, tzinfo=UTC), 1, datetime(2028, 3, 29, tzinfo=UTC)),
        # Quarterly cycles across year ends.
        (datetime(2026, 11, 30, tzinfo=UTC), 3, datetime(2027, 2, 28, tzinfo=UTC)),
        (datetime(2026, 11, 30, tzinfo=UTC), 6, datetime(2027, 5, 30, tzinfo=UTC)),
        (datetime(2026, 11, 30, tzinfo=UTC), 9, datetime(2027, 8, 30, tzinfo=UTC)),
        (datetime(2026, 11, 30, tzinfo=UTC), 12, datetime(2027, 11, 30, tzinfo=UTC)),
        (datetime(2027, 11, 30, tzinfo=UTC), 3, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 10, 31, tzinfo=UTC), 3, datetime(2027, 1, 31, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), 3, datetime(2027, 3, 15, tzinfo=UTC)),
        # Monthly cycle over the year end, and long jumps.
        (datetime(2026, 12, 31, tzinfo=UTC), 1, datetime(2027, 1, 31, tzinfo=UTC)),
        (datetime(2026, 12, 31, tzinfo=UTC), 2, datetime(2027, 2, 28, tzinfo=UTC)),
        (datetime(2026, 12, 1, tzinfo=UTC), 1, datetime(2027, 1, 1, tzinfo=UTC)),
        (datetime(2026, 11, 15, tzinfo=UTC), 1, datetime(2026, 12, 15, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), 25, datetime(2028, 2, 15, tzinfo=UTC)),
        (datetime(2026, 1, 31, tzinfo=UTC), 120, datetime(2036, 1, 31, tzinfo=UTC)),
    ],
)
def test_add_months_clamps_to_month_end_from_the_anchor(
    anchor: datetime, months: int, expected: datetime
) -> None:
    assert add_months(anchor, months) == expected


def test_add_months_is_recomputed_from_the_anchor_not_chained() -> None:
    anchor = datetime(2025, 1, 31, tzinfo=UTC)
    chained = add_months(add_months(anchor, 1), 1)

    assert chained == datetime(2025, 3, 28, tzinfo=UTC)
    assert add_months(anchor, 2) == datetime(2025, 3, 31, tzinfo=UTC)


@pytest.mark.parametrize("months", [0, 1, 3, 12, 13])
def test_add_months_keeps_time_of_day_and_timezone(months: int) -> None:
    anchor = datetime(2026, 1, 31, 9, 30, 15, tzinfo=UTC)

    moved = add_months(anchor, months)

    assert (moved.hour, moved.minute, moved.second) == (9, 30, 15)
    assert moved.tzinfo is UTC


@pytest.mark.parametrize("months", [-1, -12])
def test_add_months_rejects_negative_months(months: int) -> None:
    with pytest.raises(ValueError, match="only move forward"):
        add_months(datetime(2026, 1, 31, tzinfo=UTC), months)


# --- billing periods -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "cycle_months", "cycle", "start", "end"),
    [
        (
            datetime(2025, 1, 31, 9, 30, tzinfo=UTC),
            1,
            0,
            datetime(2025, 1, 31, 9, 30, tzinfo=UTC),
            datetime(2025, 2, 28, 9, 30, tzinfo=UTC),
        ),
        (
            datetime(2025, 1, 31, 9, 30, tzinfo=UTC),
            1,
            1,
            datetime(2025, 2, 28, 9, 30, tzinfo=UTC),
            datetime(2025, 3, 31, 9, 30, tzinfo=UTC),
        ),
        (
            datetime(2025, 1, 31, 9, 30, tzinfo=UTC),
            1,
            2,
            datetime(2025, 3, 31, 9, 30, tzinfo=UTC),
            datetime(2025, 4, 30, 9, 30, tzinfo=UTC),
        ),
        (
            datetime(2025, 1, 31, 9, 30, tzinfo=UTC),
            1,
            11,
            datetime(2025, 12, 31, 9, 30, tzinfo=UTC),
            datetime(2026, 1, 31, 9, 30, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 30, tzinfo=UTC),
            3,
            0,
            datetime(2026, 11, 30, tzinfo=UTC),
            datetime(2027, 2, 28, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 30, tzinfo=UTC),
            3,
            1,
            datetime(2027, 2, 28, tzinfo=UTC),
            datetime(2027, 5, 30, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 30, tzinfo=UTC),
            3,
            4,
            datetime(2027, 11, 30, tzinfo=UTC),
            datetime(2028, 2, 29, tzinfo=UTC),
        ),
        (
            datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
            12,
            0,
            datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
            datetime(2029, 2, 28, 12, 0, tzinfo=UTC),
        ),
        (
            datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
            12,
            3,
            datetime(2031, 2, 28, 12, 0, tzinfo=UTC),
            datetime(2032, 2, 29, 12, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 12, 31, tzinfo=UTC),
            1,
            0,
            datetime(2026, 12, 31, tzinfo=UTC),
            datetime(2027, 1, 31, tzinfo=UTC),
        ),
    ],
)
def test_billing_period_start_and_end(
    anchor: datetime, cycle_months: int, cycle: int, start: datetime, end: datetime
) -> None:
    assert billing_period(anchor, cycle_months, cycle) == Period(start=start, end=end)


@pytest.mark.parametrize("cycle_months", [1, 3, 12])
@pytest.mark.parametrize(
    "anchor",
    [
        datetime(2025, 1, 31, 9, 30, tzinfo=UTC),
        datetime(2028, 2, 29, tzinfo=UTC),
        datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_billing_periods_are_contiguous_and_non_empty(anchor: datetime, cycle_months: int) -> None:
    periods = [billing_period(anchor, cycle_months, cycle) for cycle in range(30)]

    assert periods[0].start == anchor
    for previous, following in pairwise(periods):
        assert previous.end == following.start
    for period in periods:
        assert period.start < period.end


def test_billing_period_rejects_a_negative_cycle() -> None:
    with pytest.raises(ValueError, match="only move forward"):
        billing_period(datetime(2026, 1, 31, tzinfo=UTC), 1, -1)


def test_period_is_immutable() -> None:
    period = billing_period(datetime(2026, 1, 31, tzinfo=UTC), 1, 0)

    with pytest.raises(AttributeError):
        period.start = datetime(2026, 2, 1, tzinfo=UTC)  # type: ignore[misc]
