"""The outbox's sender. Invoked by the outbox table's stream (a batch of new messages), by a
schedule that sweeps messages their stream record did not deliver (`billing.delivery`), and by
SES's bounces and complaints through their SNS topic (`billing.notifications.feedback`).

A stream batch is sent in order and stops at the first message that cannot be sent now (SES
throttling that outlasted the backoff): its sequence number is reported as the batch's failure,
so Lambda retries from there (bisecting the batch, up to the event source mapping's retry age),
and the messages after it wait behind it instead of meeting the same throttling.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecordEventName,
    DynamoDBStreamEvent,
)
from aws_lambda_powertools.utilities.data_classes.sns_event import SNSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.composition import root
from billing.delivery import DeliveryDeferred, Sent
from billing.observability import logger, publish

if TYPE_CHECKING:
    # A type only: importing it loads Powertools' batch processing (and asyncio) at start.
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

root().start(charges=False)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:dynamodb":
        return dict(_send(DynamoDBStreamEvent(event)))
    if records and records[0].get("EventSource") == "aws:sns":
        return _feedback(SNSEvent(event))
    return _sweep()


def _send(event: DynamoDBStreamEvent) -> PartialItemFailureResponse:
    delivery = root().outbox_delivery
    sent: Counter[Sent] = Counter()
    failures: PartialItemFailureResponse = {"batchItemFailures": []}
    for record in event.records:
        if record.event_name is not DynamoDBRecordEventName.INSERT or record.dynamodb is None:
            continue  # the sent marks and expiries: nothing to send
        message_id = str(record.dynamodb.keys["id"])
        try:
            sent[delivery.send(message_id)] += 1
        except DeliveryDeferred as deferred:
            logger.warning(
                "message deferred", extra={"outbox_id": message_id, "error": deferred.error}
            )
            failures["batchItemFailures"].append(
                {"itemIdentifier": record.dynamodb.sequence_number or ""}
            )
            break
    _publish(sent, deferred=len(failures["batchItemFailures"]))
    return failures


def _feedback(event: SNSEvent) -> dict[str, Any]:
    """Record each bounce or complaint on its account (a redelivery records nothing new); a
    storage failure raises, so that Lambda invokes again."""
    feedback = root().email_feedback
    outcomes = Counter(
        type(feedback.handle(record.sns.message)).__name__ for record in event.records
    )
    return {"feedback": dict(outcomes)}


def _sweep() -> dict[str, Any]:
    report = root().outbox_delivery.sweep()
    _publish(report.sent, deferred=report.deferred)
    publish("OutboxSwept", sum(report.sent.values()) + report.deferred)
    logger.info("outbox swept", extra={"sent": dict(report.sent), "deferred": report.deferred})
    return {"sent": {k.value: v for k, v in report.sent.items()}, "deferred": report.deferred}


def _publish(sent: Counter[Sent], *, deferred: int) -> None:
    for outcome, count in sent.items():
        publish("OutboxMessages", count, outcome=outcome.value)
    if deferred:
        publish("OutboxMessages", deferred, outcome="deferred")
