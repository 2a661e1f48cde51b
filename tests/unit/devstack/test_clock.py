"""The local stack's clock: it stands still, moves forward only, whole seconds, in UTC, and
other processes read the same instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from devstack.clock import InvalidMove, StackClock, shared_clock

START = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)


def test_it_stands_still_until_moved() -> None:
    clock = StackClock(START)

    assert clock() == clock() == START


def test_it_advances_by_a_duration_in_whole_seconds() -> None:
    clock = StackClock(START)

    assert clock.advance(timedelta(days=28, seconds=1.75)) == datetime(
        2026, 2, 28, 9, 30, 1, tzinfo=UTC
    )
    assert clock() == datetime(2026, 2, 28, 9, 30, 1, tzinfo=UTC)


def test_it_is_set_to_a_later_instant_given_in_any_zone_and_kept_in_utc() -> None:
    clock = StackClock(START)

    moved = clock.set(datetime(2026, 2, 28, 10, 30, tzinfo=timezone(timedelta(hours=1))))

    assert moved == datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
    assert moved.tzinfo == UTC


def test_it_never_moves_back() -> None:
    clock = StackClock(START)

    with pytest.raises(InvalidMove, match="only moves forward: it is already 2026-01-31T09:30:00Z"):
        clock.set(START - timedelta(seconds=1))
    with pytest.raises(InvalidMove, match="only moves forward"):
        clock.advance(timedelta(seconds=-1))
    assert clock() == START
    assert clock.set(START) == START, "staying put is allowed"


def test_it_refuses_to_run_off_the_calendar() -> None:
    clock = StackClock(datetime(9999, 12, 1, tzinfo=UTC))

    with pytest.raises(InvalidMove, match="year 9999"):
        clock.advance(timedelta(days=31))
    assert clock() == datetime(9999, 12, 1, tzinfo=UTC)


def test_an_instant_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        StackClock(datetime(2026, 1, 31, 9, 30))


def test_other_processes_read_every_move_through_its_file(tmp_path: Path) -> None:
    clock = StackClock(START, file=tmp_path / "clock")
    elsewhere = shared_clock(tmp_path / "clock")

    assert elsewhere() == START
    clock.advance(timedelta(days=40))
    assert elsewhere() == clock() == datetime(2026, 3, 12, 9, 30, tzinfo=UTC)
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    assert elsewhere() == datetime(2026, 4, 1, tzinfo=UTC)
    assert [path.name for path in tmp_path.iterdir()] == ["clock"], "nothing half-written left"


def test_without_a_file_a_process_keeps_the_wall_clock() -> None:
    before = datetime.now(UTC)

    now = shared_clock(None)()

    assert before <= now <= datetime.now(UTC)
