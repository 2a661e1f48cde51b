"""The local stack's clock: one instant that every part reads (handlers, dispatcher, worker,
emails, token expiry, and the provider stand-ins' timestamps), standing still until a developer
moves it, like a Stripe test clock.

The parts run in several processes, so the instant lives in a small file too: the stack's
`StackClock` rewrites it on every move (a new file renamed over the old one, so a reader never
sees half an instant), and the other processes read it with `shared_clock`. Nothing else moves
it, so every process reads the same instant."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from billing.domain.billing_calendar import format_instant, parse_instant
from billing.domain.billing_calendar import instant as utc_second

Clock = Callable[[], datetime]


class InvalidMove(ValueError):
    """A move the clock refuses: backwards (attempts, audit entries and retry windows already
    written at later instants would stop making sense), or past the year 9999."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


def shared_clock(path: Path | None) -> Clock:
    """The stack's clock as a process other than the stack reads it: the instant in `path`,
    read on every call (it is a few bytes; a move must be seen by the very next request).
    Without a file (a stand-in started on its own), the wall clock."""
    if path is None:
        return wall_clock

    def now() -> datetime:
        return parse_instant(path.read_text(encoding="ascii").strip())

    return now


class StackClock:
    """Callable like ``billing.composition.clock``; thread-safe, second precision, forward only.
    With a `file`, every instant it takes is written there for `shared_clock` readers."""

    def __init__(self, start: datetime, file: Path | None = None) -> None:
        self._now = utc_second(start)
        self._file = file
        self._lock = threading.Lock()
        self._publish()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta` (whole seconds count); the new instant."""
        if delta < timedelta(0):
            raise InvalidMove("the clock only moves forward; give a positive duration")
        with self._lock:
            try:
                self._now = utc_second(self._now + delta)
            except OverflowError as error:
                raise InvalidMove("the clock cannot move past the year 9999") from error
            self._publish()
            return self._now

    def set(self, instant: datetime) -> datetime:
        """Move to `instant`, which may not be earlier than now; the new instant."""
        target = utc_second(instant)
        with self._lock:
            if target < self._now:
                raise InvalidMove(
                    f"the clock only moves forward: it is already {format_instant(self._now)}"
                )
            self._now = target
            self._publish()
            return self._now

    def _publish(self) -> None:
        if self._file is None:
            return
        written = self._file.with_name(f".{self._file.name}.{os.getpid()}.new")
        written.write_text(format_instant(self._now) + "\n", encoding="ascii")
        os.replace(written, self._file)
