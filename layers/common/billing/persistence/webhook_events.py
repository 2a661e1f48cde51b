"""Provider webhook events, each recorded once before anything is done about it.

The receiving function writes an event with a does-not-exist condition and answers: a
redelivery finds it there and changes nothing. The table's stream hands each new event to the
function that acts on it, which marks it processed; events are kept 30 days (longer than
Stripe's three days and PayPal's retries), then DynamoDB's TTL removes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, QueryError, UpdateError
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from billing.domain.accounts import PaymentProvider
from billing.domain.values import frozen
from billing.persistence.items import Item, from_item, to_item
from billing.persistence.models import InstantAttribute, OpenModel, bind
from billing.persistence.repository import NotFound, StorageUnavailable
from billing.providers.gateway import ProviderEvent
from billing.settings import WebhookSettings

KEPT = timedelta(days=30)
"""How long an event id is remembered: a redelivery within it is recognised."""

UNPROCESSED_SHARDS = tuple(f"{n:02d}" for n in range(8))
"""Partitions of the unprocessed index: events come at the pace of payments, and each leaves
the index once acted on."""


class EventStatus(StrEnum):
    RECEIVED = "received"
    """Recorded and handed on; not acted on yet."""
    PROCESSED = "processed"


@frozen
class RecordedEvent:
    event: ProviderEvent
    received_at: datetime
    status: EventStatus = EventStatus.RECEIVED
    processed_at: datetime | None = None
    outcome: str | None = None
    """What acting on it did, in a few words (``settled``, ``refund_recorded``, ``ignored``…)."""


def event_id(provider: PaymentProvider, provider_event_id: str) -> str:
    """The stored event's key: provider event ids are unique per provider only."""
    return f"{provider.value}#{provider_event_id}"


def event_of(key: str) -> tuple[PaymentProvider, str]:
    """The provider and the provider's event id a stored event's key (`event_id`) names."""
    provider, _, provider_event_id = key.partition("#")
    return PaymentProvider(provider), provider_event_id


class WebhookEventStore(Protocol):
    def record(self, event: ProviderEvent, received_at: datetime) -> bool:
        """Record `event` unless it was recorded before: False for a redelivery, which changes
        nothing. Conditional, so two concurrent deliveries record it once."""
        ...

    def get(self, provider: PaymentProvider, provider_event_id: str) -> RecordedEvent:
        """A recorded event; NotFound when it was never recorded (or expired)."""
        ...

    def finish(
        self, provider: PaymentProvider, provider_event_id: str, at: datetime, outcome: str
    ) -> None:
        """Mark a recorded event processed, with what acting on it did."""
        ...

    def unprocessed(self, received_before: datetime) -> Iterator[tuple[PaymentProvider, str]]:
        """The events received before `received_before` and not processed yet (their stream
        record was not acted on): each as its provider and the provider's event id."""
        ...


def unprocessed_shard(key: str) -> str:
    """The unprocessed index's partition of a stored event: stable, spread evenly."""
    digest = hashlib.sha256(key.encode()).digest()
    return UNPROCESSED_SHARDS[int.from_bytes(digest[:8], "big") % len(UNPROCESSED_SHARDS)]


def recorded_event(image: Item) -> RecordedEvent:
    """The event a stored item (or a stream record's image of it) holds."""
    return from_item(RecordedEvent, image)


class UnprocessedIndex(GlobalSecondaryIndex["WebhookEventRecord"]):
    """Sparse and write-sharded: only events not acted on yet carry its keys, so the sweep finds
    those whose stream record was given up on."""

    class Meta:
        index_name = "unprocessed-index"
        projection = KeysOnlyProjection()

    unprocessed_shard = UnicodeAttribute(hash_key=True)
    received_at = InstantAttribute(range_key=True)


class WebhookEventRecord(OpenModel):
    """A recorded event: its fields as `to_item(RecordedEvent)` writes them, under its key, with
    the unprocessed index's partition until it is acted on."""

    class Meta:
        table_name = "unbound-webhook-events"

    id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    received_at = InstantAttribute()
    processed_at = InstantAttribute(null=True)
    outcome = UnicodeAttribute(null=True)
    unprocessed_shard = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    unprocessed_index = UnprocessedIndex()


class DynamoDBWebhookEvents:
    def __init__(self, settings: WebhookSettings) -> None:
        bind(
            WebhookEventRecord,
            settings.webhook_events_table,
            settings.region,
            settings.dynamodb_endpoint,
        )

    def record(self, event: ProviderEvent, received_at: datetime) -> bool:
        key = event_id(event.provider, event.id)
        record = WebhookEventRecord.from_raw_data(
            {"id": {"S": key}, **to_item(RecordedEvent(event, received_at))}
        )
        record.expires_at = received_at + KEPT
        record.unprocessed_shard = unprocessed_shard(key)
        try:
            record.save(condition=WebhookEventRecord.id.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise StorageUnavailable(str(error)) from error
        return True

    def get(self, provider: PaymentProvider, provider_event_id: str) -> RecordedEvent:
        try:
            record = WebhookEventRecord.get(
                event_id(provider, provider_event_id), consistent_read=True
            )
        except DoesNotExist:
            raise NotFound("Webhook event") from None
        return recorded_event(record.item)

    def finish(
        self, provider: PaymentProvider, provider_event_id: str, at: datetime, outcome: str
    ) -> None:
        record = WebhookEventRecord(event_id(provider, provider_event_id))
        try:
            record.update(
                actions=[
                    WebhookEventRecord.status.set(EventStatus.PROCESSED.value),
                    WebhookEventRecord.processed_at.set(at),
                    WebhookEventRecord.outcome.set(outcome),
                    WebhookEventRecord.unprocessed_shard.remove(),
                ],
                condition=WebhookEventRecord.id.exists(),
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise NotFound("Webhook event") from None
            raise StorageUnavailable(str(error)) from error

    def unprocessed(self, received_before: datetime) -> Iterator[tuple[PaymentProvider, str]]:
        try:
            for shard in UNPROCESSED_SHARDS:
                for record in WebhookEventRecord.unprocessed_index.query(
                    shard, WebhookEventRecord.received_at < received_before
                ):
                    yield event_of(record.id)
        except QueryError as error:
            raise StorageUnavailable(str(error)) from error
