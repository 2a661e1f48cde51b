"""The template's event sources, locally: ``ScheduleV2`` events (their rate and the event
EventBridge Scheduler sends); Lambda's SQS event source mapping (the ``SQS`` events, and a
poller that receives batches, invokes the handler with the event Lambda sends and settles the
messages); Lambda's DynamoDB stream event source mapping (the ``DynamoDB`` events, and a poller
that reads a table's stream, filters, batches, retries, bisects and gives up as Lambda does);
and SNS invoking a function (the ``SNS`` events, delivered through a queue subscribed to the
topic)."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.api_gateway import Handler, LocalLambdaContext, import_handler
from devstack.resources import LOCAL_ACCOUNT_ID, LocalResources, UnresolvableValue, parameter_value
from devstack.template import TemplateError, function_events, resources_of_type

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 10
"""SAM's default ``BatchSize`` for SQS events."""
_RECEIVE_LIMIT = 10
"""The most messages one ReceiveMessage (or one *Batch call) handles."""


_RATE = re.compile(r"^rate\((?P<value>[1-9][0-9]*) (?P<unit>minute|hour|day)s?\)$")


@dataclass(frozen=True)
class ScheduleEventSource:
    """One ``Type: ScheduleV2`` event of a function in the template."""

    function: str
    handler: str
    expression: str
    """``rate(5 minutes)`` …, parameters resolved."""
    name: str
    """The schedule's name; CloudFormation generates one where the template omits it."""

    @property
    def interval(self) -> timedelta:
        """How often a ``rate()`` schedule runs; a ``cron()`` or ``at()`` one is a
        `TemplateError` (the local stack runs rates only)."""
        found = _RATE.match(self.expression)
        if found is None:
            raise TemplateError(
                f"{self.function}: the local stack runs rate() schedules only, "
                f"not {self.expression!r}"
            )
        return timedelta(**{f"{found['unit']}s": int(found["value"])})

    def event(self, at: datetime, region: str) -> dict[str, Any]:
        """What EventBridge Scheduler sends when the schedule has no ``Input``
        (events/renew/README.md): an EventBridge envelope whose ``detail`` is the string
        ``"{}"``."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler",
            "account": LOCAL_ACCOUNT_ID,
            "time": f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
            "region": region,
            "resources": [
                f"arn:aws:scheduler:{region}:{LOCAL_ACCOUNT_ID}:schedule/default/{self.name}"
            ],
            "detail": "{}",
        }


def schedule_event_sources(
    template: Mapping[str, Any], parameters: Mapping[str, str] | None = None
) -> list[ScheduleEventSource]:
    """Every ``Type: ScheduleV2`` event of every ``AWS::Serverless::Function``, in template
    order; ``!Ref`` to a parameter takes `parameters` or its Default."""
    sources = []
    for logical_id, handler, event in function_events(template, "ScheduleV2"):
        expression = event.get("ScheduleExpression")
        if isinstance(expression, dict) and isinstance(expression.get("Ref"), str):
            expression = parameter_value(template, expression["Ref"], parameters)
        if not isinstance(expression, str):
            raise UnresolvableValue(f"{logical_id}: {expression!r} is not a schedule expression")
        name = event.get("Name")
        sources.append(
            ScheduleEventSource(
                logical_id,
                handler,
                expression,
                name if isinstance(name, str) else f"local-{logical_id}Schedule",
            )
        )
    return sources


@dataclass(frozen=True)
class SqsEventSource:
    """One ``Type: SQS`` event of a function in the template: its mapping's settings."""

    function: str
    """The function's logical id."""
    handler: str
    """The function's ``Handler``: ``package.module.function``."""
    queue: str
    """The queue's logical id."""
    batch_size: int = DEFAULT_BATCH_SIZE
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    """``ScalingConfig.MaximumConcurrency``; None when the mapping sets none."""


def sqs_event_sources(
    template: Mapping[str, Any], parameters: Mapping[str, str] | None = None
) -> list[SqsEventSource]:
    """Every ``Type: SQS`` event of every ``AWS::Serverless::Function``, in template order;
    ``!Ref`` to a parameter takes `parameters` or its Default."""
    return [
        _source(template, logical_id, handler, event, parameters)
        for logical_id, handler, event in function_events(template, "SQS")
    ]


def _source(
    template: Mapping[str, Any],
    function: str,
    handler: str,
    event: Mapping[str, Any],
    parameters: Mapping[str, str] | None,
) -> SqsEventSource:
    queue = event.get("Queue")
    if not (isinstance(queue, dict) and queue.get("Fn::GetAtt", [None, None])[1] == "Arn"):
        # A queue outside the template (an ARN as text) has nothing local to poll.
        raise TemplateError(f"{function}: an SQS event's Queue must be !GetAtt <Queue>.Arn")
    concurrency = (event.get("ScalingConfig") or {}).get("MaximumConcurrency")
    return SqsEventSource(
        function=function,
        handler=handler,
        queue=queue["Fn::GetAtt"][0],
        batch_size=_number(template, event.get("BatchSize", DEFAULT_BATCH_SIZE), parameters),
        report_batch_item_failures="ReportBatchItemFailures"
        in (event.get("FunctionResponseTypes") or []),
        maximum_concurrency=(
            None if concurrency is None else _number(template, concurrency, parameters)
        ),
    )


def _number(template: Mapping[str, Any], value: Any, parameters: Mapping[str, str] | None) -> int:
    if isinstance(value, dict) and isinstance(value.get("Ref"), str):
        return int(parameter_value(template, value["Ref"], parameters))
    if isinstance(value, int):
        return value
    raise UnresolvableValue(f"{value!r} is not a number the local stack can work out")


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A message as ReceiveMessage returns it (``Attributes`` and ``MessageAttributes`` asked for
    with ``All``), as one record of the event Lambda sends."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    # Lambda's JSON carries binary values base64-encoded, and always both list fields.
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _base64(value["BinaryValue"])
    attribute["stringListValues"] = list(value.get("StringListValues") or [])
    attribute["binaryListValues"] = [_base64(b) for b in value.get("BinaryListValues") or []]
    attribute["dataType"] = value["DataType"]
    return attribute


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


@dataclass(frozen=True)
class BatchOutcome:
    """One batch: what was received, deleted and returned to the queue, and why."""

    received: int
    deleted: int
    failed_items: tuple[str, ...] = ()
    """Message ids the handler reported in ``batchItemFailures``."""
    error: str | None = None
    """Why the whole batch went back: the handler raised, or its response was malformed."""


@dataclass
class DrainReport:
    batches: int = 0
    received: int = 0
    deleted: int = 0
    failed_items: int = 0
    """Messages reported in ``batchItemFailures``, summed over batches."""
    handler_errors: list[str] = field(default_factory=list)
    """One entry per batch returned whole: the handler's exception or the malformed response."""
    rounds: int = 0
    drained: bool = False
    """Whether the queue had nothing visible left; False when `max_rounds` ran out first."""

    def add(self, outcome: BatchOutcome) -> None:
        self.batches += 1
        self.received += outcome.received
        self.deleted += outcome.deleted
        self.failed_items += len(outcome.failed_items)
        if outcome.error is not None:
            self.handler_errors.append(outcome.error)


class MalformedBatchResponse(ValueError):
    """A response Lambda treats as the failure of the whole batch."""


class SqsPoller:
    """Lambda's SQS poller for one event source: receive up to ``batch_size`` messages, invoke
    the handler with them, delete every message that did not fail. A failed message (or every
    message of a batch whose handler raised) becomes visible again after `retry_delay` seconds;
    SQS itself moves it to the dead-letter queue after the redrive policy's maxReceiveCount.

    `retry_delay` replaces the queue's visibility timeout, which Lambda waits out (540 s for
    the renewal queue), so that tests and the local stack retry at once; None waits it out too.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler,
        source: SqsEventSource,
        *,
        retry_delay: int | None = 0,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self.source = source
        self._retry_delay = retry_delay
        self._queue_arn: str = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        # moto does not make a receive atomic: two threads receiving at once could both be
        # handed the same message, which SQS never does within the visibility timeout.
        self._receiving = threading.Lock()

    def poll(self) -> BatchOutcome:
        """One batch: receive, invoke, settle. Nothing received is an empty outcome."""
        with self._receiving:
            messages = self._receive()
        if not messages:
            return BatchOutcome(received=0, deleted=0)
        event = {
            "Records": [
                sqs_record(message, self._queue_arn, self._sqs.meta.region_name)
                for message in messages
            ]
        }
        context = LocalLambdaContext.for_function(self.source.function)
        try:
            failed = self._failed_ids(self._handler(event, context), messages)
        except Exception as error:  # any failure returns the whole batch, as in Lambda
            logger.warning("%s failed its batch: %r", self.source.function, error)
            self._retry(messages)
            return BatchOutcome(received=len(messages), deleted=0, error=repr(error))
        done = [m for m in messages if m["MessageId"] not in failed]
        self._delete(done)
        self._retry([m for m in messages if m["MessageId"] in failed])
        return BatchOutcome(len(messages), len(done), tuple(sorted(failed)))

    def drain(self, *, concurrency: int = 1, max_rounds: int = 100) -> DrainReport:
        """Poll until a round of `concurrency` parallel polls receives nothing (the queue has
        nothing visible left), or for `max_rounds` rounds at most."""
        report = DrainReport()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            while report.rounds < max_rounds:
                report.rounds += 1
                outcomes = list(pool.map(lambda _: self.poll(), range(concurrency)))
                for outcome in outcomes:
                    if outcome.received:
                        report.add(outcome)
                if not any(outcome.received for outcome in outcomes):
                    report.drained = True
                    break
        return report

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.source.batch_size:
            received = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(_RECEIVE_LIMIT, self.source.batch_size - len(messages)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not received:
                break
            messages.extend(received)
        return messages

    def _failed_ids(self, response: Any, messages: Sequence[Mapping[str, Any]]) -> set[str]:
        """The ids the response reports failed; raises `MalformedBatchResponse` for the answers
        Lambda treats as the failure of the whole batch."""
        # The runtime sends the response as JSON: one that cannot be is an error of the batch.
        response = json.loads(json.dumps(response))
        if not self.source.report_batch_item_failures or response is None:
            return set()
        if not isinstance(response, dict):
            raise MalformedBatchResponse(f"not a batch response: {response!r}")
        failures = response.get("batchItemFailures") or []
        if not isinstance(failures, list):
            raise MalformedBatchResponse(f"batchItemFailures is not a list: {failures!r}")
        ids = {message["MessageId"] for message in messages}
        reported = {
            failure.get("itemIdentifier") if isinstance(failure, dict) else None
            for failure in failures
        }
        if not reported <= ids:
            raise MalformedBatchResponse(f"not message ids of the batch: {reported - ids!r}")
        return {str(identifier) for identifier in reported}

    def _delete(self, messages: Sequence[Mapping[str, Any]]) -> None:
        for chunk in _batches(messages):
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)
                ],
            )

    def _retry(self, messages: Sequence[Mapping[str, Any]]) -> None:
        if self._retry_delay is None:
            return
        for chunk in _batches(messages):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {
                        "Id": str(n),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": self._retry_delay,
                    }
                    for n, m in enumerate(chunk)
                ],
            )


def _batches(
    messages: Sequence[Mapping[str, Any]],
) -> Iterator[Sequence[Mapping[str, Any]]]:
    """`messages` in runs of at most 10, the most one SQS batch call takes."""
    for start in range(0, len(messages), _RECEIVE_LIMIT):
        yield messages[start : start + _RECEIVE_LIMIT]


def poller_for(
    template: Mapping[str, Any],
    function: str,
    sqs: Any,
    resources: LocalResources,
    *,
    retry_delay: int | None = 0,
    parameters: Mapping[str, str] | None = None,
    load_handler: Callable[[str], Handler] = import_handler,
) -> SqsPoller:
    """The poller of `function`'s (one) SQS event, on the queue created in `resources`, with
    the function's handler loaded by `load_handler` (imported as Lambda imports it)."""
    sources = [s for s in sqs_event_sources(template, parameters) if s.function == function]
    if len(sources) != 1:
        raise TemplateError(f"{function} has {len(sources)} SQS events; expected one")
    [source] = sources
    queue = resources.queues.get(source.queue)
    if queue is None:
        raise TemplateError(f"{source.queue} was not created")
    return SqsPoller(sqs, queue.url, load_handler(source.handler), source, retry_delay=retry_delay)


# --- DynamoDB streams ---

DEFAULT_STREAM_BATCH_SIZE = 100
"""Lambda's default ``BatchSize`` for a DynamoDB stream."""
STREAM_RETENTION = timedelta(hours=24)
"""How long DynamoDB Streams keeps a record: without a maximum age (-1), how long Lambda retries."""
_READ_LIMIT = 1000
"""The most records one GetRecords returns."""
_STARTING_POSITIONS = frozenset({"TRIM_HORIZON", "LATEST"})
_STREAM_PROPERTIES = frozenset(
    {
        "Stream",
        "StartingPosition",
        "BatchSize",
        "Enabled",
        "FunctionResponseTypes",
        "BisectBatchOnFunctionError",
        "MaximumRetryAttempts",
        "MaximumRecordAgeInSeconds",
        "FilterCriteria",
        "DestinationConfig",
        "MaximumBatchingWindowInSeconds",
        "ParallelizationFactor",
    }
)
"""What a ``Type: DynamoDB`` event may set locally. The last two change only timing and
concurrency, which the local poller does not reproduce (docs/local-stack.md); anything else
(tumbling windows, a starting timestamp, metrics) is refused rather than ignored."""

FilterPattern = Mapping[str, Any]


@dataclass(frozen=True)
class StreamEventSource:
    """One ``Type: DynamoDB`` event of a function in the template: its mapping's settings."""

    function: str
    handler: str
    table: str
    """The table's logical id (``Stream: !GetAtt <Table>.StreamArn``)."""
    starting_position: str = "TRIM_HORIZON"
    batch_size: int = DEFAULT_STREAM_BATCH_SIZE
    report_batch_item_failures: bool = False
    bisect_batch_on_function_error: bool = False
    maximum_retry_attempts: int = -1
    """-1: until the record expires from the stream (`STREAM_RETENTION`)."""
    maximum_record_age: timedelta | None = None
    """None (-1 in the template): until the record expires from the stream."""
    filters: tuple[FilterPattern, ...] = ()
    """``FilterCriteria.Filters``' patterns, parsed: a record matching any one is sent."""
    on_failure_queue: str | None = None
    """The queue's logical id of ``DestinationConfig.OnFailure``, if any."""

    def selects(self, record: Mapping[str, Any]) -> bool:
        """Whether Lambda sends `record` (a record of the event) to the function."""
        return not self.filters or any(matches(pattern, record) for pattern in self.filters)


def dynamodb_event_sources(
    template: Mapping[str, Any], parameters: Mapping[str, str] | None = None
) -> list[StreamEventSource]:
    """Every enabled ``Type: DynamoDB`` event of every ``AWS::Serverless::Function``, in
    template order; ``!Ref`` to a parameter takes `parameters` or its Default. What the local
    poller cannot do as Lambda does is a `TemplateError` naming the function."""
    sources = []
    for function, handler, event in function_events(template, "DynamoDB"):
        if _flag(template, event.get("Enabled", True), parameters) is False:
            continue
        sources.append(_stream_source(template, function, handler, event, parameters))
    return sources


def _stream_source(
    template: Mapping[str, Any],
    function: str,
    handler: str,
    event: Mapping[str, Any],
    parameters: Mapping[str, str] | None,
) -> StreamEventSource:
    unknown = sorted(set(event) - _STREAM_PROPERTIES)
    if unknown:
        raise TemplateError(
            f"{function}: the local stack's stream poller does not do {', '.join(unknown)}"
        )
    stream = event.get("Stream")
    if not (
        isinstance(stream, dict) and (stream.get("Fn::GetAtt") or [None, None])[1:] == ["StreamArn"]
    ):
        raise TemplateError(
            f"{function}: a DynamoDB event's Stream must be !GetAtt <Table>.StreamArn"
        )
    position = _text_value(template, event.get("StartingPosition"), parameters)
    if position not in _STARTING_POSITIONS:
        raise TemplateError(
            f"{function}: StartingPosition {position!r}: the local stack reads from "
            "TRIM_HORIZON or LATEST"
        )
    age = _number(template, event.get("MaximumRecordAgeInSeconds", -1), parameters)
    return StreamEventSource(
        function=function,
        handler=handler,
        table=stream["Fn::GetAtt"][0],
        starting_position=position,
        batch_size=_number(template, event.get("BatchSize", DEFAULT_STREAM_BATCH_SIZE), parameters),
        report_batch_item_failures="ReportBatchItemFailures"
        in (event.get("FunctionResponseTypes") or []),
        bisect_batch_on_function_error=bool(
            _flag(template, event.get("BisectBatchOnFunctionError", False), parameters)
        ),
        maximum_retry_attempts=_number(template, event.get("MaximumRetryAttempts", -1), parameters),
        maximum_record_age=None if age == -1 else timedelta(seconds=age),
        filters=filter_patterns(function, event.get("FilterCriteria")),
        on_failure_queue=_on_failure_queue(function, event.get("DestinationConfig")),
    )


def _text_value(
    template: Mapping[str, Any], value: Any, parameters: Mapping[str, str] | None
) -> Any:
    if isinstance(value, dict) and isinstance(value.get("Ref"), str):
        return parameter_value(template, value["Ref"], parameters)
    return value


def _flag(template: Mapping[str, Any], value: Any, parameters: Mapping[str, str] | None) -> bool:
    value = _text_value(template, value, parameters)
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise UnresolvableValue(f"{value!r} is not a boolean the local stack can work out")


def _on_failure_queue(function: str, config: Any) -> str | None:
    if not config:
        return None
    on_failure = (config or {}).get("OnFailure") or {}
    destination = on_failure.get("Destination")
    if on_failure.get("Type", "SQS") != "SQS" or not (
        isinstance(destination, dict)
        and (destination.get("Fn::GetAtt") or [None, None])[1:] == ["Arn"]
    ):
        raise TemplateError(
            f"{function}: the local stack sends discarded batches to an SQS queue of the "
            "template only (OnFailure: {Type: SQS, Destination: !GetAtt <Queue>.Arn})"
        )
    return str(destination["Fn::GetAtt"][0])


def filter_patterns(function: str, criteria: Any) -> tuple[FilterPattern, ...]:
    """``FilterCriteria``'s patterns, parsed and checked: a key maps to the list of values it
    may have, or to a pattern of its own (nested keys). Lambda's other rules (prefix, numeric,
    exists, anything-but …) are a `TemplateError`: the local poller does not implement them."""
    if not criteria:
        return ()
    filters = criteria.get("Filters") if isinstance(criteria, dict) else None
    if not isinstance(filters, list) or not filters:
        raise TemplateError(f"{function}: FilterCriteria needs a list of Filters")
    patterns = []
    for entry in filters:
        text = entry.get("Pattern") if isinstance(entry, dict) else None
        if not isinstance(text, str):
            raise TemplateError(f"{function}: a filter's Pattern is a JSON string")
        try:
            pattern = json.loads(text)
        except ValueError as error:
            raise TemplateError(f"{function}: filter pattern {text!r} is not JSON") from error
        _check_pattern(function, pattern, text)
        patterns.append(pattern)
    return tuple(patterns)


_Scalar = str | int | float | bool | None


def _check_pattern(function: str, pattern: Any, text: str) -> None:
    if not isinstance(pattern, dict) or not pattern:
        raise TemplateError(f"{function}: filter pattern {text!r} is not a JSON object of rules")
    for key, rule in pattern.items():
        if isinstance(rule, dict):
            _check_pattern(function, rule, text)
        elif not (
            isinstance(rule, list) and rule and all(isinstance(value, _Scalar) for value in rule)
        ):
            raise TemplateError(
                f"{function}: filter pattern {text!r}: {key}: {json.dumps(rule)} is not a "
                "rule the local stack implements (a list of values, or nested keys)"
            )


def matches(pattern: FilterPattern, value: Mapping[str, Any]) -> bool:
    """Whether `value` matches `pattern` as Lambda's event filtering matches it: every key of
    the pattern is present, and its value is one of the listed ones (a list matches when one of
    its elements does) or matches the nested pattern."""
    for key, rule in pattern.items():
        if key not in value:
            return False
        found = value[key]
        if isinstance(rule, dict):
            if not (isinstance(found, dict) and matches(rule, found)):
                return False
        elif not any(
            _same(candidate, allowed) for candidate in _elements(found) for allowed in rule
        ):
            return False
    return True


def _elements(found: Any) -> list[Any]:
    return list(found) if isinstance(found, list) else [found]


def _same(found: Any, allowed: Any) -> bool:
    # JSON's true is not 1, nor "1" 1.
    if isinstance(found, bool) or isinstance(allowed, bool):
        return found is allowed
    if isinstance(found, int | float) and isinstance(allowed, int | float):
        return found == allowed
    return type(found) is type(allowed) and found == allowed


def stream_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A record as the streams API's GetRecords returns it (through boto3) as one record of the
    event Lambda sends: its fields, ``eventSourceARN``, ``ApproximateCreationDateTime`` in epoch
    seconds and binary attribute values base64-encoded (Lambda's JSON)."""
    dynamodb = {key: _json_value(value) for key, value in record["dynamodb"].items()}
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    event_record = {key: _json_value(value) for key, value in record.items() if key != "dynamodb"}
    event_record["dynamodb"] = dynamodb
    event_record["eventSourceARN"] = stream_arn
    return event_record


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return _base64(bytes(value))
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, list | set | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value


def created_at(record: Mapping[str, Any]) -> datetime:
    """When an event record's change was written (``ApproximateCreationDateTime``)."""
    return datetime.fromtimestamp(record["dynamodb"]["ApproximateCreationDateTime"], UTC)


@dataclass(frozen=True)
class StreamBatchOutcome:
    """One invocation with a batch of a shard's records, or records given up on."""

    shard: str
    invoked: int = 0
    """Records in the batch the function was invoked with (0: nothing invoked)."""
    done: int = 0
    """Records the function finished: the whole batch, or those before the first failure."""
    retry_from: str | None = None
    """The sequence number the next batch starts at after a failure."""
    error: str | None = None
    """Why the whole batch failed: the function raised, or its response was malformed."""
    bisected: bool = False
    discarded: int = 0
    """Records given up on (retries or age exhausted) and described to the OnFailure queue."""
    condition: str | None = None
    """``RetryAttemptsExhausted`` or ``RecordAgeExceeded`` when records were given up on."""


@dataclass
class StreamDrainReport:
    rounds: int = 0
    read: int = 0
    """Records read from the stream."""
    filtered_out: int = 0
    """Records read that no filter selected: never sent, as Lambda drops them."""
    invocations: int = 0
    done: int = 0
    """Records the function finished."""
    failed_invocations: int = 0
    """Invocations that raised, answered malformed or reported a failure."""
    handler_errors: list[str] = field(default_factory=list)
    discarded: int = 0
    """Records given up on and described to the OnFailure queue (or dropped without one)."""
    drained: bool = False
    """Whether a round read nothing new and left nothing to retry; False when `max_rounds`
    ran out first (a batch failing for ever)."""

    def add(self, outcome: StreamBatchOutcome) -> None:
        if outcome.invoked:
            self.invocations += 1
            self.done += outcome.done
            if outcome.done < outcome.invoked:
                self.failed_invocations += 1
        if outcome.error is not None:
            self.handler_errors.append(outcome.error)
        self.discarded += outcome.discarded


@dataclass
class _Shard:
    """A shard's checkpoint: the iterator after what was read, the records read and not yet
    done (their first is where the mapping stands), and the retries of that position."""

    id: str
    iterator: str | None
    pending: list[dict[str, Any]] = field(default_factory=list)
    retries: int = 0
    """Failed invocations since the position last moved."""
    invocations: int = 0
    """Invocations that included the record at the position (approximateInvokeCount)."""
    splits: list[int] = field(default_factory=list)
    """Sizes of the next batches after a bisection, before the batch size applies again."""
    closed: bool = False

    def moved(self) -> None:
        self.retries = 0
        self.invocations = 0


class StreamPoller:
    """Lambda's event source mapping for a DynamoDB stream, one shard after another: read new
    records (incrementally: each GetRecords continues where the last stopped), drop those no
    filter selects, invoke the handler with a batch, move the checkpoint past what it finished.

    A failure keeps the checkpoint: a ``batchItemFailures`` answer (`ReportBatchItemFailures`)
    at the lowest sequence number reported, the records before it done; an exception (or a
    malformed answer) at the batch's first record, the batch split in two first when
    ``BisectBatchOnFunctionError`` says so (a split consumes no retry). The next poll retries at
    once. After ``MaximumRetryAttempts`` retries, or once the records are older than
    ``MaximumRecordAgeInSeconds`` on `clock` (the clock that stamps the records: the stack's),
    the records are skipped and an invocation record describing them is sent to the OnFailure
    queue, as Lambda does."""

    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        handler: Handler,
        source: StreamEventSource,
        *,
        sqs: Any = None,
        failure_queue_url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        region: str = "us-east-1",
    ) -> None:
        if source.on_failure_queue is not None and (sqs is None or failure_queue_url is None):
            raise TemplateError(
                f"{source.function}: its OnFailure queue {source.on_failure_queue} needs an "
                "SQS client and the queue's URL"
            )
        self._streams = streams
        self.stream_arn = stream_arn
        self._handler = handler
        self.source = source
        self._sqs = sqs
        self._failure_queue_url = failure_queue_url
        self._clock = clock
        self._function_arn = (
            f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{source.function}"
        )
        self._turn = threading.Lock()
        self._shards: dict[str, _Shard] = {}
        self._read_count = 0
        self._filtered_count = 0
        # The mapping starts where StartingPosition says, now: LATEST skips what is there.
        self._discover(source.starting_position)

    def poll(self) -> list[StreamBatchOutcome]:
        """One round: for each shard, read what is new, then one batch (or the records given up
        on). Nothing to do is an empty list."""
        with self._turn:
            self._discover("TRIM_HORIZON")
            outcomes = []
            for shard in self._shards.values():
                self._read(shard)
                outcome = self._next_batch(shard)
                if outcome is not None:
                    outcomes.append(outcome)
            return outcomes

    def drain(self, *, max_rounds: int = 1000) -> StreamDrainReport:
        """Poll until a round reads nothing new and leaves nothing to retry, or for `max_rounds`
        rounds at most."""
        report = StreamDrainReport()
        while report.rounds < max_rounds:
            report.rounds += 1
            before, filtered = self._read_count, self._filtered_count
            outcomes = self.poll()
            for outcome in outcomes:
                report.add(outcome)
            report.read += self._read_count - before
            report.filtered_out += self._filtered_count - filtered
            if not outcomes and self._read_count == before and not self.pending:
                report.drained = True
                break
        return report

    @property
    def pending(self) -> int:
        """Records read and not yet done or given up on."""
        return sum(len(shard.pending) for shard in self._shards.values())

    def _discover(self, position: str) -> None:
        description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for listed in description.get("Shards", []):
            if listed["ShardId"] in self._shards:
                continue
            # A shard found after the start is new: Lambda reads it from its beginning.
            iterator = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=listed["ShardId"], ShardIteratorType=position
            )["ShardIterator"]
            self._shards[listed["ShardId"]] = _Shard(listed["ShardId"], iterator)

    def _read(self, shard: _Shard) -> None:
        if shard.iterator is None or len(shard.pending) >= self.source.batch_size:
            return
        answer = self._streams.get_records(ShardIterator=shard.iterator, Limit=_READ_LIMIT)
        shard.iterator = answer.get("NextShardIterator")
        for record in answer.get("Records", []):
            self._read_count += 1
            event_record = stream_record(record, self.stream_arn)
            if self.source.selects(event_record):
                shard.pending.append(event_record)
            else:
                self._filtered_count += 1

    def _next_batch(self, shard: _Shard) -> StreamBatchOutcome | None:
        expired = self._expired(shard)
        if expired:
            return self._give_up(shard, expired, "RecordAgeExceeded", function_error=None)
        if not shard.pending:
            return None
        size = shard.splits[0] if shard.splits else self.source.batch_size
        batch = shard.pending[:size]
        shard.invocations += 1
        context = LocalLambdaContext.for_function(self.source.function)
        try:
            failed = self._first_failure(self._handler({"Records": batch}, context), batch)
        except Exception as error:  # the whole batch failed, as in Lambda
            logger.warning("%s failed its stream batch: %r", self.source.function, error)
            return self._function_error(shard, batch, repr(error))
        if failed is None:
            del shard.pending[: len(batch)]
            if shard.splits:
                shard.splits.pop(0)
            shard.moved()
            return StreamBatchOutcome(shard.id, invoked=len(batch), done=len(batch))
        return self._partial_failure(shard, batch, failed)

    def _partial_failure(
        self, shard: _Shard, batch: list[dict[str, Any]], failed: int
    ) -> StreamBatchOutcome:
        """Retried from the record at `failed`: the records before it are done, and the next
        batch is the rest of this one."""
        del shard.pending[:failed]
        remaining = batch[failed:]
        if failed:
            shard.moved()
            shard.invocations = 1
        if shard.splits:
            shard.splits[0] = len(remaining)
        elif len(remaining) < self.source.batch_size:
            shard.splits.append(len(remaining))
        outcome = StreamBatchOutcome(
            shard.id,
            invoked=len(batch),
            done=failed,
            retry_from=remaining[0]["dynamodb"]["SequenceNumber"],
        )
        return self._retried(shard, remaining, outcome, function_error=None)

    def _function_error(
        self, shard: _Shard, batch: list[dict[str, Any]], error: str
    ) -> StreamBatchOutcome:
        first = batch[0]["dynamodb"]["SequenceNumber"]
        if self.source.bisect_batch_on_function_error and len(batch) > 1:
            half = len(batch) // 2
            if shard.splits:
                shard.splits[0:1] = [half, len(batch) - half]
            else:
                shard.splits = [half, len(batch) - half]
            return StreamBatchOutcome(
                shard.id, invoked=len(batch), retry_from=first, error=error, bisected=True
            )
        outcome = StreamBatchOutcome(shard.id, invoked=len(batch), retry_from=first, error=error)
        return self._retried(shard, batch, outcome, function_error="Unhandled")

    def _retried(
        self,
        shard: _Shard,
        batch: list[dict[str, Any]],
        outcome: StreamBatchOutcome,
        *,
        function_error: str | None,
    ) -> StreamBatchOutcome:
        shard.retries += 1
        limit = self.source.maximum_retry_attempts
        if limit < 0 or shard.retries <= limit:
            return outcome
        given_up = self._give_up(shard, batch, "RetryAttemptsExhausted", function_error)
        return replace(
            outcome, discarded=given_up.discarded, condition=given_up.condition, retry_from=None
        )

    def _expired(self, shard: _Shard) -> list[dict[str, Any]]:
        """The records at the front of `shard` older than the maximum age (or the stream's
        retention) on the clock."""
        oldest = self._clock() - (self.source.maximum_record_age or STREAM_RETENTION)
        expired = []
        for record in shard.pending:
            if created_at(record) >= oldest:
                break
            expired.append(record)
        return expired

    def _give_up(
        self,
        shard: _Shard,
        records: list[dict[str, Any]],
        condition: str,
        function_error: str | None,
    ) -> StreamBatchOutcome:
        invoked = shard.invocations if records[0] is shard.pending[0] else 0
        del shard.pending[: len(records)]
        if condition == "RetryAttemptsExhausted" and shard.splits:
            shard.splits.pop(0)  # the other half of a bisected batch comes next
        else:
            shard.splits.clear()
        shard.moved()
        if self._failure_queue_url is not None:
            self._sqs.send_message(
                QueueUrl=self._failure_queue_url,
                MessageBody=json.dumps(
                    self.invocation_record(shard.id, records, condition, invoked, function_error)
                ),
            )
        logger.warning(
            "%s gave up on %d stream records of %s (%s)",
            self.source.function,
            len(records),
            shard.id,
            condition,
        )
        return StreamBatchOutcome(shard.id, discarded=len(records), condition=condition)

    def invocation_record(
        self,
        shard: str,
        records: Sequence[Mapping[str, Any]],
        condition: str,
        invocations: int,
        function_error: str | None = None,
    ) -> dict[str, Any]:
        """What Lambda sends to a stream mapping's OnFailure destination about `records` given
        up on: where they are in the stream (not the records themselves)."""
        now = self._clock().astimezone(UTC)
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error is not None:
            response["functionError"] = function_error
        return {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self._function_arn,
                "condition": condition,
                "approximateInvokeCount": invocations,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z",
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": f"{created_at(records[0]):%Y-%m-%dT%H:%M:%SZ}",
                "approximateArrivalOfLastRecord": f"{created_at(records[-1]):%Y-%m-%dT%H:%M:%SZ}",
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }

    def _first_failure(self, response: Any, batch: Sequence[Mapping[str, Any]]) -> int | None:
        """The position in `batch` of the lowest sequence number the response reports failed,
        None when none is; raises `MalformedBatchResponse` for the answers Lambda treats as the
        failure of the whole batch."""
        response = json.loads(json.dumps(response))
        if not self.source.report_batch_item_failures or response is None:
            return None
        if not isinstance(response, dict):
            raise MalformedBatchResponse(f"not a batch response: {response!r}")
        failures = response.get("batchItemFailures") or []
        if not isinstance(failures, list):
            raise MalformedBatchResponse(f"batchItemFailures is not a list: {failures!r}")
        positions = {record["dynamodb"]["SequenceNumber"]: n for n, record in enumerate(batch)}
        reported = [
            failure.get("itemIdentifier") if isinstance(failure, dict) else None
            for failure in failures
        ]
        unknown = [identifier for identifier in reported if identifier not in positions]
        if unknown:
            raise MalformedBatchResponse(f"not sequence numbers of the batch: {unknown!r}")
        return min((positions[identifier] for identifier in reported), default=None)


def stream_poller_for(
    template: Mapping[str, Any],
    function: str,
    streams: Any,
    resources: LocalResources,
    *,
    sqs: Any = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    parameters: Mapping[str, str] | None = None,
    load_handler: Callable[[str], Handler] = import_handler,
) -> StreamPoller:
    """The poller of `function`'s (one) DynamoDB stream event, on the table's stream created in
    `resources`, with the handler loaded by `load_handler`; its OnFailure queue (if any) is the
    one created in `resources`, reached with `sqs`. `clock` measures the records' age: the clock
    moto server stamps them with (the wall clock unless it was given a clock file)."""
    sources = [s for s in dynamodb_event_sources(template, parameters) if s.function == function]
    if len(sources) != 1:
        raise TemplateError(f"{function} has {len(sources)} DynamoDB events; expected one")
    [source] = sources
    table = resources.tables.get(source.table)
    if table is None or table.stream_arn is None:
        raise TemplateError(f"{source.table} was not created with a stream")
    failure_queue_url = None
    if source.on_failure_queue is not None:
        queue = resources.queues.get(source.on_failure_queue)
        if queue is None:
            raise TemplateError(f"{source.on_failure_queue} was not created")
        failure_queue_url = queue.url
    return StreamPoller(
        streams,
        table.stream_arn,
        load_handler(source.handler),
        source,
        sqs=sqs,
        failure_queue_url=failure_queue_url,
        clock=clock,
        region=resources.region,
    )


# --- SNS ---

DEFAULT_ASYNC_RETRIES = 2
"""Lambda's retries of a failed asynchronous invocation when ``EventInvokeConfig`` sets none."""


@dataclass(frozen=True)
class SnsEventSource:
    """One ``Type: SNS`` event of a function in the template, and the function's
    ``EventInvokeConfig`` (SNS invokes a function asynchronously)."""

    function: str
    handler: str
    topic: str
    """The topic's logical id (``Topic: !Ref <Topic>``)."""
    maximum_retry_attempts: int = DEFAULT_ASYNC_RETRIES
    on_failure_queue: str | None = None
    """The queue's logical id of ``EventInvokeConfig.DestinationConfig.OnFailure``, if any."""


def sns_event_sources(
    template: Mapping[str, Any], parameters: Mapping[str, str] | None = None
) -> list[SnsEventSource]:
    """Every ``Type: SNS`` event of every ``AWS::Serverless::Function``, in template order."""
    functions = resources_of_type(template, "AWS::Serverless::Function")
    sources = []
    for function, handler, event in function_events(template, "SNS"):
        topic = event.get("Topic")
        if set(event) != {"Topic"} or not (isinstance(topic, dict) and "Ref" in topic):
            raise TemplateError(
                f"{function}: the local stack delivers an SNS event with only Topic: !Ref <Topic>"
            )
        invoke = (functions[function].get("Properties") or {}).get("EventInvokeConfig") or {}
        sources.append(
            SnsEventSource(
                function=function,
                handler=handler,
                topic=str(topic["Ref"]),
                maximum_retry_attempts=_number(
                    template,
                    invoke.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES),
                    parameters,
                ),
                on_failure_queue=_on_failure_queue(function, invoke.get("DestinationConfig")),
            )
        )
    return sources


def sns_record(envelope: Mapping[str, Any], subscription_arn: str) -> dict[str, Any]:
    """A notification as SNS delivers it to an SQS queue (not raw), as the record of the event
    SNS invokes a function with."""
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": envelope["Type"],
            "MessageId": envelope["MessageId"],
            "TopicArn": envelope["TopicArn"],
            "Subject": envelope.get("Subject"),
            "Message": envelope["Message"],
            "Timestamp": envelope["Timestamp"],
            "SignatureVersion": envelope.get("SignatureVersion", "1"),
            "Signature": envelope.get("Signature", ""),
            "SigningCertUrl": envelope.get("SigningCertURL", ""),
            "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
            "MessageAttributes": dict(envelope.get("MessageAttributes") or {}),
        },
    }


@dataclass(frozen=True)
class SnsOutcome:
    delivered: int = 0
    """Notifications the function took (at its first try or a retry)."""
    failed: int = 0
    """Notifications given up on after the retries (described to the OnFailure queue)."""
    errors: tuple[str, ...] = ()


class SnsPoller:
    """SNS invoking a function, locally: a queue of the stack's own subscribed to the topic
    (SNS's envelope kept), each notification the event of one asynchronous invocation, retried
    at once up to ``EventInvokeConfig``'s ``MaximumRetryAttempts``, then described to its
    OnFailure queue as Lambda does."""

    def __init__(
        self,
        sns: Any,
        sqs: Any,
        topic_arn: str,
        handler: Handler,
        source: SnsEventSource,
        *,
        failure_queue_url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        region: str = "us-east-1",
    ) -> None:
        self._sqs = sqs
        self._handler = handler
        self.source = source
        self._failure_queue_url = failure_queue_url
        self._clock = clock
        self._function_arn = (
            f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{source.function}"
        )
        # One queue per function and topic: another topic's notifications never reach it.
        name = f"devstack-sns-{source.function}-{topic_arn.rsplit(':', 1)[-1]}"[:80]
        self._queue_url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.subscription_arn: str = sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True
        )["SubscriptionArn"]
        self._turn = threading.Lock()

    def poll(self) -> SnsOutcome:
        """The notifications published since the last poll, each delivered (with its retries)."""
        delivered, failed, errors = 0, 0, []
        with self._turn:
            while messages := self._sqs.receive_message(
                QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", []):
                for message in messages:
                    error = self._invoke(json.loads(message["Body"]))
                    if error is None:
                        delivered += 1
                    else:
                        failed += 1
                        errors.append(error)
                    self._sqs.delete_message(
                        QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )
        return SnsOutcome(delivered, failed, tuple(errors))

    def _invoke(self, envelope: Mapping[str, Any]) -> str | None:
        event = {"Records": [sns_record(envelope, self.subscription_arn)]}
        error: Exception | None = None
        for _ in range(1 + max(0, self.source.maximum_retry_attempts)):
            try:
                self._handler(event, LocalLambdaContext.for_function(self.source.function))
                return None
            except Exception as raised:
                logger.warning("%s failed a notification: %r", self.source.function, raised)
                error = raised
        assert error is not None
        if self._failure_queue_url is not None:
            self._sqs.send_message(
                QueueUrl=self._failure_queue_url,
                MessageBody=json.dumps(self.invocation_record(event, error)),
            )
        return repr(error)

    def invocation_record(self, event: Mapping[str, Any], error: Exception) -> dict[str, Any]:
        """What Lambda sends to an asynchronous invocation's OnFailure destination."""
        now = self._clock().astimezone(UTC)
        return {
            "version": "1.0",
            "timestamp": f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z",
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{self._function_arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1 + max(0, self.source.maximum_retry_attempts),
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
        }


def sns_poller_for(
    template: Mapping[str, Any],
    function: str,
    sns: Any,
    sqs: Any,
    resources: LocalResources,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    parameters: Mapping[str, str] | None = None,
    load_handler: Callable[[str], Handler] = import_handler,
) -> SnsPoller:
    """The delivery of `function`'s (one) SNS event's topic, created in `resources`."""
    sources = [s for s in sns_event_sources(template, parameters) if s.function == function]
    if len(sources) != 1:
        raise TemplateError(f"{function} has {len(sources)} SNS events; expected one")
    [source] = sources
    topic = resources.topics.get(source.topic)
    if topic is None:
        raise TemplateError(f"{source.topic} was not created")
    failure_queue_url = None
    if source.on_failure_queue is not None:
        queue = resources.queues.get(source.on_failure_queue)
        if queue is None:
            raise TemplateError(f"{source.on_failure_queue} was not created")
        failure_queue_url = queue.url
    return SnsPoller(
        sns,
        sqs,
        topic.arn,
        load_handler(source.handler),
        source,
        failure_queue_url=failure_queue_url,
        clock=clock,
        region=resources.region,
    )
