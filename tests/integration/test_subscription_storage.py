"""A subscription's item in DynamoDB (moto): items in the format deployed tables hold read back,
the repository writes the same attributes, any subscription comes back, and a field added to the
dataclass is stored and shown with no converter change."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings

from billing.domain.accounts import Account
from billing.domain.locales import Locale
from billing.domain.subscription import Subscription
from billing.persistence.dynamodb import DynamoDBRepository, _subscription_record
from billing.persistence.items import from_item
from billing.persistence.models import SubscriptionRecord
from billing.settings import StorageSettings
from tests.support.strategies import subscriptions
from tests.support.subscription_items import (
    ITEMS,
    SUBSCRIPTIONS,
    NotedSubscription,
    NotedSubscriptionView,
    noted,
)
from tests.support.subscriptions import store


class Table:
    """The subscriptions table through the low-level client: items as DynamoDB holds them."""

    def __init__(self, settings: StorageSettings) -> None:
        self._client = boto3.client("dynamodb", region_name=settings.region)
        self._name = settings.subscriptions_table

    def put(self, item: dict[str, Any]) -> None:
        self._client.put_item(TableName=self._name, Item=item)

    def get(self, subscription_id: str) -> dict[str, Any]:
        key = {"id": {"S": subscription_id}}
        item: dict[str, Any] = self._client.get_item(
            TableName=self._name, Key=key, ConsistentRead=True
        )["Item"]
        return item


@pytest.fixture
def table(storage_settings: StorageSettings) -> Table:
    return Table(storage_settings)


def _stored(repository: DynamoDBRepository, sub: Subscription) -> Subscription:
    """`sub` opened as the operations open one: its account saved, then its first commit."""
    repository.save_account(Account(id=sub.account_id, email=f"{sub.account_id}@example.com"))
    return store(repository, replace(sub, version=0))


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_an_item_in_the_stored_format_reads_back(
    repository: DynamoDBRepository, table: Table, name: str
) -> None:
    table.put(ITEMS[name])

    assert repository.get_subscription(ITEMS[name]["id"]["S"]) == SUBSCRIPTIONS[name]


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_the_repository_writes_the_stored_format(
    repository: DynamoDBRepository, table: Table, name: str
) -> None:
    stored = _stored(repository, SUBSCRIPTIONS[name])

    assert stored == SUBSCRIPTIONS[name]
    assert table.get(stored.id) == ITEMS[name]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sub=subscriptions(Subscription))
def test_any_subscription_round_trips_dynamodb(
    repository: DynamoDBRepository, sub: Subscription
) -> None:
    # A put over whatever an earlier example left (the version is the next one, unconditionally).
    _subscription_record(sub, len(repository.shards())).save(add_version_condition=False)

    assert repository.get_subscription(sub.id) == replace(sub, version=sub.version + 1)


def test_a_field_added_to_the_subscription_is_stored_and_shown_with_no_converter_change(
    repository: DynamoDBRepository, table: Table
) -> None:
    sub = noted("called on 2026-03-02")

    assert _stored(repository, sub) == sub
    assert table.get(sub.id) == ITEMS["past_due"] | {"sales_note": {"S": "called on 2026-03-02"}}
    read = from_item(NotedSubscription, SubscriptionRecord.get(sub.id, consistent_read=True).item)
    assert read == sub
    assert NotedSubscriptionView.of(read, Locale.EN).sales_note == "called on 2026-03-02"
    # Code that predates the field still reads the item.
    assert repository.get_subscription(sub.id) == SUBSCRIPTIONS["past_due"]
