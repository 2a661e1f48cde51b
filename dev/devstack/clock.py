"""The local stack's clock: one instant that every part reads (handlers, dispatcher, worker,
emails, token expiry), standing still until a developer moves it, like a Stripe test clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class InvalidMove(ValueError):
    """A move the clock refuses: backwards (attempts, audit entries and retry windows already
    written at later instants would stop making sense), or past the year 9999."""


def _second(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("the clock needs an instant with a time zone (UTC: a trailing Z)")
    return instant.astimezone(UTC).replace(microsecond=0)


class StackClock:
    """Callable like ``billing.runtime.clock``; thread-safe, second precision, forward only."""

    def __init__(self, start: datetime) -> None:
        self._now = _second(start)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta` (whole seconds count); the new instant."""
        if delta < timedelta(0):
            raise InvalidMove("the clock only moves forward; give a positive duration")
        with self._lock:
            try:
                self._now = _second(self._now + delta)
            except OverflowError as error:
                raise InvalidMove("the clock cannot move past the year 9999") from error
            return self._now

    def set(self, instant: datetime) -> datetime:
        """Move to `instant`, which may not be earlier than now; the new instant."""
        target = _second(instant)
        with self._lock:
            if target < self._now:
                raise InvalidMove(
                    f"the clock only moves forward: it is already {self._now:%Y-%m-%dT%H:%M:%SZ}"
                )
            self._now = target
            return self._now
