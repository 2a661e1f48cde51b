"""Acting on recorded webhook events, handed over by the event table's stream (new items only),
and by a schedule that sweeps the events their stream record did not get acted on.

Each event is acted on from the payment or saved method as the provider has it now
(`billing.provider_events`), then marked processed; an event already processed (a stream
record delivered again) is skipped. An event that cannot be acted on now (the provider or
storage unavailable) is reported as the batch's failure with the events after it, so Lambda
delivers them again (bisecting, up to the event source mapping's retries); a batch given up on
goes to the failure queue, which the webhook failure alarm watches, and its events, still
unprocessed, to the next sweep. Acting twice on one event (the stream and the sweep at once)
changes nothing more than once: every effect is read again from the provider and written on
condition.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecordEventName,
    DynamoDBStreamEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.composition import now, root
from billing.domain.accounts import PaymentProvider
from billing.observability import logger, publish
from billing.persistence.webhook_events import EventStatus, event_of

if TYPE_CHECKING:
    # A type only: importing it loads Powertools' batch processing (and asyncio) at start.
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

root().start(charges=True)


STALE = timedelta(minutes=10)
"""How long an event waits before the sweep acts on it: past its stream record's first tries."""


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:dynamodb":
        return dict(_act(DynamoDBStreamEvent(event)))
    return _sweep()


def _sweep() -> dict[str, Any]:
    """Act on every event received more than `STALE` ago and still unprocessed; one that fails
    again is left for the next sweep (logged, counted)."""
    outcomes: Counter[str] = Counter()
    for provider, event_id in root().webhook_events.unprocessed(now() - STALE):
        try:
            outcomes[_act_on(provider, event_id)] += 1
        except Exception:
            logger.exception(
                "webhook event left to the next sweep",
                extra={"provider": provider.value, "event_id": event_id},
            )
            outcomes["failed"] += 1
    for outcome, count in outcomes.items():
        publish("WebhookEventsSwept", count, outcome=outcome)
    return {"swept": dict(outcomes)}


def _act(stream: DynamoDBStreamEvent) -> PartialItemFailureResponse:
    outcomes: Counter[str] = Counter()
    failures: PartialItemFailureResponse = {"batchItemFailures": []}
    for record in stream.records:
        if record.event_name is not DynamoDBRecordEventName.INSERT or record.dynamodb is None:
            continue  # the processed marks and expiries
        key = str(record.dynamodb.keys["id"])
        try:
            outcomes[_act_on(*event_of(key))] += 1
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


def _act_on(provider: PaymentProvider, event_id: str) -> str:
    store = root().webhook_events
    recorded = store.get(provider, event_id)
    if recorded.status is EventStatus.PROCESSED:
        return "already_processed"
    event = recorded.event
    outcome = root().provider_events.handle(event)
    store.finish(provider, event_id, now(), outcome)
    logger.info(
        "webhook event acted on",
        extra={
            "provider": provider.value,
            "event_id": event_id,
            "type": event.type,
            "outcome": outcome.value,
        },
    )
    return outcome.value
