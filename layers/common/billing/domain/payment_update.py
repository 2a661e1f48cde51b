"""How a customer may update payment or billing information: a rules table, first match wins.

The table is data (``billing/data/payment_update_rules.json``): each rule lists the values of
the context it applies to (a missing column matches anything) and the one flow it leads to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from billing.domain.accounts import PaymentMethodKind
from billing.domain.subscription import Channel
from billing.domain.values import frozen


class UpdateFlow(StrEnum):
    CARD_FORM = "card_form"
    """Stripe SetupIntent client secret for the card form."""
    PAYPAL_APPROVAL = "paypal_approval"
    """PayPal approval URL for a vaulted PayPal account."""
    CONTACT_PARTNER = "contact_partner"
    CONTACT_SALES = "contact_sales"


class RequestedChange(StrEnum):
    CARD = "card"
    PAYPAL = "paypal"
    BILLING_COUNTRY = "billing_country"
    VAT_ID = "vat_id"


@frozen
class UpdateContext:
    """Everything the choice of flow depends on (help centre: zone, country, auto-renew,
    current payment method, partner or direct) plus what the customer wants to change."""

    domain_zone: str
    billing_country: str | None
    auto_renew: bool | None
    """Auto-renewal of the account's open subscription; None when it has none."""
    current_method: PaymentMethodKind | None
    channel: Channel
    requested: RequestedChange


@frozen
class UpdateRule:
    id: str
    flow: UpdateFlow
    why: str
    domain_zone: frozenset[str] | None = None
    billing_country: frozenset[str | None] | None = None
    auto_renew: frozenset[bool | None] | None = None
    current_method: frozenset[PaymentMethodKind | None] | None = None
    channel: frozenset[Channel] | None = None
    requested: frozenset[RequestedChange] | None = None

    def matches(self, context: UpdateContext) -> bool:
        return all(
            allowed is None or getattr(context, column) in allowed
            for column, allowed in (
                ("domain_zone", self.domain_zone),
                ("billing_country", self.billing_country),
                ("auto_renew", self.auto_renew),
                ("current_method", self.current_method),
                ("channel", self.channel),
                ("requested", self.requested),
            )
        )


@frozen
class UpdateDecision:
    flow: UpdateFlow
    rule_id: str
    why: str


FALLBACK = UpdateDecision(
    UpdateFlow.CONTACT_SALES, "fallback", "No self-service update applies; sales will help."
)


def choose_flow(
    context: UpdateContext, rules: Sequence[UpdateRule] | None = None
) -> UpdateDecision:
    """The flow of the first rule that matches `context`; sales when none does."""
    for rule in default_rules() if rules is None else rules:
        if rule.matches(context):
            return UpdateDecision(rule.flow, rule.id, rule.why)
    return FALLBACK


def requested_method(current: PaymentMethodKind | None) -> RequestedChange:
    """What a customer who did not say which method they want is updating: the same kind."""
    return RequestedChange.PAYPAL if current is PaymentMethodKind.PAYPAL else RequestedChange.CARD


def _country(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and re.fullmatch(r"[A-Z]{2}", value)):
        return value
    raise ValueError(f"billing_country must be ISO 3166-1 alpha-2 in capitals, got {value!r}")


def _auto_renew(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"auto_renew must be true, false or null, got {value!r}")


_COLUMNS: Mapping[str, Any] = {
    "domain_zone": str,
    "billing_country": _country,
    "auto_renew": _auto_renew,
    "current_method": lambda v: None if v is None else PaymentMethodKind(v),
    "channel": Channel,
    "requested": RequestedChange,
}


def parse_rules(raw: Mapping[str, Any]) -> tuple[UpdateRule, ...]:
    """Rules from their JSON form; ValueError on an unknown column or value."""
    rules = []
    for entry in raw["rules"]:
        unknown = set(entry["when"]) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"rule {entry['id']}: unknown columns {sorted(unknown)}")
        columns = {
            column: frozenset(_COLUMNS[column](v) for v in values)
            for column, values in entry["when"].items()
        }
        rules.append(
            UpdateRule(id=entry["id"], flow=UpdateFlow(entry["flow"]), why=entry["why"], **columns)
        )
    return tuple(rules)


@cache
def default_rules() -> tuple[UpdateRule, ...]:
    text = resources.files("billing").joinpath("data/payment_update_rules.json").read_text("utf-8")
    return parse_rules(json.loads(text))
