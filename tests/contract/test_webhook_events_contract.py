"""What any `WebhookEventStore` does: an event recorded once however often it is delivered,
read back as recorded, marked processed with its outcome, and listed while unprocessed for the
sweep. Run against the in-memory store and DynamoDB (moto, in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from billing.domain.accounts import PaymentProvider
from billing.persistence.repository import NotFound
from billing.persistence.webhook_events import (
    DynamoDBWebhookEvents,
    EventStatus,
    WebhookEventStore,
)
from billing.providers.gateway import ProviderEvent, WebhookTopic
from billing.settings import WebhookSettings
from tests.contract.conftest import FAKE, REAL, empty_tables
from tests.fakes import InMemoryWebhookEvents

pytestmark = pytest.mark.contract

RECEIVED = datetime(2026, 3, 2, 8, 15, 28, tzinfo=UTC)


@pytest.fixture(
    params=[pytest.param("in_memory", marks=FAKE), pytest.param("dynamodb", marks=REAL)]
)
def store(request: pytest.FixtureRequest) -> Iterator[WebhookEventStore]:
    if request.param == "in_memory":
        yield InMemoryWebhookEvents()
        return
    tables: dict[str, str] = request.getfixturevalue("_dynamodb_tables")
    yield DynamoDBWebhookEvents(
        WebhookSettings.from_environment({**tables, "PAYPAL_WEBHOOK_ID": "WH1"})
    )
    empty_tables(tables)


def _event(provider: PaymentProvider = PaymentProvider.STRIPE) -> ProviderEvent:
    return ProviderEvent(
        provider,
        f"evt_{uuid4().hex[:12]}",
        "charge.refunded",
        RECEIVED - timedelta(seconds=1),
        WebhookTopic.PAYMENT,
        "pi_123",
        account_id="acct_1" if provider is PaymentProvider.PAYPAL else None,
    )


def test_an_event_is_recorded_once_and_read_back_as_recorded(store: WebhookEventStore) -> None:
    event = _event(PaymentProvider.PAYPAL)

    first, again = store.record(event, RECEIVED), store.record(event, RECEIVED + timedelta(1))

    assert (first, again) == (True, False)
    recorded = store.get(event.provider, event.id)
    assert (recorded.event, recorded.received_at, recorded.status) == (
        event,
        RECEIVED,
        EventStatus.RECEIVED,
    )


def test_the_same_id_from_the_other_provider_is_another_event(store: WebhookEventStore) -> None:
    stripe = _event()
    paypal = ProviderEvent(
        PaymentProvider.PAYPAL, stripe.id, "PAYMENT.CAPTURE.COMPLETED", RECEIVED, None
    )

    assert store.record(stripe, RECEIVED)
    assert store.record(paypal, RECEIVED)


def test_a_processed_event_keeps_its_outcome(store: WebhookEventStore) -> None:
    event = _event()
    store.record(event, RECEIVED)

    store.finish(event.provider, event.id, RECEIVED + timedelta(seconds=2), "recorded")

    recorded = store.get(event.provider, event.id)
    assert (recorded.status, recorded.processed_at, recorded.outcome) == (
        EventStatus.PROCESSED,
        RECEIVED + timedelta(seconds=2),
        "recorded",
    )


def test_unknown_events_are_not_found(store: WebhookEventStore) -> None:
    with pytest.raises(NotFound):
        store.get(PaymentProvider.STRIPE, "evt_never")
    with pytest.raises(NotFound):
        store.finish(PaymentProvider.STRIPE, "evt_never", RECEIVED, "recorded")


def test_the_sweep_lists_older_events_not_processed_yet(store: WebhookEventStore) -> None:
    old, done, recent = _event(), _event(PaymentProvider.PAYPAL), _event()
    store.record(old, RECEIVED)
    store.record(done, RECEIVED)
    store.record(recent, RECEIVED + timedelta(minutes=20))
    store.finish(done.provider, done.id, RECEIVED + timedelta(minutes=1), "settled")

    listed = list(store.unprocessed(RECEIVED + timedelta(minutes=10)))

    assert listed == [(old.provider, old.id)]
