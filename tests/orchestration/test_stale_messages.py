"""Renewal messages are hints, not orders: a message queued by the dispatcher and carried out
after the subscription changed (cancelled, renewed, its card replaced) or delivered twice takes
no money it should not and is carried out without an error, so the queue deletes it.

The renewal run (dispatcher and worker) and the operations customers use (buy, save a card,
cancel) as the composition root wires them, on the in-memory fakes of every port: the messages
go through an in-memory queue, the emails are the recording notifier's (written as the real one
writes them), sent from the outbox by the operation NotifyFunction runs. What only SQS and the
worker's Lambda handler show (bodies the worker cannot read going to the dead-letter queue,
partial batch responses) is in tests/integration/renewals/test_stale_messages.py."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from uuid import uuid4

import pytest

from billing import composition
from billing.composition import Root
from billing.domain.accounts import PaymentMethodKind, PaymentProvider
from billing.domain.locales import Locale
from billing.domain.money import Currency
from billing.domain.state_machine import Actor, Requester
from billing.domain.subscription import Channel, Status, Subscription
from billing.operations.accounts import AccountProfile
from billing.operations.subscriptions import Order
from billing.renewal_worker import Outcome, RenewalResult
from billing.renewals import parse_message
from tests.fakes import (
    FakeGateway,
    InMemoryRenewalQueue,
    InMemoryRepository,
    OutboxStream,
    RecordingNotifier,
)
from tests.support.api import START, Clock

pytestmark = pytest.mark.unit

P1 = START.replace(month=2, day=28)
"""The end of the first period of a subscription bought at START (the month-end clamp)."""
P2 = START.replace(month=3, day=31)
FIRST_RETRY = P1 + timedelta(days=1)

CARD_UPDATED = "Your payment method has been updated"
BOUGHT = [CARD_UPDATED, "Your Basic subscription is active"]
RENEWED = "Payment received: your Basic subscription is renewed"
FAILED = "We could not renew your Basic subscription"
PAST_DUE = [*BOUGHT, CARD_UPDATED, FAILED]
"""The emails of `Billing.past_due`: bought, the declining card saved, the renewal declined."""

ADMIN = Requester(Actor.ADMIN, "admin-1")


@dataclass
class Billing:
    """The system on fakes, and what its customers do: what the HTTP routes would call."""

    root: Root
    clock: Clock
    repository: InMemoryRepository
    stripe: FakeGateway
    notifier: RecordingNotifier
    queue: InMemoryRenewalQueue
    stream: OutboxStream

    def subscribed(self) -> tuple[str, str]:
        """A new account that bought a monthly plan with a working card at START: its id and
        its subscription's."""
        account_id = f"acct-{uuid4().hex[:10]}"
        profile = AccountProfile(
            f"{account_id}@example.com", Locale.EN, "com", Channel.DIRECT, partner=None
        )
        self.root.account_admin.put_account(account_id, profile, ADMIN)
        self.save_card(account_id)
        sub_id = f"sub_{uuid4().hex[:10]}"
        self.root.purchases.purchase(
            account_id, Order("basic", 1, Currency.EUR), sub_id, self.customer(account_id)
        )
        return account_id, sub_id

    def past_due(self) -> tuple[str, str]:
        """An account whose first renewal was declined: past due since P1, the clock there."""
        account_id, sub_id = self.subscribed()
        self.save_card(account_id, declines=True)
        self.clock.now = P1
        assert self.renew(sub_id, account_id).status is Status.PAST_DUE
        return account_id, sub_id

    def save_card(self, account_id: str, *, declines: bool = False) -> None:
        """The card form: start (a SetupIntent), then save the card it produced."""
        by = self.customer(account_id)
        started = self.root.payment_methods.start_update(account_id, PaymentMethodKind.CARD, by)
        assert started.start is not None
        card = f"pm_{uuid4().hex[:10]}"
        if declines:
            self.stripe.declines(card)
        self.stripe.confirm_setup(started.start.reference, card)
        self.root.payment_methods.save_method(
            account_id, PaymentProvider.STRIPE, started.start.reference, by
        )

    def renew(self, sub_id: str, account_id: str) -> Subscription:
        """What the renewal schedule does for one subscription, outside the queue."""
        return self.root.charging.renew(sub_id, account_id).subscription

    def cancel(self, sub_id: str, account_id: str) -> Subscription:
        return self.root.subscription_actions.cancel(
            account_id, sub_id, self.customer(account_id)
        ).subscription

    def dispatch(self) -> int:
        """One run of the dispatcher: how many due subscriptions it queued."""
        return self.root.renewal_dispatcher.run("run-1").due

    def drain(self, *, at_once: bool = False) -> list[RenewalResult]:
        """Every queued message carried out by the worker, one after another or all at once
        (every copy having read the subscription before any claims its charge). A message
        whose handling raises would go back to the queue: none may."""
        bodies = self.queue.receive_all()
        handle = self.root.renewal_worker.handle
        if not at_once:
            return [handle(parse_message(body)) for body in bodies]
        all_read = threading.Barrier(len(bodies), timeout=10)
        self.repository.before["claim"] = lambda *_: all_read.wait()
        try:
            with ThreadPoolExecutor(len(bodies)) as pool:
                return list(pool.map(lambda body: handle(parse_message(body)), bodies))
        finally:
            del self.repository.before["claim"]

    def subjects(self, account_id: str) -> list[str]:
        """What the account's address received, once the outbox's stream delivered it all."""
        self.stream.deliver(self.root.outbox_delivery.send)
        return self.notifier.subjects_to(f"{account_id}@example.com")

    def payments(self, sub_id: str) -> list[tuple[str, int, str]]:
        """Kind, amount charged (4900 net with 20 % VAT: 5880) and status, newest first."""
        return [
            (a.kind.value, a.amount.amount, a.status.value)
            for a in self.repository.charge_attempts(sub_id)
        ]

    @staticmethod
    def customer(account_id: str) -> Requester:
        return Requester(Actor.CUSTOMER, f"user-{account_id}")


@pytest.fixture
def billing(
    repository: InMemoryRepository, stripe: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> Billing:
    clock = Clock(START)
    monkeypatch.setattr(composition, "clock", clock)
    notifier, queue = RecordingNotifier(), InMemoryRenewalQueue()
    paypal = FakeGateway(PaymentProvider.PAYPAL, clock=clock)
    root = Root(
        repository=repository,
        outbox=repository,
        notifier=notifier,
        gateways={PaymentProvider.STRIPE: stripe, PaymentProvider.PAYPAL: paypal},
        renewal_queue=queue,
    )
    return Billing(root, clock, repository, stripe, notifier, queue, OutboxStream(repository))


def _queued_one_due_message(billing: Billing, sub_id: str) -> None:
    assert billing.dispatch() == 1
    [body] = billing.queue.waiting
    assert parse_message(body).subscription_id == sub_id


def test_a_retry_queued_before_the_customer_cancelled_charges_nothing(billing: Billing) -> None:
    account_id, sub_id = billing.past_due()
    billing.clock.now = FIRST_RETRY
    _queued_one_due_message(billing, sub_id)

    assert billing.cancel(sub_id, account_id).status is Status.CANCELLED
    charges = len(billing.stripe.charged(sub_id))
    [result] = billing.drain()

    assert result.outcome is Outcome.UNCHANGED, "the customer's cancel is not counted again"
    assert len(billing.stripe.charged(sub_id)) == charges == 2, "purchase, declined renewal"
    sub = billing.repository.get_subscription(sub_id)
    assert (sub.status, sub.cancel_reason, sub.next_charge_at) == (
        Status.CANCELLED,
        "cancelled_by_customer",
        None,
    )
    assert billing.subjects(account_id) == [*PAST_DUE, "Your Basic subscription is cancelled"]


def test_a_renewal_queued_before_it_was_renewed_elsewhere_is_not_charged_again(
    billing: Billing,
) -> None:
    account_id, sub_id = billing.subscribed()
    billing.clock.now = P1
    _queued_one_due_message(billing, sub_id)

    assert billing.renew(sub_id, account_id).cycle == 1
    [result] = billing.drain()

    assert result.outcome is Outcome.UNCHANGED
    assert len(billing.stripe.charged(sub_id)) == 2, "the purchase and one renewal"
    assert billing.payments(sub_id) == [
        ("renewal", 5880, "succeeded"),
        ("purchase", 5880, "succeeded"),
    ]
    sub = billing.repository.get_subscription(sub_id)
    assert (sub.status, sub.period.end, sub.next_charge_at) == (Status.ACTIVE, P2, P2)
    assert billing.subjects(account_id) == [*BOUGHT, RENEWED]


def test_a_retry_queued_before_a_new_card_was_saved_finds_nothing_due(billing: Billing) -> None:
    account_id, sub_id = billing.past_due()
    billing.clock.now = FIRST_RETRY
    _queued_one_due_message(billing, sub_id)
    charges = len(billing.stripe.charged(sub_id))

    # Saving a card retries every past-due subscription of the account at once.
    billing.save_card(account_id)
    assert billing.repository.get_subscription(sub_id).status is Status.ACTIVE
    emails = billing.subjects(account_id)
    [result] = billing.drain()

    assert result.outcome is Outcome.UNCHANGED
    assert len(billing.stripe.charged(sub_id)) == charges + 1, "only the save's own retry"
    assert billing.payments(sub_id) == [
        ("payment_method_update", 5880, "succeeded"),
        ("renewal", 5880, "failed"),
        ("purchase", 5880, "succeeded"),
    ]
    sub = billing.repository.get_subscription(sub_id)
    assert (sub.status, sub.period.start, sub.period.end) == (Status.ACTIVE, P1, P2)
    assert (sub.failed_attempts, sub.last_failure) == (0, None)
    assert emails == [*PAST_DUE, CARD_UPDATED, RENEWED]
    assert billing.subjects(account_id) == emails, "the queued retry sent nothing"


def test_a_renewal_queued_before_auto_renew_was_turned_off_ends_without_a_charge(
    billing: Billing,
) -> None:
    account_id, sub_id = billing.subscribed()
    billing.clock.now = P1 - timedelta(seconds=1)
    assert billing.dispatch() == 0
    billing.clock.now = P1
    _queued_one_due_message(billing, sub_id)

    assert billing.cancel(sub_id, account_id).auto_renew is False
    [result] = billing.drain()

    assert (result.outcome, result.detail) == (Outcome.CANCELLED, "auto_renew_off")
    assert len(billing.stripe.charged(sub_id)) == 1, "only the purchase"
    sub = billing.repository.get_subscription(sub_id)
    assert (sub.status, sub.cancel_reason, sub.auto_renew) == (
        Status.CANCELLED,
        "auto_renew_off",
        False,
    )
    assert billing.subjects(account_id) == [
        *BOUGHT,
        "Automatic renewal is off for your Basic subscription",
        "Your Basic subscription has ended",
    ]


@pytest.mark.parametrize(
    ("at_once", "second_copies"),
    [
        pytest.param(True, Outcome.IN_PROGRESS, id="copies-at-once"),
        pytest.param(False, Outcome.UNCHANGED, id="copies-one-after-another"),
    ],
)
def test_every_renewal_message_delivered_twice_charges_once(
    billing: Billing, at_once: bool, second_copies: Outcome
) -> None:
    customers = [billing.subscribed() for _ in range(6)]
    billing.clock.now = P1
    assert billing.dispatch() == len(customers)
    billing.queue.send(list(billing.queue.waiting))
    assert sorted(parse_message(body).subscription_id for body in billing.queue.waiting) == sorted(
        2 * [sub_id for _, sub_id in customers]
    )

    results = billing.drain(at_once=at_once)

    assert Counter(r.outcome for r in results) == {Outcome.CHARGED: 6, second_copies: 6}
    assert billing.queue.waiting == []
    for account_id, sub_id in customers:
        assert len(billing.stripe.charged(sub_id)) == 2, "the purchase and one renewal"
        assert billing.payments(sub_id) == [
            ("renewal", 5880, "succeeded"),
            ("purchase", 5880, "succeeded"),
        ]
        assert billing.repository.get_subscription(sub_id).period.end == P2
        assert billing.subjects(account_id) == [*BOUGHT, RENEWED]
