"""Lambda's SQS event source mapping, locally, against moto in-process: the template's SQS
events, the event handlers get, and which messages are deleted, retried or redriven."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.api_gateway import LocalLambdaContext
from devstack.event_sources import (
    ScheduleEventSource,
    SqsEventSource,
    SqsPoller,
    poller_for,
    schedule_event_sources,
    sqs_event_sources,
    sqs_record,
)
from devstack.resources import LocalResources, Queue, create_queues
from devstack.stack import renewal_schedule
from devstack.template import TemplateError, parse_template
from tests.support.aws import template

REGION = "us-east-1"
SAMPLE = "events/renew/scheduled_run.json"
SOURCE = SqsEventSource(
    function="WorkerFunction",
    handler="tests.unit.devstack.test_event_sources.record_batch",
    queue="WorkQueue",
    batch_size=10,
    report_batch_item_failures=True,
)
QUEUES = """
Resources:
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 540
      RedrivePolicy: {deadLetterTargetArn: !GetAtt WorkDeadLetterQueue.Arn, maxReceiveCount: 3}
  WorkDeadLetterQueue:
    Type: AWS::SQS::Queue
  PlainQueue:
    Type: AWS::SQS::Queue
    Properties: {VisibilityTimeout: 540}
"""

Batch = dict[str, Any]
"""An event as the handler received it."""


class Recorder:
    """A handler: records every event and context, answers with what `answer` says."""

    def __init__(self, answer: Callable[[Batch], Any] = lambda _: None) -> None:
        self.answer = answer
        self.events: list[Batch] = []
        self.contexts: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, event: Batch, context: Any) -> Any:
        with self._lock:
            self.events.append(event)
            self.contexts.append(context)
        return self.answer(event)

    @property
    def bodies(self) -> list[str]:
        return [record["body"] for event in self.events for record in event["Records"]]


def record_batch(event: Batch, context: Any) -> Any:
    """Named in `SOURCE.handler`, for `poller_for` to import."""
    return {"batchItemFailures": []}


def failing(bodies: set[str]) -> Callable[[Batch], Any]:
    """A partial batch response failing the messages whose body is in `bodies`."""
    return lambda event: {
        "batchItemFailures": [
            {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] in bodies
        ]
    }


def raises(event: Batch) -> Any:
    raise RuntimeError("the provider is down")


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


@pytest.fixture
def queues(sqs: Any) -> dict[str, Queue]:
    return create_queues(parse_template(QUEUES), sqs)


def send(sqs: Any, queue: Queue, *bodies: str) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=queue.url, MessageBody=body)


def visible(sqs: Any, queue: Queue) -> list[dict[str, Any]]:
    """Every message visible now, received with a zero visibility timeout so they stay so."""
    received = sqs.receive_message(
        QueueUrl=queue.url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        MessageSystemAttributeNames=["All"],
    )
    return received.get("Messages", [])  # type: ignore[no-any-return]


def counts(sqs: Any, queue: Queue) -> tuple[int, int]:
    """(visible, in flight)."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue.url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


# --- the template's event sources ---


def test_the_renewal_worker_is_the_template_sqs_event_source() -> None:
    assert sqs_event_sources(template()) == [
        SqsEventSource(
            function="RenewalWorkerFunction",
            handler="renew.worker.lambda_handler",
            queue="RenewalQueue",
            batch_size=10,
            report_batch_item_failures=True,
            maximum_concurrency=2,
        )
    ]
    [source] = sqs_event_sources(template(), parameters={"RenewalWorkerConcurrency": "8"})
    assert source.maximum_concurrency == 8


def test_sam_defaults_apply_when_the_event_sets_nothing() -> None:
    parsed = parse_template("""
Globals:
  Function: {Handler: app.handler}
Resources:
  Q: {Type: AWS::SQS::Queue}
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Api: {Type: Api, Properties: {Path: /, Method: get}}
        Queue: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}
""")
    assert sqs_event_sources(parsed) == [
        SqsEventSource(function="Consumer", handler="app.handler", queue="Q")
    ]
    assert SqsEventSource("f", "h", "q").batch_size == 10


def test_a_queue_outside_the_template_is_refused() -> None:
    parsed = parse_template("""
Resources:
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Events:
        Queue: {Type: SQS, Properties: {Queue: "arn:aws:sqs:us-east-1:123456789012:elsewhere"}}
""")
    with pytest.raises(TemplateError, match="Consumer: an SQS event's Queue must be"):
        sqs_event_sources(parsed)


# --- the event ---


def test_the_event_is_shaped_as_lambda_sends_it(sqs: Any, queues: dict[str, Queue]) -> None:
    queue = queues["WorkQueue"]
    sqs.send_message(
        QueueUrl=queue.url,
        MessageBody='{"subscription_id": "sub_1"}',
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "renewal"},
            "shard": {"DataType": "Number", "StringValue": "7"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    send(sqs, queue, "plain")
    handler = Recorder()

    SqsPoller(sqs, queue.url, handler, SOURCE).poll()

    [event] = handler.events
    assert set(event) == {"Records"}
    with_attributes, plain = event["Records"]
    assert set(plain) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert plain["body"] == "plain"
    assert plain["md5OfBody"] == hashlib.md5(b"plain").hexdigest()
    assert plain["eventSource"] == "aws:sqs"
    assert plain["eventSourceARN"] == queue.arn
    assert plain["awsRegion"] == REGION
    assert plain["messageAttributes"] == {}
    assert set(plain["attributes"]) >= {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert plain["attributes"]["ApproximateReceiveCount"] == "1"
    assert all(isinstance(value, str) for value in plain["attributes"].values())
    assert with_attributes["body"] == '{"subscription_id": "sub_1"}'
    assert with_attributes["md5OfMessageAttributes"]
    assert with_attributes["messageAttributes"] == {
        "kind": {
            "stringValue": "renewal",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "shard": {
            "stringValue": "7",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Number",
        },
        "blob": {
            "binaryValue": base64.b64encode(b"\x00\x01").decode(),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }
    json.dumps(event)  # what Lambda sends is JSON


def test_the_handler_gets_a_lambda_context_for_the_function(
    sqs: Any, queues: dict[str, Queue]
) -> None:
    send(sqs, queues["WorkQueue"], "a")
    handler = Recorder()

    SqsPoller(sqs, queues["WorkQueue"].url, handler, SOURCE).poll()

    [context] = handler.contexts
    assert isinstance(context, LocalLambdaContext)
    assert context.function_name == "WorkerFunction"
    assert context.get_remaining_time_in_millis() > 0


def test_sqs_record_keeps_binary_lists_base64_encoded() -> None:
    record = sqs_record(
        {
            "MessageId": "m",
            "ReceiptHandle": "r",
            "Body": "b",
            "MD5OfBody": "x",
            "MessageAttributes": {
                "list": {"DataType": "Binary", "BinaryListValues": [b"a", b"b"]},
            },
        },
        "arn:aws:sqs:eu-west-1:123456789012:q",
        "eu-west-1",
    )
    assert record["attributes"] == {}
    assert record["messageAttributes"]["list"] == {
        "stringListValues": [],
        "binaryListValues": ["YQ==", "Yg=="],
        "dataType": "Binary",
    }
    assert "md5OfMessageAttributes" not in record


# --- settling a batch ---


def test_a_successful_batch_is_deleted(sqs: Any, queues: dict[str, Queue]) -> None:
    queue = queues["WorkQueue"]
    send(sqs, queue, "a", "b", "c")

    outcome = SqsPoller(sqs, queue.url, Recorder(), SOURCE).poll()

    assert (outcome.received, outcome.deleted, outcome.failed_items, outcome.error) == (
        3,
        3,
        (),
        None,
    )
    assert counts(sqs, queue) == (0, 0)


def test_a_partial_failure_keeps_exactly_the_failed_messages(
    sqs: Any, queues: dict[str, Queue]
) -> None:
    queue = queues["WorkQueue"]
    send(sqs, queue, "a", "b", "c", "d")
    handler = Recorder(failing({"b", "d"}))

    outcome = SqsPoller(sqs, queue.url, handler, SOURCE).poll()

    assert outcome.received == 4
    assert outcome.deleted == 2
    failed_ids = {r["messageId"] for r in handler.events[0]["Records"] if r["body"] in {"b", "d"}}
    assert set(outcome.failed_items) == failed_ids
    back = visible(sqs, queue)
    assert sorted(m["Body"] for m in back) == ["b", "d"]
    assert {m["MessageId"] for m in back} == failed_ids
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in back} == {"2"}


def test_an_exception_keeps_the_whole_batch(sqs: Any, queues: dict[str, Queue]) -> None:
    queue = queues["WorkQueue"]
    send(sqs, queue, "a", "b")

    outcome = SqsPoller(sqs, queue.url, Recorder(raises), SOURCE).poll()

    assert outcome.deleted == 0
    assert outcome.error == "RuntimeError('the provider is down')"
    assert sorted(m["Body"] for m in visible(sqs, queue)) == ["a", "b"]


@pytest.mark.parametrize(
    "answer",
    [
        lambda event: {"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]},
        lambda event: {"batchItemFailures": [{"itemIdentifier": ""}]},
        lambda event: {"batchItemFailures": [{"itemIdentifier": None}]},
        lambda event: {"batchItemFailures": [{"id": event["Records"][0]["messageId"]}]},
        lambda event: {"batchItemFailures": "all of them"},
        lambda event: ["not", "an", "object"],
        lambda event: {"batchItemFailures": [], "at": object()},  # not JSON
    ],
    ids=["unknown id", "empty id", "null id", "wrong key", "not a list", "a list", "not JSON"],
)
def test_a_malformed_response_keeps_the_whole_batch(
    sqs: Any, queues: dict[str, Queue], answer: Callable[[Batch], Any]
) -> None:
    queue = queues["WorkQueue"]
    send(sqs, queue, "a", "b")

    outcome = SqsPoller(sqs, queue.url, Recorder(answer), SOURCE).poll()

    assert outcome.deleted == 0
    assert outcome.error
    assert sorted(m["Body"] for m in visible(sqs, queue)) == ["a", "b"]


@pytest.mark.parametrize(
    "answer",
    [None, {}, {"batchItemFailures": None}, {"batchItemFailures": []}, {"statusCode": 200}],
)
def test_an_empty_response_is_a_complete_success(
    sqs: Any, queues: dict[str, Queue], answer: Any
) -> None:
    queue = queues["WorkQueue"]
    send(sqs, queue, "a", "b")

    outcome = SqsPoller(sqs, queue.url, Recorder(lambda _: answer), SOURCE).poll()

    assert (outcome.deleted, outcome.error) == (2, None)
    assert counts(sqs, queue) == (0, 0)


def test_without_report_batch_item_failures_the_response_is_ignored(
    sqs: Any, queues: dict[str, Queue]
) -> None:
    queue = queues["WorkQueue"]
    send(sqs, queue, "a", "b")
    source = SqsEventSource("WorkerFunction", SOURCE.handler, "WorkQueue")

    outcome = SqsPoller(sqs, queue.url, Recorder(failing({"a"})), source).poll()

    assert outcome.deleted == 2
    assert counts(sqs, queue) == (0, 0)


def test_a_retry_delay_keeps_failed_messages_hidden_that_long(
    sqs: Any, queues: dict[str, Queue]
) -> None:
    queue = queues["WorkQueue"]
    send(sqs, queue, "a", "b")
    poller = SqsPoller(sqs, queue.url, Recorder(failing({"a"})), SOURCE, retry_delay=30)

    poller.poll()

    assert counts(sqs, queue) == (0, 1)
    assert poller.drain().received == 0


def test_the_batch_size_caps_each_batch(sqs: Any, queues: dict[str, Queue]) -> None:
    queue = queues["WorkQueue"]
    send(sqs, queue, *"abcdefg")
    source = SqsEventSource("WorkerFunction", SOURCE.handler, "WorkQueue", batch_size=3)
    handler = Recorder()

    report = SqsPoller(sqs, queue.url, handler, source).drain()

    assert [len(event["Records"]) for event in handler.events] == [3, 3, 1]
    assert (report.batches, report.received, report.deleted, report.drained) == (3, 7, 7, True)


# --- draining ---


def test_drain_retries_failures_until_redriven_to_the_dead_letter_queue(
    sqs: Any, queues: dict[str, Queue]
) -> None:
    queue, dead_letters = queues["WorkQueue"], queues["WorkDeadLetterQueue"]
    send(sqs, queue, "ok", "poison")
    handler = Recorder(failing({"poison"}))

    report = SqsPoller(sqs, queue.url, handler, SOURCE).drain()

    # maxReceiveCount 3: received three times, moved on the fourth receive.
    assert handler.bodies.count("poison") == 3
    assert handler.bodies.count("ok") == 1
    assert (report.batches, report.received, report.deleted) == (3, 4, 1)
    assert (report.failed_items, report.handler_errors, report.drained) == (3, [], True)
    assert counts(sqs, queue) == (0, 0)
    [redriven] = visible(sqs, dead_letters)
    assert redriven["Body"] == "poison"
    # The count carries over to the dead-letter queue: three receives there, one here.
    assert redriven["Attributes"]["ApproximateReceiveCount"] == "4"


def test_drain_counts_handler_errors(sqs: Any, queues: dict[str, Queue]) -> None:
    queue = queues["WorkQueue"]
    send(sqs, queue, "a")

    report = SqsPoller(sqs, queue.url, Recorder(raises), SOURCE).drain()

    assert report.handler_errors == ["RuntimeError('the provider is down')"] * 3
    assert (report.batches, report.deleted, report.failed_items) == (3, 0, 0)
    assert [m["Body"] for m in visible(sqs, queues["WorkDeadLetterQueue"])] == ["a"]


def test_drain_stops_after_max_rounds_without_a_dead_letter_queue(
    sqs: Any, queues: dict[str, Queue]
) -> None:
    queue = queues["PlainQueue"]
    send(sqs, queue, "forever")

    report = SqsPoller(sqs, queue.url, Recorder(raises), SOURCE).drain(max_rounds=4)

    assert (report.rounds, report.batches, report.drained) == (4, 4, False)
    assert [m["Body"] for m in visible(sqs, queue)] == ["forever"]


def test_drain_runs_batches_concurrently_each_message_once(
    sqs: Any, queues: dict[str, Queue]
) -> None:
    queue = queues["WorkQueue"]
    bodies = [f"m{n:02}" for n in range(30)]
    send(sqs, queue, *bodies)
    # Three batches of ten wait for each other: only three handlers running at once pass.
    together = threading.Barrier(3, timeout=10)

    def meet(event: Batch) -> Any:
        together.wait()
        return {"batchItemFailures": []}

    handler = Recorder(meet)

    report = SqsPoller(sqs, queue.url, handler, SOURCE).drain(concurrency=3)

    assert sorted(handler.bodies) == bodies
    assert (report.batches, report.received, report.deleted, report.drained) == (3, 30, 30, True)
    assert report.rounds == 2
    assert counts(sqs, queue) == (0, 0)


def test_an_empty_queue_drains_at_once(sqs: Any, queues: dict[str, Queue]) -> None:
    handler = Recorder()

    report = SqsPoller(sqs, queues["WorkQueue"].url, handler, SOURCE).drain(concurrency=2)

    assert (report.rounds, report.batches, report.drained, handler.events) == (1, 0, True, [])


# --- from the template ---


def test_poller_for_imports_the_handler_and_polls_the_created_queue(
    sqs: Any, queues: dict[str, Queue]
) -> None:
    parsed = parse_template(
        QUEUES
        + f"""
  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: {SOURCE.handler}
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            FunctionResponseTypes: [ReportBatchItemFailures]
"""
    )
    resources = LocalResources(region=REGION, queues=queues)
    send(sqs, queues["WorkQueue"], "a")

    poller = poller_for(parsed, "WorkerFunction", sqs, resources)

    assert poller.source == SOURCE
    assert poller.drain().deleted == 1
    with pytest.raises(TemplateError, match="PlainQueue has 0 SQS events"):
        poller_for(parsed, "PlainQueue", sqs, resources)
    with pytest.raises(TemplateError, match="WorkQueue was not created"):
        poller_for(parsed, "WorkerFunction", sqs, LocalResources(region=REGION))


# The schedule


def _renewal_run(parameters: dict[str, str] | None = None) -> ScheduleEventSource:
    [worker] = sqs_event_sources(template())
    return renewal_schedule(template(), worker, parameters)


def test_the_renewal_run_is_the_template_schedule_at_its_rate() -> None:
    schedule = _renewal_run()

    assert (schedule.function, schedule.handler) == (
        "RenewalDispatcherFunction",
        "renew.dispatcher.lambda_handler",
    )
    assert schedule.expression == "rate(5 minutes)", "the RenewalSchedule parameter's default"
    assert schedule.interval == timedelta(minutes=5)
    assert _renewal_run({"RenewalSchedule": "rate(1 hour)"}).interval == timedelta(hours=1)


def test_the_renewal_run_is_told_from_the_other_schedules_by_the_queue_it_feeds() -> None:
    schedules = {s.function: s for s in schedule_event_sources(template())}
    assert set(schedules) == {
        "RenewalDispatcherFunction",
        "NotifyFunction",
        "WebhookEventsFunction",
    }, "the outbox's and the webhook events' sweeps"

    assert _renewal_run() == schedules["RenewalDispatcherFunction"]
    assert schedules["NotifyFunction"].interval == timedelta(minutes=5)
    assert schedules["WebhookEventsFunction"].interval == timedelta(minutes=5)
    two = parse_template("""
Resources:
  Q: {Type: AWS::SQS::Queue}
  A:
    Type: AWS::Serverless::Function
    Properties:
      Handler: a.h
      Environment: {Variables: {QUEUE: !Ref Q}}
      Events: {Run: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 hour)}}}
  B:
    Type: AWS::Serverless::Function
    Properties:
      Handler: b.h
      Environment: {Variables: {QUEUE: !GetAtt Q.Arn}}
      Events: {Run: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 hour)}}}
""")
    with pytest.raises(TemplateError, match=r"one schedule that feeds Q .* has 2"):
        renewal_schedule(two, SqsEventSource("W", "w.h", "Q"))


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(15 minutes)", timedelta(minutes=15)),
        ("rate(2 hours)", timedelta(hours=2)),
        ("rate(1 day)", timedelta(days=1)),
    ],
)
def test_rate_expressions_give_their_interval(expression: str, interval: timedelta) -> None:
    assert ScheduleEventSource("F", "f.h", expression, "s").interval == interval


@pytest.mark.parametrize(
    "expression", ["cron(0 8 * * ? *)", "at(2026-01-31T09:30:00)", "rate(0 minutes)", "rate(5)"]
)
def test_schedules_other_than_rates_are_refused_by_name(expression: str) -> None:
    with pytest.raises(TemplateError, match="rate\\(\\) schedules only"):
        _ = ScheduleEventSource("F", "f.h", expression, "s").interval


def test_the_scheduled_event_has_the_shape_of_the_sample_event() -> None:
    sample = json.loads((Path(__file__).resolve().parents[3] / SAMPLE).read_text())
    schedule = _renewal_run()

    event = schedule.event(datetime(2026, 3, 2, 8, 15, 0, 123, tzinfo=UTC), "eu-west-1")

    assert event.keys() == sample.keys()
    assert event["time"] == "2026-03-02T08:15:00Z"
    assert event["detail"] == sample["detail"] == "{}", "a string, not an object"
    assert {key: event[key] for key in ("source", "detail-type", "version", "account")} == {
        key: sample[key] for key in ("source", "detail-type", "version", "account")
    }
    [arn] = event["resources"]
    assert arn.startswith("arn:aws:scheduler:eu-west-1:123456789012:schedule/default/")
