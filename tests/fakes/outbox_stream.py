"""The outbox table's stream in memory: every message the fake repository wrote, in order,
handed to the sender (`OutboxDelivery.send`, what NotifyFunction runs per record) from a
checkpoint that moves only past what was handled, as Lambda's event source mapping does."""

from __future__ import annotations

from collections.abc import Callable

from billing.delivery import Sent
from tests.fakes.repository import InMemoryRepository


class OutboxStream:
    def __init__(self, repository: InMemoryRepository) -> None:
        self._repository = repository
        self.checkpoint = 0
        """How many records were handled: the next batch starts there."""

    def deliver(self, send: Callable[[str], Sent]) -> list[Sent]:
        """Hand every record after the checkpoint to `send`, in order, moving the checkpoint
        past each; a record whose send is deferred stops the batch there (raised), as the
        function reports it and Lambda retries from it."""
        outcomes = []
        for message_id in self._repository.posted[self.checkpoint :]:
            outcomes.append(send(message_id))
            self.checkpoint += 1
        return outcomes

    def replay(self, records: int) -> None:
        """Move the checkpoint back `records` records: the mapping delivers them again (a
        batch retried after the function failed past them, a shard read again)."""
        self.checkpoint = max(self.checkpoint - records, 0)

    def skip(self) -> None:
        """Give up on the records after the checkpoint (retries exhausted: sent to the
        on-failure destination); their messages stay pending for the sweep."""
        self.checkpoint = len(self._repository.posted)
