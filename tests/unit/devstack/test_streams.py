"""Lambda's DynamoDB stream event source mapping, locally, against a stream of records held in
memory (moto's own streams are exercised in tests/devstack): the template's mapping, the
records' shape, the filter, and what becomes of a batch that fails."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.event_sources import (
    StreamEventSource,
    StreamPoller,
    dynamodb_event_sources,
    filter_patterns,
    matches,
    stream_record,
)
from devstack.template import TemplateError, parse_template
from tests.support.aws import template

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Outbox/stream/2026-01-31T09:30:00"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/Failures"
SHARD = "shardId-1"
START = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
FIRST_SEQUENCE = 100
SOURCE = StreamEventSource(
    function="NotifyFunction",
    handler="notify.handler.lambda_handler",
    table="OutboxTable",
    batch_size=3,
    report_batch_item_failures=True,
    filters=({"eventName": ["INSERT"]},),
    on_failure_queue="Failures",
)


def raw(n: int, *, event: str = "INSERT", at: datetime = START) -> dict[str, Any]:
    """Record `n` as the streams API returns it through boto3."""
    return {
        "eventID": f"e{n}",
        "eventName": event,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": at,
            "Keys": {"id": {"S": f"m{n}"}},
            "NewImage": {"id": {"S": f"m{n}"}, "status": {"S": "pending"}},
            "SequenceNumber": str(FIRST_SEQUENCE + n),
            "SizeBytes": 30,
            "StreamViewType": "NEW_IMAGE",
        },
    }


@dataclass
class FakeStreams:
    """The streams API of one stream with one shard, its records appended by `write`."""

    records: list[dict[str, Any]] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    """Sequence numbers GetRecords returned, in order: each once when reading incrementally."""

    def write(self, *records: dict[str, Any]) -> None:
        self.records.extend(records)

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:  # noqa: N803
        assert StreamArn == STREAM_ARN
        return {"StreamDescription": {"Shards": [{"ShardId": SHARD}]}}

    def get_shard_iterator(
        self,
        StreamArn: str,  # noqa: N803
        ShardId: str,  # noqa: N803
        ShardIteratorType: str,  # noqa: N803
    ) -> dict[str, Any]:
        position = {"TRIM_HORIZON": 0, "LATEST": len(self.records)}[ShardIteratorType]
        return {"ShardIterator": str(position)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803
        start = int(ShardIterator)
        records = self.records[start : start + Limit]
        self.returned += [r["dynamodb"]["SequenceNumber"] for r in records]
        return {"Records": records, "NextShardIterator": str(start + len(records))}


@dataclass
class FakeSqs:
    sent: list[dict[str, Any]] = field(default_factory=list)

    def send_message(self, QueueUrl: str, MessageBody: str) -> None:  # noqa: N803
        assert QueueUrl == QUEUE_URL
        self.sent.append(json.loads(MessageBody))


class Function:
    """A handler: records the sequence numbers of every batch, answers with `answer`."""

    def __init__(self, answer: Callable[[list[dict[str, Any]]], Any] = lambda _: None) -> None:
        self.answer = answer
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        return self.answer(event["Records"])

    @property
    def batches(self) -> list[list[int]]:
        return [
            [int(r["dynamodb"]["SequenceNumber"]) - FIRST_SEQUENCE for r in event["Records"]]
            for event in self.events
        ]


def failing_at(*positions: int) -> Callable[[list[dict[str, Any]]], Any]:
    """A partial batch response reporting the records numbered `positions`."""
    sequences = {str(FIRST_SEQUENCE + n) for n in positions}
    return lambda records: {
        "batchItemFailures": [
            {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
            for r in records
            if r["dynamodb"]["SequenceNumber"] in sequences
        ]
    }


def raising_with(*positions: int) -> Callable[[list[dict[str, Any]]], Any]:
    """Raises for a batch holding one of the records numbered `positions`."""
    sequences = {str(FIRST_SEQUENCE + n) for n in positions}

    def answer(records: list[dict[str, Any]]) -> Any:
        if any(r["dynamodb"]["SequenceNumber"] in sequences for r in records):
            raise RuntimeError("poison")
        return None

    return answer


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def poller(
    streams: FakeStreams,
    function: Function,
    sqs: FakeSqs | None = None,
    clock: Clock | None = None,
    **settings: Any,
) -> StreamPoller:
    source = StreamEventSource(**{**SOURCE.__dict__, **settings})
    return StreamPoller(
        streams,
        STREAM_ARN,
        function,
        source,
        sqs=sqs or FakeSqs(),
        failure_queue_url=QUEUE_URL,
        clock=clock or Clock(),
    )


# --- the template's mapping ---


def test_the_dynamodb_event_sources_are_the_outbox_webhook_and_document_streams() -> None:
    assert dynamodb_event_sources(template()) == [
        StreamEventSource(
            function="NotifyFunction",
            handler="notify.handler.lambda_handler",
            table="OutboxTable",
            starting_position="TRIM_HORIZON",
            batch_size=10,
            report_batch_item_failures=True,
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=20,
            maximum_record_age=timedelta(hours=1),
            filters=({"eventName": ["INSERT"]},),
            on_failure_queue="NotifyFailureQueue",
        ),
        StreamEventSource(
            function="WebhookEventsFunction",
            handler="webhooks.events.lambda_handler",
            table="WebhookEventsTable",
            starting_position="TRIM_HORIZON",
            batch_size=10,
            report_batch_item_failures=True,
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=20,
            maximum_record_age=timedelta(hours=6),
            filters=({"eventName": ["INSERT"]},),
            on_failure_queue="WebhookFailureQueue",
        ),
        StreamEventSource(
            function="InvoicesFunction",
            handler="invoices.handler.lambda_handler",
            table="DocumentsTable",
            starting_position="TRIM_HORIZON",
            batch_size=10,
            report_batch_item_failures=True,
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=20,
            maximum_record_age=timedelta(hours=6),
            filters=(
                {
                    "eventName": ["INSERT"],
                    "dynamodb": {"NewImage": {"kind": {"S": ["invoice", "credit_note"]}}},
                },
            ),
            on_failure_queue="InvoicesFailureQueue",
        ),
    ]


def _with_event(properties: str) -> dict[str, Any]:
    return parse_template(f"""
Resources:
  T: {{Type: AWS::DynamoDB::Table}}
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Events:
        Stream:
          Type: DynamoDB
          Properties: {properties}
""")


def test_lambdas_defaults_apply_when_the_event_sets_nothing() -> None:
    [source] = dynamodb_event_sources(
        _with_event("{Stream: !GetAtt T.StreamArn, StartingPosition: LATEST}")
    )

    assert source == StreamEventSource("Reader", "app.handler", "T", starting_position="LATEST")
    assert (source.batch_size, source.maximum_retry_attempts) == (100, -1)
    assert source.maximum_record_age is None, "until the record leaves the stream"


def test_a_disabled_mapping_is_not_polled() -> None:
    parsed = _with_event("{Stream: !GetAtt T.StreamArn, StartingPosition: LATEST, Enabled: false}")
    assert dynamodb_event_sources(parsed) == []


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ("{Stream: arn:aws:dynamodb:x, StartingPosition: LATEST}", "Stream must be !GetAtt"),
        ("{Stream: !GetAtt T.StreamArn, StartingPosition: AT_TIMESTAMP}", "TRIM_HORIZON or LATEST"),
        (
            "{Stream: !GetAtt T.StreamArn, StartingPosition: LATEST, TumblingWindowInSeconds: 60}",
            "does not do TumblingWindowInSeconds",
        ),
        (
            "{Stream: !GetAtt T.StreamArn, StartingPosition: LATEST,"
            " DestinationConfig: {OnFailure: {Type: SNS, Destination: !Ref Topic}}}",
            "to an SQS queue of the template only",
        ),
        (
            "{Stream: !GetAtt T.StreamArn, StartingPosition: LATEST,"
            """ FilterCriteria: {Filters: [{Pattern: '{"eventName": [{"prefix": "INS"}]}'}]}}""",
            'eventName: \\[\\{"prefix": "INS"\\}\\] is not a rule the local stack implements',
        ),
    ],
)
def test_what_the_local_poller_cannot_do_is_refused(properties: str, reason: str) -> None:
    with pytest.raises(TemplateError, match=f"^Reader: .*{reason}"):
        dynamodb_event_sources(_with_event(properties))


# --- the filter ---


def test_a_pattern_lists_the_values_a_key_may_have() -> None:
    [inserts] = filter_patterns("F", {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]})

    assert matches(inserts, stream_record(raw(1), STREAM_ARN))
    assert not matches(inserts, stream_record(raw(1, event="MODIFY"), STREAM_ARN))
    assert not matches(inserts, {"dynamodb": {}}), "a missing key matches nothing"
    assert matches({"eventName": ["INSERT", "MODIFY"]}, {"eventName": "MODIFY"})


def test_nested_keys_match_inside_the_record() -> None:
    pending = {"dynamodb": {"NewImage": {"status": {"S": ["pending"]}}}}

    assert matches(pending, stream_record(raw(1), STREAM_ARN))
    sent = raw(2)
    sent["dynamodb"]["NewImage"]["status"] = {"S": "sent"}
    assert not matches(pending, stream_record(sent, STREAM_ARN))
    assert not matches(pending, {"dynamodb": {"NewImage": "pending"}})


def test_values_match_by_json_type_and_a_list_by_any_element() -> None:
    assert not matches({"n": [1]}, {"n": "1"})
    assert not matches({"n": [1]}, {"n": True}), "JSON's true is not 1"
    assert matches({"n": [1]}, {"n": 1.0})
    assert matches({"n": [None]}, {"n": None})
    assert matches({"tags": ["b"]}, {"tags": ["a", "b"]})


def test_a_record_any_filter_selects_is_sent() -> None:
    source = StreamEventSource(
        "F",
        "h",
        "T",
        filters=filter_patterns(
            "F",
            {
                "Filters": [
                    {"Pattern": '{"eventName": ["INSERT"]}'},
                    {"Pattern": '{"eventName": ["REMOVE"]}'},
                ]
            },
        ),
    )
    assert source.selects({"eventName": "REMOVE"})
    assert not source.selects({"eventName": "MODIFY"})
    assert StreamEventSource("F", "h", "T").selects({"eventName": "MODIFY"}), "no filter"


@pytest.mark.parametrize(
    "pattern",
    ['{"eventName": "INSERT"}', '{"eventName": []}', "[]", '{"n": [{"numeric": [">", 1]}]}'],
)
def test_patterns_that_are_not_lists_of_values_are_refused(pattern: str) -> None:
    with pytest.raises(TemplateError, match=r"^F: filter pattern"):
        filter_patterns("F", {"Filters": [{"Pattern": pattern}]})


# --- the record ---


def test_a_record_is_shaped_as_lambda_sends_it() -> None:
    written = raw(1, at=datetime(2026, 1, 31, 9, 30, 15, 700_000, tzinfo=UTC))
    written["dynamodb"]["NewImage"]["blob"] = {"B": b"\x00\x01"}

    record = stream_record(written, STREAM_ARN)

    assert set(record) == {
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    }
    assert record["eventSourceARN"] == STREAM_ARN
    assert set(record["dynamodb"]) == {
        "ApproximateCreationDateTime",
        "Keys",
        "NewImage",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    }
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1769851815, "epoch seconds"
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": base64.b64encode(b"\x00\x01").decode()}
    assert record["dynamodb"]["SequenceNumber"] == "101"
    json.dumps(record)  # what Lambda sends is JSON


# --- polling ---


def test_records_reach_the_function_in_order_in_batches_filtered() -> None:
    streams, function = FakeStreams(), Function()
    streams.write(raw(0), raw(1), raw(2, event="MODIFY"), raw(3), raw(4))

    report = poller(streams, function).drain()

    assert function.batches == [[0, 1, 3], [4]], "the MODIFY dropped, batches of 3"
    assert (report.read, report.filtered_out, report.done, report.drained) == (5, 1, 4, True)


def test_each_record_is_read_once_however_many_polls() -> None:
    streams, function = FakeStreams(), Function()
    reading = poller(streams, function)
    streams.write(raw(0))
    reading.drain()
    streams.write(raw(1), raw(2))
    reading.drain()
    reading.drain()

    assert streams.returned == ["100", "101", "102"]
    assert function.batches == [[0], [1, 2]]


def test_latest_starts_after_what_the_stream_holds_and_trim_horizon_before() -> None:
    streams = FakeStreams()
    streams.write(raw(0))
    latest, horizon = Function(), Function()
    from_latest = poller(streams, latest, starting_position="LATEST")
    from_horizon = poller(streams, horizon, starting_position="TRIM_HORIZON")
    streams.write(raw(1))

    from_latest.drain()
    from_horizon.drain()

    assert latest.batches == [[1]]
    assert horizon.batches == [[0, 1]]


def test_a_reported_failure_is_retried_from_its_sequence_number() -> None:
    streams = FakeStreams()
    streams.write(raw(0), raw(1), raw(2), raw(3))
    function = Function(failing_at(1))
    polling = poller(streams, function, batch_size=3)

    [first] = polling.poll()
    [retry] = polling.poll()

    assert (first.invoked, first.done, first.retry_from) == (3, 1, "101")
    assert function.batches == [[0, 1, 2], [1, 2]], "the rest of the batch, from the failure"
    assert (retry.done, retry.retry_from) == (0, "101")
    function.answer = lambda _: None
    polling.drain()
    assert function.batches[2:] == [[1, 2], [3]]


def test_the_lowest_reported_sequence_number_is_where_the_retry_starts() -> None:
    streams = FakeStreams()
    streams.write(raw(0), raw(1), raw(2))
    function = Function(failing_at(2, 1))
    polling = poller(streams, function)

    [outcome] = polling.poll()

    assert (outcome.done, outcome.retry_from) == (1, "101")


@pytest.mark.parametrize(
    "answer",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": "999"}]},
        {"batchItemFailures": "all"},
        "done",
    ],
)
def test_a_malformed_response_fails_the_whole_batch(answer: Any) -> None:
    streams = FakeStreams()
    streams.write(raw(0), raw(1))
    function = Function(lambda _: answer)

    [outcome] = poller(streams, function).poll()

    assert (outcome.invoked, outcome.done, outcome.retry_from) == (2, 0, "100")
    assert outcome.error is not None
    assert "MalformedBatchResponse" in outcome.error


def test_without_report_batch_item_failures_the_answer_is_ignored() -> None:
    streams = FakeStreams()
    streams.write(raw(0), raw(1))
    function = Function(failing_at(0))

    report = poller(streams, function, report_batch_item_failures=False).drain()

    assert (function.batches, report.done) == ([[0, 1]], 2)


def test_an_exception_retries_the_whole_batch_then_gives_it_up_to_the_failure_queue() -> None:
    streams, sqs = FakeStreams(), FakeSqs()
    streams.write(raw(0), raw(1), raw(2))
    function = Function(raising_with(1))

    report = poller(streams, function, sqs, maximum_retry_attempts=2).drain()

    assert function.batches == [[0, 1, 2]] * 3, "the first try and two retries"
    assert (report.discarded, report.done, report.drained) == (3, 0, True)
    [given_up] = sqs.sent
    assert given_up["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert given_up["requestContext"]["approximateInvokeCount"] == 3
    assert given_up["requestContext"]["functionArn"].endswith(":function:NotifyFunction")
    assert given_up["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert given_up["version"] == "1.0"
    assert given_up["timestamp"] == "2026-01-31T09:30:00.000Z", "on the clock"
    assert given_up["DDBStreamBatchInfo"] == {
        "shardId": SHARD,
        "startSequenceNumber": "100",
        "endSequenceNumber": "102",
        "approximateArrivalOfFirstRecord": "2026-01-31T09:30:00Z",
        "approximateArrivalOfLastRecord": "2026-01-31T09:30:00Z",
        "batchSize": 3,
        "streamArn": STREAM_ARN,
    }


def test_bisecting_isolates_the_record_that_fails_and_consumes_no_retry() -> None:
    streams, sqs = FakeStreams(), FakeSqs()
    streams.write(*(raw(n) for n in range(5)))
    function = Function(raising_with(1))

    report = poller(
        streams,
        function,
        sqs,
        batch_size=4,
        bisect_batch_on_function_error=True,
        maximum_retry_attempts=1,
    ).drain()

    assert function.batches == [[0, 1, 2, 3], [0, 1], [0], [1], [1], [2, 3], [4]]
    assert (report.done, report.discarded) == (4, 1)
    [given_up] = sqs.sent
    assert given_up["DDBStreamBatchInfo"]["startSequenceNumber"] == "101"
    assert given_up["DDBStreamBatchInfo"]["batchSize"] == 1


def test_a_reported_failure_that_keeps_failing_is_given_up_after_its_retries() -> None:
    streams, sqs = FakeStreams(), FakeSqs()
    streams.write(raw(0), raw(1), raw(2))
    function = Function(failing_at(1))

    report = poller(streams, function, sqs, maximum_retry_attempts=2).drain()

    assert function.batches == [[0, 1, 2], [1, 2], [1, 2]]
    [given_up] = sqs.sent
    assert given_up["DDBStreamBatchInfo"]["startSequenceNumber"] == "101"
    assert given_up["DDBStreamBatchInfo"]["batchSize"] == 2
    assert "functionError" not in given_up["responseContext"], "the function answered"
    assert (report.done, report.discarded) == (1, 2)


def test_records_older_than_the_maximum_age_on_the_clock_are_given_up_unsent() -> None:
    streams, sqs, clock = FakeStreams(), FakeSqs(), Clock()
    streams.write(raw(0, at=START), raw(1, at=START + timedelta(minutes=30)))
    function = Function()
    polling = poller(streams, function, sqs, clock, maximum_record_age=timedelta(hours=1))
    clock.now = START + timedelta(hours=1, seconds=1)

    report = polling.drain()

    assert function.batches == [[1]], "the younger one is sent"
    [given_up] = sqs.sent
    assert given_up["requestContext"]["condition"] == "RecordAgeExceeded"
    assert given_up["requestContext"]["approximateInvokeCount"] == 0
    assert given_up["DDBStreamBatchInfo"]["endSequenceNumber"] == "100"
    assert report.discarded == 1


def test_a_failing_batch_ages_out_while_it_is_retried() -> None:
    streams, sqs, clock = FakeStreams(), FakeSqs(), Clock()
    streams.write(raw(0))
    function = Function(raising_with(0))
    polling = poller(streams, function, sqs, clock, maximum_record_age=timedelta(hours=1))
    polling.poll()
    polling.poll()
    clock.now = START + timedelta(hours=2)

    [aged] = polling.poll()

    assert len(function.batches) == 2
    assert (aged.discarded, aged.condition) == (1, "RecordAgeExceeded")
    assert sqs.sent[0]["requestContext"]["approximateInvokeCount"] == 2


def test_without_a_maximum_the_stream_retention_bounds_the_retries() -> None:
    streams, clock = FakeStreams(), Clock()
    streams.write(raw(0))
    function = Function(raising_with(0))
    polling = poller(streams, function, clock=clock, maximum_retry_attempts=-1)

    report = polling.drain(max_rounds=50)
    assert (len(function.batches), report.drained) == (50, False), "retried for ever"
    clock.now = START + timedelta(hours=24, seconds=1)
    assert polling.drain().discarded == 1
