"""Acting on recorded webhook events, handed over by the event table's stream (new items only).

Each event is acted on from the payment or saved method as the provider has it now
(`billing.provider_events`), then marked processed; an event already processed (a stream
record delivered again) is skipped. An event that cannot be acted on now (the provider or
storage unavailable) is reported as the batch's failure with the events after it, so Lambda
delivers them again (bisecting, up to the event source mapping's retries), then to the failure
queue, which the webhook failure alarm watches.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecordEventName,
    DynamoDBStreamEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.composition import now, root
from billing.observability import logger, publish
from billing.persistence.webhook_events import EventStatus, event_of

root().start(charges=True)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(_act(DynamoDBStreamEvent(event)))


def _act(stream: DynamoDBStreamEvent) -> PartialItemFailureResponse:
    outcomes: Counter[str] = Counter()
    failures: PartialItemFailureResponse = {"batchItemFailures": []}
    for record in stream.records:
        if record.event_name is not DynamoDBRecordEventName.INSERT or record.dynamodb is None:
            continue  # the processed marks and expiries
        key = str(record.dynamodb.keys["id"])
        try:
            outcomes[_act_on(key)] += 1
        except Exception:
            logger.exception("webhook event not acted on", extra={"webhook_event": key})
            failures["batchItemFailures"].append(
                {"itemIdentifier": record.dynamodb.sequence_number or ""}
            )
            break
    for outcome, count in outcomes.items():
        publish("WebhookEventsActedOn", count, outcome=outcome)
    if failures["batchItemFailures"]:
        publish("WebhookEventsActedOn", 1, outcome="failed")
    return failures


def _act_on(key: str) -> str:
    store = root().webhook_events
    recorded = store.get(*event_of(key))
    if recorded.status is EventStatus.PROCESSED:
        return "already_processed"
    event = recorded.event
    outcome = root().provider_events.handle(event)
    store.finish(event.provider, event.id, now(), outcome)
    logger.info(
        "webhook event acted on",
        extra={"webhook_event": key, "type": event.type, "outcome": outcome},
    )
    return outcome
