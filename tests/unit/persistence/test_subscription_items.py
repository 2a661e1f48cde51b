"""A subscription's item, without DynamoDB: the format deployed tables hold is still read and
written, any subscription comes back from its item, and a field added to the dataclass is stored
without touching a converter."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import pytest
from hypothesis import given

from billing.domain.money import Currency, Money
from billing.domain.pricing import Discount
from billing.domain.subscription import Subscription
from billing.persistence.dynamodb import _subscription, _subscription_record
from billing.persistence.items import from_item, to_item
from billing.persistence.models import SubscriptionRecord
from tests.support.strategies import subscriptions
from tests.support.subscription_items import (
    ITEMS,
    SHARDS,
    SUBSCRIPTIONS,
    NotedSubscription,
    extended,
    noted,
)


def _read_back[S: Subscription](sub: S, kind: type[S]) -> S:
    """`sub` written as the repository writes it, then read from the item that write sends."""
    item = _subscription_record(sub, SHARDS).item
    return from_item(kind, SubscriptionRecord.from_raw_data(copy.deepcopy(item)).item)


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_an_item_in_the_stored_format_reads_back_to_its_subscription(name: str) -> None:
    record = SubscriptionRecord.from_raw_data(copy.deepcopy(ITEMS[name]))

    assert _subscription(record) == SUBSCRIPTIONS[name]


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_a_subscription_is_written_in_the_stored_format(name: str) -> None:
    assert _subscription_record(SUBSCRIPTIONS[name], SHARDS).item == ITEMS[name]


@given(subscriptions(Subscription))
def test_any_subscription_comes_back_from_its_item(sub: Subscription) -> None:
    assert _read_back(sub, Subscription) == sub


@given(subscriptions(NotedSubscription))
def test_any_subscription_with_an_added_field_comes_back_from_its_item(
    sub: NotedSubscription,
) -> None:
    assert _read_back(sub, NotedSubscription) == sub


def test_an_added_field_is_one_more_attribute_of_the_same_item() -> None:
    sub = noted("called on 2026-03-02")

    item = _subscription_record(sub, SHARDS).item

    assert item == ITEMS["past_due"] | {"sales_note": {"S": "called on 2026-03-02"}}
    # Code that predates the field reads the item still (a rollback is safe)...
    assert _subscription(SubscriptionRecord.from_raw_data(item)) == SUBSCRIPTIONS["past_due"]
    # ...and items written before the field existed read as its default.
    assert from_item(NotedSubscription, ITEMS["past_due"]) == noted(None)


def test_a_field_of_a_type_without_a_stored_format_is_refused_by_name() -> None:
    @dataclass(frozen=True, slots=True)
    class Weighted(Subscription):
        weight: float = 0.5

    with pytest.raises(TypeError, match=r"Weighted\.weight: no stored format for <class 'float'>"):
        to_item(extended(SUBSCRIPTIONS["discounted"], Weighted))


def test_an_item_keeps_one_currency_for_all_its_amounts() -> None:
    sub = SUBSCRIPTIONS["discounted"]
    in_dollars = Discount("WELCOME20", Money(980, Currency.USD), 2)

    with pytest.raises(ValueError, match="share one currency"):
        to_item(replace(sub, discount=in_dollars))
