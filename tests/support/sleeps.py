"""A stand-in for `time.sleep` in retry policies."""

from __future__ import annotations


class Sleeps(list[float]):
    """Records the waits asked for, in order, and waits for none."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
