"""The renewal run: the dispatcher queues what every shard of the due and pending indexes has
due, in messages the worker (`billing.renewal_worker`) carries out through the charge operation.

Messages are hints, not orders: the worker re-reads the subscription and the state machine
decides. A duplicate (overlapping runs, a redelivery) or a stale message (cancelled, renewed or
retried since) finds nothing due, or the attempt already claimed, and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from itertools import islice
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from billing.domain.billing_calendar import format_instant, instant
from billing.domain.charges import IN_FLIGHT
from billing.domain.values import frozen
from billing.persistence.repository import RenewalIndexes

logger = logging.getLogger(__name__)

BATCH = 10
"""SQS's most messages per SendMessageBatch, and the worker's batch size."""

SHARD_READERS = 16
"""Shards read (and queued) in parallel by one run."""


# --- Messages ---------------------------------------------------------------------------------


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subscription_id: str = Field(min_length=1, max_length=128)
    account_id: str = Field(min_length=1, max_length=128)
    run: str = Field(default="", max_length=128)
    """The dispatcher run that queued it: the worker logs it as the correlation id."""


class DueMessage(_Message):
    """Something is due for this subscription (a renewal, a retry, a reminder, an end)."""

    kind: Literal["due"] = "due"
    due_at: str


class PendingMessage(_Message):
    """This attempt was left pending past the in-flight window: look it up and settle it."""

    kind: Literal["pending"] = "pending"
    cycle: int = Field(ge=0)
    attempt: int = Field(ge=1)


RenewalMessage = Annotated[DueMessage | PendingMessage, Field(discriminator="kind")]
_MESSAGE: TypeAdapter[DueMessage | PendingMessage] = TypeAdapter(RenewalMessage)


def parse_message(body: str) -> DueMessage | PendingMessage:
    """A queued message; pydantic's ValidationError for a body this code never wrote."""
    return _MESSAGE.validate_json(body)


class RenewalQueue(Protocol):
    def backlog(self) -> int:
        """About how many messages wait to be received (not counting those being worked on)."""
        ...

    def send(self, bodies: Sequence[str]) -> None:
        """Queue up to `BATCH` messages; raises if any of them could not be queued."""
        ...


# --- The dispatcher ---------------------------------------------------------------------------


@frozen
class DispatchReport:
    due: int = 0
    """Due subscriptions queued."""
    pending: int = 0
    """Abandoned attempts queued for reconciliation."""
    old_pending: int = 0
    """Attempts pending past the in-flight window (alarmed on when it lasts)."""
    backlog: int = 0
    """Messages still waiting from earlier runs; due subscriptions are not queued again then."""

    def __add__(self, other: DispatchReport) -> DispatchReport:
        return DispatchReport(
            self.due + other.due,
            self.pending + other.pending,
            self.old_pending + other.old_pending,
            max(self.backlog, other.backlog),
        )


class RenewalDispatcher:
    """One renewal run: every shard of the due index (and of the pending-attempt index) is read
    in parallel and its entries queued in batches as they are read, never all held at once.

    While earlier messages still wait in the queue, due subscriptions are not queued again: they
    are still due, so the first run after the backlog drains queues them. Without that, every run
    during a long backlog would add another copy of what is already waiting.
    """

    def __init__(
        self,
        repository: RenewalIndexes,
        queue: RenewalQueue,
        *,
        clock: Callable[[], datetime],
        reconcile_after: timedelta = IN_FLIGHT,
    ) -> None:
        self._repository = repository
        self._queue = queue
        self._clock = clock
        self._reconcile_after = reconcile_after

    def run(self, run_id: str = "") -> DispatchReport:
        now = instant(self._clock())
        backlog = self._queue.backlog()
        shards = self._repository.shards()
        with ThreadPoolExecutor(max_workers=min(len(shards), SHARD_READERS)) as pool:
            reports = pool.map(lambda shard: self._shard(shard, now, run_id, backlog), shards)
            return sum(reports, DispatchReport(backlog=backlog))

    def _shard(self, shard: str, now: datetime, run_id: str, backlog: int) -> DispatchReport:
        due = 0
        if not backlog:
            due = self._send(
                DueMessage(
                    subscription_id=entry.subscription_id,
                    account_id=entry.account_id,
                    due_at=format_instant(entry.due_at),
                    run=run_id,
                )
                for entry in self._repository.due_in_shard(shard, now)
            )
        old = list(self._repository.pending_in_shard(shard, self._claimed_before(now)))
        pending = self._send(
            PendingMessage(
                subscription_id=entry.subscription_id,
                account_id=entry.account_id,
                cycle=entry.cycle,
                attempt=entry.attempt,
                run=run_id,
            )
            for entry in old
        )
        return DispatchReport(due=due, pending=pending, old_pending=len(old))

    def _claimed_before(self, now: datetime) -> datetime:
        return now - self._reconcile_after

    def _send(self, messages: Iterable[DueMessage | PendingMessage]) -> int:
        sent = 0
        for batch in _chunks((message.model_dump_json() for message in messages), BATCH):
            self._queue.send(batch)
            sent += len(batch)
        return sent


def _chunks[T](items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
