"""The outbox under the faults it exists for: SES throttling for a long time, the function dying
after the commit and before the send, or after the send and before the sent mark, and stream
batches delivered again. Every owed message is delivered; none is lost; the one documented
duplicate (a sender that dies after SES accepted the message) is the only one, and is counted.

The customer operations and the sender (`OutboxDelivery`, what NotifyFunction runs per stream
record and per sweep) as the composition root wires them, on the in-memory fakes: the outbox's
stream is `OutboxStream`, read from a checkpoint as Lambda's event source mapping reads it.
The same faults against DynamoDB, SES and the function's handler are in
tests/integration/test_outbox_delivery.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pytest

from billing import composition
from billing.composition import Root
from billing.delivery import STALE, Backoff, DeliveryDeferred, OutboxDelivery, Sent
from billing.domain.accounts import Account
from billing.domain.outbox import LEASE, OutboxStatus
from billing.domain.state_machine import Actor, Effect, EmailCustomer, Requester
from billing.domain.subscription import Status
from billing.notifications.sender import Delivery, DeliveryKind
from tests.fakes import InMemoryRepository, OutboxStream, RecordingNotifier
from tests.support.api import Clock
from tests.support.subscriptions import FIRST_END, past_due, store

pytestmark = pytest.mark.unit

CANCELLED = "Your Basic subscription is cancelled"
STREAM_RETRIES = 20
"""The event source mapping's MaximumRetryAttempts (template.yaml)."""
SWEEP_EVERY = timedelta(minutes=5)
"""The sweep's schedule (template.yaml)."""


class Crash(BaseException):
    """The function's process dies here (a timeout, an out-of-memory): nothing after it runs."""


@dataclass
class FlakySES:
    """SES (the recording notifier) with its faults: it answers Throttling until
    `throttled_until`, and the next `crashes` sends die before reaching it."""

    sent: RecordingNotifier
    clock: Clock
    throttled_until: datetime | None = None
    crashes: int = 0
    throttled: int = 0

    def deliver(self, account: Account, effects: Iterable[Effect]) -> list[Delivery]:
        if self.crashes:
            self.crashes -= 1
            raise Crash
        if self.throttled_until is not None and self.clock.now < self.throttled_until:
            self.throttled += 1
            return [_throttled(account, effect) for effect in effects]
        return self.sent.deliver(account, effects)


def _throttled(account: Account, effect: Effect) -> Delivery:
    assert isinstance(effect, EmailCustomer)
    return Delivery(DeliveryKind.CUSTOMER_EMAIL, account.email, effect.template, error="Throttling")


@dataclass
class Outbox:
    """Customers who cancel, the outbox's stream and the sender, on fakes and one clock."""

    repository: InMemoryRepository
    clock: Clock
    ses: FlakySES
    root: Root
    stream: OutboxStream
    waits: list[float] = field(default_factory=list)

    @property
    def delivery(self) -> OutboxDelivery:
        return self.root.outbox_delivery

    def cancelled(self, customers: int) -> list[str]:
        """`customers` past-due customers who each cancel (each is owed one email): their
        addresses."""
        addresses = []
        for n in range(customers):
            account = Account(id=f"acct_{n}", email=f"customer{n}@example.com")
            self.repository.save_account(account)
            sub = store(self.repository, replace(past_due(), id=f"sub_{n}", account_id=account.id))
            done = self.root.subscription_actions.cancel(
                account.id, sub.id, Requester(Actor.CUSTOMER, f"user_{n}")
            )
            assert done.subscription.status is Status.CANCELLED
            addresses.append(account.email)
        return addresses

    def run_stream(self) -> int:
        """Lambda's event source mapping over the stream: a batch deferred by the function is
        retried from its failed record (a minute apart here) until it goes through, or its
        retries run out and the rest is given up (sent to the on-failure destination).
        Returns the failed batches."""
        failures = 0
        while True:
            try:
                self.stream.deliver(self.delivery.send)
            except DeliveryDeferred:
                failures += 1
                if failures > STREAM_RETRIES:
                    self.stream.skip()
                    return failures
                self.clock.advance(minutes=1)
                continue
            return failures

    def sweep_until(self, end: datetime) -> None:
        """The scheduled sweep, every five minutes until `end`."""
        while self.clock.now < end:
            self.clock.advance(seconds=SWEEP_EVERY.total_seconds())
            self.delivery.sweep()

    def received(self) -> Counter[str]:
        """How many cancellation emails each address received."""
        return Counter(
            address
            for email in self.ses.sent.emails
            if email.subject == CANCELLED
            for address in email.recipients
        )

    def statuses(self) -> Counter[OutboxStatus]:
        return Counter(
            self.repository.outbox_entry(message_id).status for message_id in self.repository.posted
        )


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    clock = Clock(FIRST_END + timedelta(hours=1))
    monkeypatch.setattr(composition, "clock", clock)
    repository = InMemoryRepository(shards=4)
    ses = FlakySES(RecordingNotifier(), clock)
    root = Root(repository=repository, outbox=repository, notifier=ses)
    waits: list[float] = []
    root.__dict__["outbox_delivery"] = OutboxDelivery(
        repository, repository, ses, clock=clock, backoff=Backoff(tries=3), sleep=waits.append
    )
    return Outbox(repository, clock, ses, root, OutboxStream(repository), waits)


def test_the_answer_comes_before_the_email(outbox: Outbox) -> None:
    outbox.cancelled(1)

    assert outbox.ses.sent.emails == [], "nothing is sent on the request's path"
    assert outbox.statuses() == {OutboxStatus.PENDING: 1}

    outbox.run_stream()

    assert outbox.received() == {"customer0@example.com": 1}
    assert outbox.statuses() == {OutboxStatus.SENT: 1}


def test_a_short_throttling_is_waited_out_within_the_send(outbox: Outbox) -> None:
    outbox.cancelled(1)

    def throttled_twice(seconds: float) -> None:
        outbox.waits.append(seconds)
        if len(outbox.waits) == 2:
            outbox.ses.throttled_until = None

    outbox.ses.throttled_until = outbox.clock.now + timedelta(hours=1)
    outbox.root.__dict__["outbox_delivery"] = OutboxDelivery(
        outbox.repository,
        outbox.repository,
        outbox.ses,
        clock=outbox.clock,
        backoff=Backoff(tries=3, base=0.2, cap=2.0),
        sleep=throttled_twice,
    )

    assert outbox.run_stream() == 0, "no batch failed"
    assert outbox.received() == {"customer0@example.com": 1}
    assert len(outbox.waits) == 2
    assert all(0 <= wait <= 0.4 for wait in outbox.waits), "exponential, jittered, capped"


def test_sustained_throttling_loses_nothing_and_sends_nothing_twice(outbox: Outbox) -> None:
    addresses = outbox.cancelled(12)
    throttling_ends = outbox.clock.now + timedelta(hours=2)
    outbox.ses.throttled_until = throttling_ends

    failed_batches = outbox.run_stream()

    assert failed_batches == STREAM_RETRIES + 1, "the stream gave up: retries exhausted"
    assert outbox.ses.sent.emails == []
    assert outbox.statuses() == {OutboxStatus.PENDING: 12}, "given up by the stream, not lost"

    outbox.sweep_until(throttling_ends + SWEEP_EVERY * 3)

    assert outbox.received() == dict.fromkeys(addresses, 1)
    assert outbox.statuses() == {OutboxStatus.SENT: 12}
    assert outbox.ses.throttled >= (STREAM_RETRIES + 1) * 3, "each failed batch backed off"


def test_a_crash_after_the_commit_and_before_any_send_loses_nothing(outbox: Outbox) -> None:
    addresses = outbox.cancelled(3)
    outbox.stream.skip()  # the function died on every try; the mapping gave the batch up

    outbox.delivery.sweep()
    assert outbox.ses.sent.emails == [], "not stale yet: its stream record may still come"

    outbox.clock.advance(seconds=(STALE + timedelta(seconds=1)).total_seconds())
    report = outbox.delivery.sweep()

    assert report.sent == {Sent.SENT: 3}
    assert outbox.received() == dict.fromkeys(addresses, 1)


def test_a_crash_between_taking_and_sending_waits_for_the_lease_and_sends_once(
    outbox: Outbox,
) -> None:
    [address] = outbox.cancelled(1)
    outbox.ses.crashes = 1

    with pytest.raises(Crash):
        outbox.run_stream()
    outbox.stream.replay(1)  # the mapping retries the batch the function died in
    assert outbox.run_stream() == 0
    assert outbox.ses.sent.emails == [], "held by the dead sender until its lease runs out"

    outbox.sweep_until(outbox.clock.now + LEASE + STALE)

    assert outbox.received() == {address: 1}


def test_a_crash_after_sending_and_before_the_mark_is_the_one_duplicate(outbox: Outbox) -> None:
    addresses = outbox.cancelled(3)
    dying = outbox.repository.posted[1]

    def crash_once(message_id: str, *_: object) -> None:
        if message_id == dying:
            del outbox.repository.before["finish_message"]
            raise Crash

    outbox.repository.before["finish_message"] = crash_once
    with pytest.raises(Crash):
        outbox.run_stream()
    outbox.stream.replay(1)
    outbox.run_stream()
    outbox.sweep_until(outbox.clock.now + LEASE + STALE)

    assert outbox.received() == {addresses[0]: 1, addresses[1]: 2, addresses[2]: 1}
    assert outbox.repository.outbox_entry(dying).attempts == 2, "the duplicate is counted"
    assert outbox.statuses() == {OutboxStatus.SENT: 3}


def test_redelivered_batches_send_nothing_twice(outbox: Outbox) -> None:
    addresses = outbox.cancelled(5)
    outbox.run_stream()

    outbox.stream.replay(5)
    again = outbox.stream.deliver(outbox.delivery.send)
    outbox.sweep_until(outbox.clock.now + LEASE + STALE)

    assert again == [Sent.LEFT] * 5
    assert outbox.received() == dict.fromkeys(addresses, 1)
