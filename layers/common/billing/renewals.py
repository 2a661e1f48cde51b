"""The renewal run: the dispatcher queues what every shard of the due and pending indexes has
due, and the worker carries out one queued message through the charge operation.

Messages are hints, not orders: the worker re-reads the subscription and the state machine
decides. A duplicate (overlapping runs, a redelivery) or a stale message (cancelled, renewed or
retried since) finds nothing due, or the attempt already claimed, and changes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import islice
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from billing.charging import IN_FLIGHT, ChargeOperation, ChargeResult, RetryInProgress
from billing.domain.billing_calendar import format_instant, instant
from billing.domain.charges import ChargeStatus
from billing.domain.state_machine import NotifyPartner, PartnerNotice
from billing.domain.subscription import Status
from billing.operations import Notifications
from billing.persistence.repository import BillingRepository, NotFound

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


@dataclass(frozen=True, slots=True)
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
        repository: BillingRepository,
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


# --- The worker -------------------------------------------------------------------------------


class Outcome(StrEnum):
    """What one message came to, as counted in the renewal metrics."""

    CHARGED = "charged"
    DECLINED = "declined"
    UNKNOWN = "unknown"
    """The provider did not say; the attempt stays pending and is reconciled later."""
    CANCELLED = "cancelled"
    REMINDED = "reminded"
    UNCHANGED = "unchanged"
    """Nothing was due any more (duplicate or stale message), or only state changed without a
    charge (a hard-declined method's retry skipped, a partner's prepaid cycle started)."""
    IN_PROGRESS = "in_progress"
    """Another caller holds the attempt; it settles it."""
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class RenewalResult:
    outcome: Outcome
    detail: str | None = None
    """The failure reason (declined), the cancel reason (cancelled) or the currency (charged)."""
    amount: int = 0
    """Minor units taken (charged)."""


class RenewalWorker:
    def __init__(self, charging: ChargeOperation, notifications: Notifications) -> None:
        self._charging = charging
        self._notifications = notifications

    def handle(self, message: DueMessage | PendingMessage) -> RenewalResult:
        """Carry out one message. Raises (so that it is delivered again) only when storage or
        a concurrent writer kept it from finishing."""
        try:
            if isinstance(message, PendingMessage):
                result = self._charging.reconcile(
                    message.subscription_id, message.account_id, message.cycle, message.attempt
                )
            else:
                result = self._charging.renew(message.subscription_id, message.account_id)
        except RetryInProgress:
            return RenewalResult(Outcome.IN_PROGRESS)
        except NotFound:
            logger.warning("queued subscription not found", extra=message.model_dump())
            return RenewalResult(Outcome.GONE)
        self._notifications.deliver(result.account, result.effects)
        return _result(result)


def _result(result: ChargeResult) -> RenewalResult:
    attempt, sub = result.attempt, result.subscription
    if attempt is not None and attempt.status is ChargeStatus.SUCCEEDED:
        return RenewalResult(Outcome.CHARGED, attempt.amount.currency.value, attempt.amount.amount)
    if attempt is not None and attempt.status is ChargeStatus.FAILED:
        reason = attempt.failure_reason
        return RenewalResult(Outcome.DECLINED, None if reason is None else reason.value)
    if attempt is not None:
        return RenewalResult(Outcome.UNKNOWN)
    if sub.status is Status.CANCELLED and sub.cancel_reason is not None:
        return RenewalResult(Outcome.CANCELLED, sub.cancel_reason.value)
    if any(
        isinstance(effect, NotifyPartner) and effect.notice is PartnerNotice.RENEWAL_REMINDER
        for effect in result.effects
    ):
        return RenewalResult(Outcome.REMINDED)
    return RenewalResult(Outcome.UNCHANGED)


@dataclass
class RenewalTally:
    """Counts of a batch's results, for its metrics: outcomes, declines by reason, cancellations
    by reason, and revenue by currency (minor units)."""

    outcomes: Counter[Outcome] = field(default_factory=Counter)
    declined: Counter[str] = field(default_factory=Counter)
    cancelled: Counter[str] = field(default_factory=Counter)
    revenue: Counter[str] = field(default_factory=Counter)

    def add(self, result: RenewalResult) -> None:
        self.outcomes[result.outcome] += 1
        detail = result.detail or "unknown"
        if result.outcome is Outcome.DECLINED:
            self.declined[detail] += 1
        elif result.outcome is Outcome.CANCELLED:
            self.cancelled[detail] += 1
        elif result.outcome is Outcome.CHARGED:
            self.revenue[detail] += result.amount


def _chunks[T](items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
