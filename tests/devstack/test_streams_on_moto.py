"""Lambda's DynamoDB stream mapping and SNS subscription, locally, against moto server as the
stack runs it: what TransactWriteItems writes reaches the handler with the record Lambda sends,
a failure is retried from where it was reported, a batch given up on is described to the
OnFailure queue, and the age of a record is the stack clock's."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecordEventName,
    DynamoDBStreamEvent,
)
from botocore.exceptions import ClientError

from devstack.event_sources import StreamPoller, sns_poller_for, stream_poller_for
from devstack.resources import LocalResources, create_resources
from tests.devstack.conftest import ClockedMoto
from tests.support.aws import template

_prefixes = itertools.count()


class Function:
    """A handler: records every event, answers with `answer`."""

    def __init__(self, answer: Callable[[dict[str, Any]], Any] = lambda _: None) -> None:
        self.answer = answer
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        return self.answer(event)

    @property
    def ids(self) -> list[list[str]]:
        return [[r["dynamodb"]["Keys"]["id"]["S"] for r in e["Records"]] for e in self.events]


class Stack:
    """The template's resources in moto server under a prefix of their own."""

    def __init__(self, moto: ClockedMoto) -> None:
        self.moto = moto
        self.clients = {
            name: moto.server.client(name)
            for name in ("dynamodb", "dynamodbstreams", "sqs", "sns", "sesv2")
        }
        self.resources: LocalResources = create_resources(
            template(),
            dynamodb=self.clients["dynamodb"],
            sqs=self.clients["sqs"],
            sns=self.clients["sns"],
            sesv2=self.clients["sesv2"],
            prefix=f"s{next(_prefixes)}-",
        )
        self.outbox = self.resources.tables["OutboxTable"].name

    def poller(self, function: Function) -> StreamPoller:
        return stream_poller_for(
            template(),
            "NotifyFunction",
            self.clients["dynamodbstreams"],
            self.resources,
            sqs=self.clients["sqs"],
            clock=self.moto.clock,
            load_handler=lambda _: function,
        )

    def write(self, *ids: str) -> None:
        """One transaction: a message per id in the outbox, and an audit entry beside them."""
        audit = self.resources.tables["AuditEventsTable"].name
        self.clients["dynamodb"].transact_write_items(
            TransactItems=[
                *(
                    {"Put": {"TableName": self.outbox, "Item": _message(message_id)}}
                    for message_id in ids
                ),
                {
                    "Put": {
                        "TableName": audit,
                        "Item": {"stream": {"S": "account#a"}, "seq": {"S": ids[0]}},
                    }
                },
            ]
        )

    def failures(self) -> list[dict[str, Any]]:
        queue = self.resources.queues["NotifyFailureQueue"].url
        received = self.clients["sqs"].receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        return [json.loads(message["Body"]) for message in received.get("Messages", [])]


def _message(message_id: str) -> dict[str, Any]:
    return {
        "id": {"S": message_id},
        "account_id": {"S": "a"},
        "kind": {"S": "customer_email"},
        "name": {"S": "purchase_receipt"},
        "details": {"M": {"amount": {"S": "49.00 EUR"}}},
        "status": {"S": "pending"},
        "attempts": {"N": "0"},
    }


@pytest.fixture
def stack(clocked_moto: ClockedMoto) -> Stack:
    return Stack(clocked_moto)


def test_a_transaction_reaches_the_handler_as_lambda_sends_it(stack: Stack) -> None:
    function = Function()
    polling = stack.poller(function)
    stack.write("m1", "m2")
    stack.clients["dynamodb"].update_item(
        TableName=stack.outbox,
        Key={"id": {"S": "m1"}},
        UpdateExpression="SET #s = :sent",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":sent": {"S": "sent"}},
    )

    report = polling.drain()

    assert function.ids == [["m1", "m2"]], "the sent mark (a MODIFY) filtered out"
    assert (report.read, report.filtered_out, report.done) == (3, 1, 2)
    [event] = function.events
    first, second = event["Records"]
    assert first["eventSourceARN"] == stack.resources.tables["OutboxTable"].stream_arn
    assert (first["eventSource"], first["eventName"], first["awsRegion"]) == (
        "aws:dynamodb",
        "INSERT",
        "us-east-1",
    )
    assert first["dynamodb"]["StreamViewType"] == "NEW_IMAGE"
    assert first["dynamodb"]["NewImage"]["details"] == {"M": {"amount": {"S": "49.00 EUR"}}}
    assert first["dynamodb"]["ApproximateCreationDateTime"] == int(
        stack.moto.clock().timestamp()
    ), "stamped with the stack's clock"
    assert int(second["dynamodb"]["SequenceNumber"]) > int(first["dynamodb"]["SequenceNumber"])
    json.dumps(event)
    # What the notify function reads of it (Powertools' data class).
    [read, _] = DynamoDBStreamEvent(event).records
    assert read.event_name is DynamoDBRecordEventName.INSERT
    assert read.dynamodb is not None
    assert read.dynamodb.keys == {"id": "m1"}
    assert read.dynamodb.sequence_number == first["dynamodb"]["SequenceNumber"]


def test_a_reported_failure_is_retried_from_its_sequence_number(stack: Stack) -> None:
    tries = iter([True, False])

    def fail_second_once(event: dict[str, Any]) -> Any:
        failed = event["Records"][1:2] if next(tries) else []
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in failed
            ]
        }

    function = Function(fail_second_once)
    polling = stack.poller(function)
    stack.write("m1", "m2", "m3")

    report = polling.drain()

    assert function.ids == [["m1", "m2", "m3"], ["m2", "m3"]]
    assert (report.invocations, report.done, report.failed_invocations) == (2, 3, 1)
    assert stack.failures() == []


def test_a_batch_that_keeps_failing_is_described_to_the_on_failure_queue(stack: Stack) -> None:
    def raises(event: dict[str, Any]) -> Any:
        raise RuntimeError("SES is down")

    function = Function(raises)
    polling = stack.poller(function)
    stack.write("m1")

    report = polling.drain()

    assert len(function.events) == 21, "the first try and MaximumRetryAttempts: 20"
    assert (report.discarded, report.drained) == (1, True)
    [failure] = stack.failures()
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 21
    stream = stack.clients["dynamodbstreams"].describe_stream(
        StreamArn=stack.resources.tables["OutboxTable"].stream_arn
    )["StreamDescription"]
    info = failure["DDBStreamBatchInfo"]
    assert info["shardId"] == stream["Shards"][0]["ShardId"]
    assert info["streamArn"] == stream["StreamArn"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert info["batchSize"] == 1
    # The stream's next records are delivered: the mapping went on.
    function.answer = lambda _: None
    stack.write("m2")
    polling.drain()
    assert function.ids[-1] == ["m2"]


def test_the_stack_clock_governs_the_age_of_a_record(stack: Stack) -> None:
    function = Function()
    polling = stack.poller(function)
    stack.write("old")
    stack.moto.clock.advance(timedelta(hours=1, seconds=1))
    stack.write("new")

    report = polling.drain()

    assert function.ids == [["new"]], "MaximumRecordAgeInSeconds: 3600"
    [failure] = stack.failures()
    assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
    assert failure["requestContext"]["approximateInvokeCount"] == 0
    assert report.discarded == 1


def test_ses_refuses_a_configuration_set_that_does_not_exist(stack: Stack) -> None:
    ses = stack.clients["sesv2"]
    ses.create_email_identity(EmailIdentity="billing@example.com")
    email = {
        "FromEmailAddress": "billing@example.com",
        "Destination": {"ToAddresses": ["a@example.com"]},
        "Content": {"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "…"}}}},
    }

    sent = ses.send_email(
        **email,
        ConfigurationSetName=stack.resources.configuration_sets["EmailConfigurationSet"].name,
    )

    assert sent["MessageId"]
    with pytest.raises(ClientError) as refused:
        ses.send_email(**email, ConfigurationSetName="no-such-set")
    assert refused.value.response["Error"]["Code"] == "NotFoundException"


def test_a_notification_reaches_the_function_and_a_failing_one_the_failure_queue(
    stack: Stack,
) -> None:
    function = Function()
    subscription = sns_poller_for(
        template(),
        "NotifyFunction",
        stack.clients["sns"],
        stack.clients["sqs"],
        stack.resources,
        clock=stack.moto.clock,
        load_handler=lambda _: function,
    )
    topic = stack.resources.topics["EmailFeedbackTopic"].arn
    stack.clients["sns"].publish(TopicArn=topic, Message='{"notificationType": "Bounce"}')

    delivered = subscription.poll()

    assert (delivered.delivered, delivered.failed) == (1, 0)
    [event] = function.events
    [record] = event["Records"]
    assert (record["EventSource"], record["EventSubscriptionArn"]) == (
        "aws:sns",
        subscription.subscription_arn,
    )
    assert (record["Sns"]["TopicArn"], record["Sns"]["Message"]) == (
        topic,
        '{"notificationType": "Bounce"}',
    )

    def raises(event: dict[str, Any]) -> Any:
        raise RuntimeError("cannot record the bounce")

    function.answer = raises
    stack.clients["sns"].publish(TopicArn=topic, Message='{"notificationType": "Complaint"}')
    failed = subscription.poll()

    assert (failed.delivered, failed.failed) == (0, 1)
    assert len(function.events) == 1 + 3, "tried, then EventInvokeConfig's 2 retries"
    [failure] = stack.failures()
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["requestPayload"] == function.events[-1]
    assert failure["responsePayload"]["errorType"] == "RuntimeError"


def test_a_recorded_webhook_event_reaches_the_webhook_events_function_once(stack: Stack) -> None:
    """The webhook events table's stream feeds its function as the outbox's feeds notify: the
    receiver's conditional put reaches it, a redelivery refused by the condition and the
    processed mark do not, and a batch given up on is described to the webhook failure queue."""
    function = Function()
    polling = stream_poller_for(
        template(),
        "WebhookEventsFunction",
        stack.clients["dynamodbstreams"],
        stack.resources,
        sqs=stack.clients["sqs"],
        clock=stack.moto.clock,
        load_handler=lambda _: function,
    )
    table = stack.resources.tables["WebhookEventsTable"]
    dynamodb = stack.clients["dynamodb"]
    event = {"id": {"S": "stripe#evt_1"}, "type": {"S": "charge.refunded"}}
    dynamodb.put_item(
        TableName=table.name, Item=event, ConditionExpression="attribute_not_exists(id)"
    )
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        dynamodb.put_item(
            TableName=table.name, Item=event, ConditionExpression="attribute_not_exists(id)"
        )
    dynamodb.update_item(
        TableName=table.name,
        Key={"id": event["id"]},
        UpdateExpression="SET processed_at = :now",
        ExpressionAttributeValues={":now": {"S": "2026-01-31T09:30:00Z"}},
    )

    report = polling.drain()

    assert function.ids == [["stripe#evt_1"]]
    assert (report.read, report.filtered_out, report.done) == (2, 1, 1)
    [record] = function.events[0]["Records"]
    assert record["eventSourceARN"] == table.stream_arn
    assert record["dynamodb"]["NewImage"] == event

    def raises(event: dict[str, Any]) -> Any:
        raise RuntimeError("Stripe is down")

    function.answer = raises
    dynamodb.put_item(TableName=table.name, Item={"id": {"S": "paypal#WH-1"}})
    polling.drain()

    queue = stack.resources.queues["WebhookFailureQueue"].url
    [message] = stack.clients["sqs"].receive_message(QueueUrl=queue)["Messages"]
    failure = json.loads(message["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["DDBStreamBatchInfo"]["streamArn"] == table.stream_arn
