"""The webhook event store in a dict: what `DynamoDBWebhookEvents` answers, for orchestration
tests (tests/contract/test_webhook_events_contract.py holds the two to the same cases)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

from billing.domain.accounts import PaymentProvider
from billing.persistence.repository import NotFound
from billing.persistence.webhook_events import EventStatus, RecordedEvent, event_id
from billing.providers.gateway import ProviderEvent


class InMemoryWebhookEvents:
    def __init__(self) -> None:
        self.events: dict[str, RecordedEvent] = {}

    def record(self, event: ProviderEvent, received_at: datetime) -> bool:
        key = event_id(event.provider, event.id)
        if key in self.events:
            return False
        self.events[key] = RecordedEvent(event, received_at)
        return True

    def get(self, provider: PaymentProvider, provider_event_id: str) -> RecordedEvent:
        try:
            return self.events[event_id(provider, provider_event_id)]
        except KeyError:
            raise NotFound("Webhook event") from None

    def finish(
        self, provider: PaymentProvider, provider_event_id: str, at: datetime, outcome: str
    ) -> None:
        recorded = self.get(provider, provider_event_id)
        self.events[event_id(provider, provider_event_id)] = replace(
            recorded, status=EventStatus.PROCESSED, processed_at=at, outcome=outcome
        )

    def unprocessed(self, received_before: datetime) -> Iterator[tuple[PaymentProvider, str]]:
        for recorded in list(self.events.values()):
            if recorded.status is EventStatus.RECEIVED and recorded.received_at < received_before:
                yield recorded.event.provider, recorded.event.id
