"""Subscription items exactly as the hand-written converters wrote them until the generic one
replaced them (commit ff48959): deployed tables hold items like these, which must keep reading
back to the same subscriptions and be written the same way. Also a subscription with a field
added, and the view declaring it, as the next engineer would add one."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from billing.api.views import SubscriptionView
from billing.domain.money import Currency, Money
from billing.domain.subscription import Subscription
from tests.support.subscriptions import FIRST_END, cancelled, discounted, partner, past_due

SUBSCRIPTIONS: dict[str, Subscription] = {
    "discounted": replace(discounted(cycles=2), version=1),
    "past_due": replace(
        past_due(method=None),
        retry_now_requested_at=FIRST_END + timedelta(hours=2),
        provider_errors=2,
        provider_retry_at=FIRST_END + timedelta(hours=3),
        version=1,
    ),
    "cancelled": replace(cancelled(), version=1),
    "partner": partner(
        price=Money(9900, Currency.USD),
        cycle_months=12,
        cycle=2,
        partner_prepaid_cycles=1,
        partner_reminded=True,
        version=1,
    ),
}
"""Between them every field in a state other than its default, every optional one both ways."""

SHARDS = 8
"""The due index's shard count the items were written with (the integration tests' setting)."""

ITEMS: dict[str, dict[str, dict[str, Any]]] = json.loads(
    Path(__file__).with_suffix(".json").read_text(encoding="utf-8")
)
"""The item of each of `SUBSCRIPTIONS`, as the converters of ff48959 wrote it (``serialize()`` of
its record, captured by running them): DynamoDB's own JSON, each attribute a line."""


@dataclass(frozen=True, slots=True)
class NotedSubscription(Subscription):
    """A subscription with one field more, declared the way a new field is: with a default,
    which items written before it existed read as."""

    sales_note: str | None = None


class NotedSubscriptionView(SubscriptionView):
    """The API's view with the added field declared: all it takes for the view to show it."""

    sales_note: str | None


def extended[S: Subscription](sub: Subscription, kind: type[S], **added: Any) -> S:
    """`sub` as a `kind`, a subclass of Subscription with fields added."""
    values = {name: getattr(sub, name) for name in Subscription.__dataclass_fields__}
    return kind(**values, **added)


def noted(note: str | None = "called the customer on 2026-03-02") -> NotedSubscription:
    """The past-due subscription of `SUBSCRIPTIONS`, with a sales note."""
    return extended(SUBSCRIPTIONS["past_due"], NotedSubscription, sales_note=note)
