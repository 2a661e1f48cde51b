"""The renewal queue in memory: what the dispatcher queued waits here until a test takes it."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from billing.renewals import BATCH


class InMemoryRenewalQueue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waiting: list[str] = []
        """The message bodies waiting to be received, oldest first."""

    def backlog(self) -> int:
        with self._lock:
            return len(self.waiting)

    def send(self, bodies: Sequence[str]) -> None:
        if len(bodies) > BATCH:
            raise ValueError(f"at most {BATCH} messages a batch, not {len(bodies)}")
        with self._lock:
            self.waiting.extend(bodies)

    def receive_all(self) -> list[str]:
        """Every waiting body, taken out of the queue."""
        with self._lock:
            taken, self.waiting = self.waiting, []
            return taken
