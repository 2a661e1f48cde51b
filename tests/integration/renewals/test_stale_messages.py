"""Renewal messages the dispatcher never wrote, in SQS (moto server) and through the worker's
Lambda handler: a body the worker cannot read fails alone (a partial batch response), goes back
to the queue and, after the redrive policy's maxReceiveCount, to the dead-letter queue, while the
message beside it is carried out and deleted. The messages are put in the queue with the SQS
client, as a stranger would.

Stale and duplicated messages (queued before the subscription was cancelled, renewed or given a
new card; delivered twice) are the worker's and the charge operation's to handle: those cases
run on the in-memory fakes in tests/orchestration/test_stale_messages.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.renewals.conftest import Stack
from tests.support.api import START, Api, Client, fresh_account_id
from tests.support.aws import resources_of_type
from tests.support.moto_server import MotoServer
from tests.support.renewals import RenewalSchedule
from tests.support.stand_ins import StandIn, stripe_charges

P1 = START.replace(month=2, day=28)
"""The end of the first period of a subscription bought at START (the month-end clamp)."""
P2 = "2026-03-31T09:30:00Z"

BOUGHT = ["Your payment method has been updated", "Your Basic subscription is active"]
RENEWED = "Payment received: your Basic subscription is renewed"


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
