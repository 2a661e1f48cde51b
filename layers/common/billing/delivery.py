"""Sending what the outbox holds: the `notify` function's operation.

Each message is sent at most once at a time and marked when it is done:

1. Take it: a conditional write that holds it for `LEASE` (pending, and no other sender's lease
   running) and counts the attempt. A message already sent, or held by another sender, is left.
2. Read its account (recipients, locale, partner, addresses that bounced) and send it through
   SES or SNS; SES throttling is retried here with backoff, then handed back to the stream.
3. Mark it sent (with SES's or SNS's message id), skipped or failed.

A message cannot be lost: it stays pending until step 3, and the sweep (`sweep`) sends every
message still pending after `STALE`, whatever became of its stream record. A message can be
sent twice in one case only: the sender dies (or times out) after SES or SNS accepted it and
before step 3; the next sender takes it once the lease has run out and sends it again. The
`attempts` count of a sent message says when that may have happened.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from billing.domain.accounts import Account
from billing.domain.billing_calendar import instant
from billing.domain.outbox import LEASE, OutboxEntry, OutboxStatus
from billing.domain.state_machine import Effect
from billing.domain.values import frozen
from billing.notifications.sender import Delivery
from billing.observability import logger, publish
from billing.persistence.repository import BillingRepository, NotFound, OutboxStore

STALE = timedelta(minutes=10)
"""A message still pending this long after its change was not delivered by its stream record
(retries exhausted, or the function failing): the sweep sends it."""

THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException"}
)
"""SES's and SNS's answers for a sending rate above the account's quota."""


class Sender(Protocol):
    """Sends emails and notices (`billing.notifications.sender.Notifier`)."""

    def deliver(self, account: Account, effects: Iterable[Effect]) -> list[Delivery]: ...


@frozen
class Backoff:
    """Exponential backoff with full jitter, for a throttled send within one invocation."""

    tries: int = 4
    base: float = 0.2
    """Seconds before the first retry (at most; jitter draws between 0 and the cap)."""
    cap: float = 2.0

    def delays(self) -> list[float]:
        return [random.uniform(0, min(self.cap, self.base * 2**n)) for n in range(self.tries - 1)]


class Sent(StrEnum):
    """What became of one message, as counted in the metrics."""

    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    LEFT = "left"
    """Already done, or held by another sender: nothing to do here."""


class DeliveryDeferred(Exception):
    """The message could not be sent now (SES throttling that outlasted the backoff, SES or SNS
    unavailable); it stays pending, and its stream record or the sweep sends it later."""

    def __init__(self, message_id: str, error: str) -> None:
        super().__init__(f"{message_id} not sent now: {error}")
        self.message_id = message_id
        self.error = error


@dataclass
class SweepReport:
    sent: Counter[Sent] = field(default_factory=Counter)
    deferred: int = 0


class OutboxDelivery:
    def __init__(
        self,
        store: OutboxStore,
        repository: BillingRepository,
        sender: Sender,
        *,
        clock: Callable[[], datetime],
        backoff: Backoff = Backoff(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._repository = repository
        self._sender = sender
        self._clock = clock
        self._backoff = backoff
        self._sleep = sleep

    def send(self, message_id: str) -> Sent:
        """Send one message if it is still owed. Raises DeliveryDeferred when it must be tried
        again later, StorageUnavailable when storage failed."""
        entry = self._store.take_message(message_id, self._now(), LEASE)
        if entry is None:
            return Sent.LEFT
        try:
            account = self._repository.get_account(entry.account_id)
        except NotFound:
            return self._finish(entry, OutboxStatus.FAILED, error="account_not_found")
        delivery = self._deliver(entry, account)
        if delivery is None:
            # Every address bounced or complained (and the law does not require the email), or
            # a partner notice for an account that has no partner any more.
            return self._finish(entry, OutboxStatus.SKIPPED, error="no_recipient")
        if delivery.sent:
            return self._finish(entry, OutboxStatus.SENT, message_id_sent=delivery.message_id)
        assert delivery.error is not None
        if delivery.error.startswith("unwritable"):
            return self._finish(entry, OutboxStatus.FAILED, error=delivery.error)
        self._store.release_message(entry.id, delivery.error)
        raise DeliveryDeferred(entry.id, delivery.error)

    def sweep(self) -> SweepReport:
        """Send every message pending for longer than `STALE` (its stream record gave up, or
        never reached the function)."""
        report = SweepReport()
        before = self._now() - STALE
        for shard in self._repository.shards():
            for message_id in self._store.unsent_in_shard(shard, before):
                try:
                    report.sent[self.send(message_id)] += 1
                except DeliveryDeferred:
                    report.deferred += 1
        return report

    def _deliver(self, entry: OutboxEntry, account: Account) -> Delivery | None:
        """Send, retrying SES's or SNS's throttling with backoff; None when the message has no
        recipient left to send to."""
        delays = self._backoff.delays()
        while True:
            deliveries = self._sender.deliver(account, [entry.message])
            if not deliveries:
                return None
            [delivery] = deliveries
            if delivery.error not in THROTTLED or not delays:
                return delivery
            logger.warning(
                "send throttled; backing off",
                extra={"outbox_id": entry.id, "error": delivery.error},
            )
            self._sleep(delays.pop(0))

    def _finish(
        self,
        entry: OutboxEntry,
        status: OutboxStatus,
        *,
        message_id_sent: str | None = None,
        error: str | None = None,
    ) -> Sent:
        self._store.finish_message(
            entry.id, status, self._now(), message_id_sent=message_id_sent, error=error
        )
        if entry.attempts > 1 and status is OutboxStatus.SENT:
            # An earlier sender may have sent it and died before marking it: a possible duplicate.
            logger.warning("sent after an earlier attempt", extra={"outbox_id": entry.id})
            publish("OutboxSentAfterRetry", 1)
        return Sent(status.value)

    def _now(self) -> datetime:
        return instant(self._clock())
