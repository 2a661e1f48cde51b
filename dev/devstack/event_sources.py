"""The template's event sources, locally: ``ScheduleV2`` events (their rate and the event
EventBridge Scheduler sends), and Lambda's SQS event source mapping (the ``SQS`` events, and a
poller that receives batches, invokes the handler with the event Lambda sends and settles the
messages)."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.api_gateway import Handler, LocalLambdaContext, import_handler
from devstack.resources import LOCAL_ACCOUNT_ID, LocalResources, UnresolvableValue, parameter_value
from devstack.template import TemplateError, function_events

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
