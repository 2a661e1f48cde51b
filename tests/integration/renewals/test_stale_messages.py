"""Renewal messages are hints, not orders: a message queued by the dispatcher and carried out
after the subscription changed (cancelled, renewed, its card replaced), delivered twice, or never
written by the dispatcher at all, takes no money it should not and is deleted, not retried; only
a body the worker cannot read goes back to the queue, and to the dead-letter queue after the
redrive policy's maxReceiveCount.

The stale-message tests queue the message with the dispatcher's real run (`schedule.dispatch()`),
change the subscription through the API or the charge operation, then let the worker drain the
queue; the others put their messages in the queue with the SQS client, as a redelivery or a
stranger would.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from devstack.event_sources import DrainReport
from tests.integration.renewals.conftest import Stack
from tests.support.api import START, Api, Client, fresh_account_id
from tests.support.aws import resources_of_type
from tests.support.moto_server import MotoServer
from tests.support.renewals import RenewalSchedule
from tests.support.stand_ins import StandIn, stripe_charges

P1 = START.replace(month=2, day=28)
"""The end of the first period of a subscription bought at START (the month-end clamp)."""
P2 = "2026-03-31T09:30:00Z"
FIRST_RETRY = P1 + timedelta(days=1)

CARD_UPDATED = "Your payment method has been updated"
BOUGHT = [CARD_UPDATED, "Your Basic subscription is active"]
RENEWED = "Payment received: your Basic subscription is renewed"
FAILED = "We could not renew your Basic subscription"
PAST_DUE = [*BOUGHT, CARD_UPDATED, FAILED]
"""The emails of `Api.past_due`: bought, the declining card saved, the renewal declined."""


class RenewalQueue:
    """The renewal queue and its dead-letter queue in moto server, seen from outside the code:
    what waits in them, and messages put there as a duplicate delivery or a stranger would."""

    def __init__(self, moto: MotoServer, stack: Stack) -> None:
        self.sqs = moto.client("sqs")
        self.url = stack.resources.queues["RenewalQueue"].url
        self.dead_letter_url = stack.resources.queues["RenewalDeadLetterQueue"].url

    def waiting(self, url: str | None = None) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url or self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(count) for count in attributes.values())

    def peek(self, url: str | None = None) -> list[dict[str, Any]]:
        """Every visible message, visible again afterwards: received until none is left, then
        their visibility timeout set back to zero."""
        url = url or self.url
        messages: list[dict[str, Any]] = []
        while received := self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", []):
            messages.extend(received)
        for start in range(0, len(messages), 10):
            self.sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for n, m in enumerate(messages[start : start + 10])
                ],
            )
        return messages

    def send(self, *bodies: str) -> list[str]:
        """Queue `bodies` as another sender would; returns their message ids, in order."""
        ids: list[str] = []
        for start in range(0, len(bodies), 10):
            sent = self.sqs.send_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(n), "MessageBody": body}
                    for n, body in enumerate(bodies[start : start + 10])
                ],
            )
            assert not sent.get("Failed"), sent["Failed"]
            by_entry = {entry["Id"]: entry["MessageId"] for entry in sent["Successful"]}
            ids.extend(by_entry[str(n)] for n in range(len(by_entry)))
        return ids


@pytest.fixture
def queue(moto: MotoServer, stack: Stack) -> RenewalQueue:
    return RenewalQueue(moto, stack)


def _subjects(api: Api, account_id: str) -> list[str]:
    return [email.subject for email in api.outbox.emails_to(f"{account_id}@example.com")]


def _subscription(client: Client, subscription_id: str) -> dict[str, Any]:
    response = client.get(f"/subscriptions/{subscription_id}")
    assert response.status == 200, response.body
    body: dict[str, Any] = response.json()
    return body


def _payments(client: Client, subscription_id: str) -> list[tuple[str, int, str]]:
    items = client.get(f"/subscriptions/{subscription_id}/payments").json()["items"]
    return [(p["kind"], p["amount"], p["status"]) for p in items]


def _queued_one_due_message(schedule: RenewalSchedule, queue: RenewalQueue, sub_id: str) -> None:
    assert schedule.dispatch()["due"] == 1
    [message] = queue.peek()
    assert json.loads(message["Body"])["subscription_id"] == sub_id


def _assert_carried_out_and_deleted(drained: DrainReport, queue: RenewalQueue) -> None:
    assert (drained.received, drained.deleted, drained.failed_items) == (1, 1, 0), drained
    assert queue.waiting() == 0
    assert queue.waiting(queue.dead_letter_url) == 0


def test_a_retry_queued_before_the_customer_cancelled_charges_nothing(
    api: Api, schedule: RenewalSchedule, queue: RenewalQueue, localstripe: StandIn
) -> None:
    account_id = fresh_account_id("cancelled-since-queued")
    client, sub_id = api.past_due(account_id)
    api.clock.now = FIRST_RETRY
    _queued_one_due_message(schedule, queue, sub_id)

    cancelled = client.post(f"/subscriptions/{sub_id}/cancel")
    assert (cancelled.status, cancelled.json()["status"]) == (200, "cancelled")
    charges = len(stripe_charges(localstripe, sub_id))
    drained = schedule.drain()

    _assert_carried_out_and_deleted(drained, queue)
    assert len(stripe_charges(localstripe, sub_id)) == charges == 2, "purchase, declined renewal"
    sub = _subscription(client, sub_id)
    assert (sub["status"], sub["cancel_reason"], sub["next_charge_at"]) == (
        "cancelled",
        "cancelled_by_customer",
        None,
    )
    assert _subjects(api, account_id) == [*PAST_DUE, "Your Basic subscription is cancelled"]


def test_a_renewal_queued_before_it_was_renewed_elsewhere_is_not_charged_again(
    api: Api, schedule: RenewalSchedule, queue: RenewalQueue, localstripe: StandIn
) -> None:
    account_id = fresh_account_id("renewed-since-queued")
    client, sub_id = api.subscribed(account_id)
    api.clock.now = P1
    _queued_one_due_message(schedule, queue, sub_id)

    renewed = api.renew(sub_id, account_id)
    assert renewed.attempt is not None
    assert renewed.attempt.status.value == "succeeded"
    drained = schedule.drain()

    _assert_carried_out_and_deleted(drained, queue)
    assert len(stripe_charges(localstripe, sub_id)) == 2, "the purchase and one renewal"
    assert _payments(client, sub_id) == [
        ("renewal", 4900, "succeeded"),
        ("purchase", 4900, "succeeded"),
    ]
    sub = _subscription(client, sub_id)
    assert (sub["status"], sub["current_period_end"], sub["next_charge_at"]) == ("active", P2, P2)
    assert _subjects(api, account_id) == [*BOUGHT, RENEWED]


def test_a_retry_queued_before_a_new_card_was_saved_finds_nothing_due(
    api: Api, schedule: RenewalSchedule, queue: RenewalQueue, localstripe: StandIn
) -> None:
    account_id = fresh_account_id("card-saved-since-queued")
    client, sub_id = api.past_due(account_id)
    api.clock.now = FIRST_RETRY
    _queued_one_due_message(schedule, queue, sub_id)
    charges = len(stripe_charges(localstripe, sub_id))

    # Saving a card retries every past-due subscription of the account at once.
    assert api.save_card(client, "pm_card_visa").status == 200
    assert _subscription(client, sub_id)["status"] == "active"
    emails = _subjects(api, account_id)
    drained = schedule.drain()

    _assert_carried_out_and_deleted(drained, queue)
    assert len(stripe_charges(localstripe, sub_id)) == charges + 1, "only the save's own retry"
    assert _payments(client, sub_id) == [
        ("payment_method_update", 4900, "succeeded"),
        ("renewal", 4900, "failed"),
        ("purchase", 4900, "succeeded"),
    ]
    sub = _subscription(client, sub_id)
    assert (sub["status"], sub["current_period_start"], sub["current_period_end"]) == (
        "active",
        "2026-02-28T09:30:00Z",
        P2,
    )
    assert (sub["failed_attempts"], sub["last_failure"]) == (0, None)
    assert emails == [*PAST_DUE, CARD_UPDATED, RENEWED]
    assert _subjects(api, account_id) == emails, "the queued retry sent nothing"


def test_a_renewal_queued_before_auto_renew_was_turned_off_ends_without_a_charge(
    api: Api, schedule: RenewalSchedule, queue: RenewalQueue, localstripe: StandIn
) -> None:
    account_id = fresh_account_id("auto-renew-off-since-queued")
    client, sub_id = api.subscribed(account_id)
    api.clock.now = P1 - timedelta(seconds=1)
    assert schedule.dispatch()["due"] == 0
    api.clock.now = P1
    _queued_one_due_message(schedule, queue, sub_id)

    turned_off = client.post(f"/subscriptions/{sub_id}/cancel")
    assert turned_off.status == 200, turned_off.body
    drained = schedule.drain()

    _assert_carried_out_and_deleted(drained, queue)
    assert len(stripe_charges(localstripe, sub_id)) == 1, "only the purchase"
    sub = _subscription(client, sub_id)
    assert (sub["status"], sub["cancel_reason"], sub["auto_renew"]) == (
        "cancelled",
        "auto_renew_off",
        False,
    )
    assert _subjects(api, account_id) == [
        *BOUGHT,
        "Automatic renewal is off for your Basic subscription",
        "Your Basic subscription has ended",
    ]


def test_every_renewal_message_delivered_twice_charges_once(
    api: Api, schedule: RenewalSchedule, queue: RenewalQueue, localstripe: StandIn
) -> None:
    account_ids = [fresh_account_id(f"delivered-twice-{n}") for n in range(6)]
    customers = [(account_id, *api.subscribed(account_id)) for account_id in account_ids]
    api.clock.now = P1
    assert schedule.dispatch()["due"] == len(customers)
    queue.send(*(message["Body"] for message in queue.peek()))
    assert queue.waiting() == 2 * len(customers)
    bodies = [json.loads(message["Body"]) for message in queue.peek()]
    assert sorted(body["subscription_id"] for body in bodies) == sorted(
        2 * [sub_id for _, _, sub_id in customers]
    )

    # Two workers at once: copies meet in one batch (its messages run concurrently) and in
    # two batches running side by side.
    schedule.concurrency = 2
    drained = schedule.drain()

    assert (drained.received, drained.deleted, drained.failed_items) == (12, 12, 0), drained
    assert queue.waiting() == 0
    assert queue.waiting(queue.dead_letter_url) == 0
    for account_id, client, sub_id in customers:
        assert len(stripe_charges(localstripe, sub_id)) == 2, "the purchase and one renewal"
        assert _payments(client, sub_id) == [
            ("renewal", 4900, "succeeded"),
            ("purchase", 4900, "succeeded"),
        ]
        assert _subscription(client, sub_id)["current_period_end"] == P2
        assert _subjects(api, account_id) == [*BOUGHT, RENEWED]


UNREADABLE = (
    "renew sub_123 please",
    json.dumps({"kind": "refund", "subscription_id": "sub_1", "account_id": "acct_1"}),
    json.dumps({"kind": "due", "subscription_id": "sub_1", "due_at": "2026-02-28T09:30:00Z"}),
)
"""Bodies the dispatcher never writes: not JSON, an unknown kind, a due message without its
account."""


def test_unreadable_messages_fail_alone_and_end_in_the_dead_letter_queue(
    api: Api, schedule: RenewalSchedule, queue: RenewalQueue, localstripe: StandIn
) -> None:
    account_id = fresh_account_id("beside-unreadable-messages")
    client, sub_id = api.subscribed(account_id)
    api.clock.now = P1
    assert schedule.dispatch()["due"] == 1
    unreadable = queue.send(*UNREADABLE)
    redrive = resources_of_type("AWS::SQS::Queue")["RenewalQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["RenewalDeadLetterQueue", "Arn"]}

    first = schedule.poller.poll()

    assert (first.received, first.deleted, first.error) == (4, 1, None), first
    assert set(first.failed_items) == set(unreadable), "each reported as a batch item failure"
    assert _subscription(client, sub_id)["current_period_end"] == P2

    # SqsPoller makes a failed message visible again at once; SQS moves it to the dead-letter
    # queue when it would be received more than maxReceiveCount times.
    redelivered = schedule.poller.drain()

    assert redelivered.drained
    assert (redelivered.received, redelivered.deleted) == (
        len(UNREADABLE) * (redrive["maxReceiveCount"] - 1),
        0,
    ), "received maxReceiveCount times in all, never deleted"
    dead = queue.peek(queue.dead_letter_url)
    assert sorted(message["Body"] for message in dead) == sorted(UNREADABLE)
    assert sorted(message["MessageId"] for message in dead) == sorted(unreadable)
    assert queue.waiting() == 0
    assert len(stripe_charges(localstripe, sub_id)) == 2, "the purchase and one renewal"
    assert _subjects(api, account_id) == [*BOUGHT, RENEWED]


def test_a_batch_of_only_unreadable_messages_is_answered_item_by_item(
    schedule: RenewalSchedule, queue: RenewalQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    unreadable = queue.send(*UNREADABLE)
    capsys.readouterr()

    batch = schedule.poller.poll()

    errors = [
        line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith('{"_aws"') and json.loads(line).get("outcome") == "error"
    ]
    assert (batch.received, batch.deleted) == (len(UNREADABLE), 0)
    assert (batch.error, set(batch.failed_items)) == (None, set(unreadable)), batch
    assert [json.loads(line)["RenewalMessages"] for line in errors] == [[len(UNREADABLE)]]
