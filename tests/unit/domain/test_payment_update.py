"""Choosing how a customer updates payment or billing information: first matching rule wins."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources
from typing import Any

import pytest

from billing.domain.accounts import PaymentMethodKind
from billing.domain.payment_update import (
    FALLBACK,
    RequestedChange,
    UpdateContext,
    UpdateDecision,
    UpdateFlow,
    UpdateRule,
    choose_flow,
    default_rules,
    parse_rules,
    requested_method,
)
from billing.domain.subscription import Channel

CARD = PaymentMethodKind.CARD
PAYPAL = PaymentMethodKind.PAYPAL

DEFAULT_RULE_IDS = [
    "partner_customers",
    "country_or_vat_change",
    "zones_without_self_service",
    "paypal_unavailable_in_country",
    "paypal_self_service",
    "card_self_service",
]


def _context(**changes: Any) -> UpdateContext:
    """A direct customer in the .com zone, billed in France, paying by card, updating the card."""
    base = UpdateContext(
        domain_zone="com",
        billing_country="FR",
        auto_renew=True,
        current_method=CARD,
        channel=Channel.DIRECT,
        requested=RequestedChange.CARD,
    )
    return replace(base, **changes)


def _why(rule_id: str) -> str:
    return next(rule.why for rule in default_rules() if rule.id == rule_id)


# --- the shipped table ---------------------------------------------------------------------------


def test_default_rules_are_the_shipped_table_in_order() -> None:
    assert [rule.id for rule in default_rules()] == DEFAULT_RULE_IDS


def test_default_rules_are_read_once() -> None:
    assert default_rules() is default_rules()


def test_default_rules_parse_the_shipped_file() -> None:
    text = resources.files("billing").joinpath("data/payment_update_rules.json").read_text("utf-8")

    assert parse_rules(json.loads(text)) == default_rules()


def test_shipped_rule_columns() -> None:
    rules = {rule.id: rule for rule in default_rules()}

    assert rules["partner_customers"].channel == frozenset({Channel.PARTNER})
    assert rules["country_or_vat_change"].requested == frozenset(
        {RequestedChange.BILLING_COUNTRY, RequestedChange.VAT_ID}
    )
    assert rules["zones_without_self_service"].domain_zone == frozenset({"cn"})
    assert rules["paypal_unavailable_in_country"].billing_country == frozenset({"IN", "BR"})
    assert rules["paypal_unavailable_in_country"].requested == frozenset({RequestedChange.PAYPAL})


@pytest.mark.parametrize(
    ("rule_id", "context", "flow"),
    [
        (
            "partner_customers",
            _context(channel=Channel.PARTNER),
            UpdateFlow.CONTACT_PARTNER,
        ),
        (
            "country_or_vat_change",
            _context(requested=RequestedChange.VAT_ID),
            UpdateFlow.CONTACT_SALES,
        ),
        (
            "zones_without_self_service",
            _context(domain_zone="cn"),
            UpdateFlow.CONTACT_SALES,
        ),
        (
            "paypal_unavailable_in_country",
            _context(requested=RequestedChange.PAYPAL, billing_country="IN"),
            UpdateFlow.CARD_FORM,
        ),
        (
            "paypal_self_service",
            _context(requested=RequestedChange.PAYPAL),
            UpdateFlow.PAYPAL_APPROVAL,
        ),
        (
            "card_self_service",
            _context(),
            UpdateFlow.CARD_FORM,
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_each_default_rule(rule_id: str, context: UpdateContext, flow: UpdateFlow) -> None:
    assert choose_flow(context) == UpdateDecision(flow, rule_id, _why(rule_id))


@pytest.mark.parametrize(
    ("context", "rule_id", "flow"),
    [
        # Other values of each default rule's columns.
        (
            _context(requested=RequestedChange.BILLING_COUNTRY),
            "country_or_vat_change",
            UpdateFlow.CONTACT_SALES,
        ),
        (
            _context(requested=RequestedChange.PAYPAL, billing_country="BR"),
            "paypal_unavailable_in_country",
            UpdateFlow.CARD_FORM,
        ),
        (
            _context(requested=RequestedChange.CARD, billing_country="IN"),
            "card_self_service",
            UpdateFlow.CARD_FORM,
        ),
        (
            _context(requested=RequestedChange.PAYPAL, billing_country=None),
            "paypal_self_service",
            UpdateFlow.PAYPAL_APPROVAL,
        ),
        (
            _context(domain_zone="de", auto_renew=None, current_method=None),
            "card_self_service",
            UpdateFlow.CARD_FORM,
        ),
        # First match wins.
        (
            _context(channel=Channel.PARTNER, requested=RequestedChange.VAT_ID),
            "partner_customers",
            UpdateFlow.CONTACT_PARTNER,
        ),
        (
            _context(
                channel=Channel.PARTNER, requested=RequestedChange.PAYPAL, billing_country="IN"
            ),
            "partner_customers",
            UpdateFlow.CONTACT_PARTNER,
        ),
        (
            _context(domain_zone="cn", requested=RequestedChange.BILLING_COUNTRY),
            "country_or_vat_change",
            UpdateFlow.CONTACT_SALES,
        ),
        (
            _context(domain_zone="cn", requested=RequestedChange.PAYPAL, billing_country="IN"),
            "zones_without_self_service",
            UpdateFlow.CONTACT_SALES,
        ),
        (
            _context(domain_zone="cn", requested=RequestedChange.PAYPAL),
            "zones_without_self_service",
            UpdateFlow.CONTACT_SALES,
        ),
    ],
)
def test_default_rules_first_match_wins(
    context: UpdateContext, rule_id: str, flow: UpdateFlow
) -> None:
    decision = choose_flow(context)

    assert decision.rule_id == rule_id
    assert decision.flow is flow


@pytest.mark.parametrize("requested", list(RequestedChange))
@pytest.mark.parametrize("channel", list(Channel))
def test_default_rules_cover_every_request(channel: Channel, requested: RequestedChange) -> None:
    decision = choose_flow(_context(channel=channel, requested=requested))

    assert decision.rule_id in DEFAULT_RULE_IDS


# --- fallback ------------------------------------------------------------------------------------


def test_no_rules_falls_back_to_sales() -> None:
    decision = choose_flow(_context(), rules=())

    assert decision == FALLBACK
    assert decision.flow is UpdateFlow.CONTACT_SALES
    assert decision.rule_id == "fallback"
    assert decision.why


def test_no_matching_rule_falls_back_to_sales() -> None:
    rules = (
        UpdateRule(id="cn_only", flow=UpdateFlow.CARD_FORM, why="w", domain_zone=frozenset({"cn"})),
    )

    assert choose_flow(_context(domain_zone="com"), rules) == FALLBACK
    assert choose_flow(_context(domain_zone="cn"), rules).rule_id == "cn_only"


def test_rule_without_columns_matches_everything() -> None:
    rule = UpdateRule(id="any", flow=UpdateFlow.CONTACT_SALES, why="w")

    assert rule.matches(_context())
    assert rule.matches(_context(channel=Channel.PARTNER, billing_country=None, auto_renew=None))


def test_a_rule_matches_only_when_every_column_matches() -> None:
    rule = UpdateRule(
        id="both",
        flow=UpdateFlow.CARD_FORM,
        why="w",
        billing_country=frozenset({"IN"}),
        requested=frozenset({RequestedChange.PAYPAL}),
    )

    assert rule.matches(_context(billing_country="IN", requested=RequestedChange.PAYPAL))
    assert not rule.matches(_context(billing_country="IN", requested=RequestedChange.CARD))
    assert not rule.matches(_context(billing_country="FR", requested=RequestedChange.PAYPAL))


# --- custom tables -------------------------------------------------------------------------------

CUSTOM_TABLE: dict[str, Any] = {
    "rules": [
        {
            "id": "no_auto_renew",
            "when": {"auto_renew": [False, None]},
            "flow": "contact_sales",
            "why": "Nothing renews, so nothing needs a payment method.",
        },
        {
            "id": "paypal_users",
            "when": {"current_method": ["paypal"]},
            "flow": "paypal_approval",
            "why": "Keep PayPal users on PayPal.",
        },
        {
            "id": "no_method_yet",
            "when": {"current_method": [None], "billing_country": [None, "US"]},
            "flow": "card_form",
            "why": "First payment method.",
        },
    ]
}


@pytest.mark.parametrize(
    ("context", "rule_id", "flow"),
    [
        (_context(auto_renew=False), "no_auto_renew", UpdateFlow.CONTACT_SALES),
        (_context(auto_renew=None), "no_auto_renew", UpdateFlow.CONTACT_SALES),
        (
            _context(auto_renew=False, current_method=PAYPAL),
            "no_auto_renew",
            UpdateFlow.CONTACT_SALES,
        ),
        (
            _context(auto_renew=True, current_method=PAYPAL),
            "paypal_users",
            UpdateFlow.PAYPAL_APPROVAL,
        ),
        (
            _context(auto_renew=True, current_method=None, billing_country=None),
            "no_method_yet",
            UpdateFlow.CARD_FORM,
        ),
        (
            _context(auto_renew=True, current_method=None, billing_country="US"),
            "no_method_yet",
            UpdateFlow.CARD_FORM,
        ),
        (
            _context(auto_renew=True, current_method=None, billing_country="FR"),
            "fallback",
            UpdateFlow.CONTACT_SALES,
        ),
        (_context(auto_renew=True, current_method=CARD), "fallback", UpdateFlow.CONTACT_SALES),
    ],
)
def test_custom_table_with_auto_renew_and_current_method(
    context: UpdateContext, rule_id: str, flow: UpdateFlow
) -> None:
    decision = choose_flow(context, parse_rules(CUSTOM_TABLE))

    assert decision.rule_id == rule_id
    assert decision.flow is flow


def test_parse_rules_builds_typed_columns() -> None:
    rules = parse_rules(CUSTOM_TABLE)

    assert rules == (
        UpdateRule(
            id="no_auto_renew",
            flow=UpdateFlow.CONTACT_SALES,
            why="Nothing renews, so nothing needs a payment method.",
            auto_renew=frozenset({False, None}),
        ),
        UpdateRule(
            id="paypal_users",
            flow=UpdateFlow.PAYPAL_APPROVAL,
            why="Keep PayPal users on PayPal.",
            current_method=frozenset({PAYPAL}),
        ),
        UpdateRule(
            id="no_method_yet",
            flow=UpdateFlow.CARD_FORM,
            why="First payment method.",
            billing_country=frozenset({None, "US"}),
            current_method=frozenset({None}),
        ),
    )


def test_parse_rules_of_an_empty_table_is_empty() -> None:
    assert parse_rules({"rules": []}) == ()


def _table(when: dict[str, Any], flow: str = "card_form") -> dict[str, Any]:
    return {"rules": [{"id": "r", "when": when, "flow": flow, "why": "w"}]}


@pytest.mark.parametrize(
    "when",
    [
        {"country": ["FR"]},
        {"zone": ["cn"]},
        {"requested": ["card"], "method": ["card"]},
    ],
)
def test_parse_rules_rejects_unknown_columns(when: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown columns"):
        parse_rules(_table(when))


@pytest.mark.parametrize(
    "when",
    [
        {"channel": ["reseller"]},
        {"channel": ["PARTNER"]},
        {"requested": ["iban"]},
        {"current_method": ["bank_transfer"]},
        {"current_method": ["card", "sepa"]},
    ],
)
def test_parse_rules_rejects_unknown_values(when: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="is not a valid"):
        parse_rules(_table(when))


def test_parse_rules_rejects_an_unknown_flow() -> None:
    with pytest.raises(ValueError, match="is not a valid UpdateFlow"):
        parse_rules(_table({}, flow="email_us"))


@pytest.mark.parametrize("when", [{"auto_renew": ["yes"]}, {"auto_renew": ["true"]}])
def test_parse_rules_rejects_non_boolean_auto_renew(when: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="auto_renew"):
        parse_rules(_table(when))


# --- requested_method ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (None, RequestedChange.CARD),
        (CARD, RequestedChange.CARD),
        (PAYPAL, RequestedChange.PAYPAL),
    ],
)
def test_requested_method_is_the_current_kind(
    current: PaymentMethodKind | None, requested: RequestedChange
) -> None:
    assert requested_method(current) is requested


@pytest.mark.parametrize(
    ("current", "flow"),
    [
        (None, UpdateFlow.CARD_FORM),
        (CARD, UpdateFlow.CARD_FORM),
        (PAYPAL, UpdateFlow.PAYPAL_APPROVAL),
    ],
)
def test_unspecified_update_keeps_the_current_kind(
    current: PaymentMethodKind | None, flow: UpdateFlow
) -> None:
    context = _context(current_method=current, requested=requested_method(current))

    assert choose_flow(context).flow is flow
