"""Choosing how a customer updates payment or billing information: first matching rule wins."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import fields, replace
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

PAYPAL_CHANGE = RequestedChange.PAYPAL
CARD_FORM = UpdateFlow.CARD_FORM
PAYPAL_APPROVAL = UpdateFlow.PAYPAL_APPROVAL
SALES = UpdateFlow.CONTACT_SALES

DEFAULT_RULE_IDS = [
    "partner_customers",
    "country_or_vat_change",
    "zones_without_self_service",
    "india_card_e_mandate",
    "paypal_unavailable_in_country",
    "card_saved_for_later",
    "paypal_saved_for_later",
    "card_replaces_paypal",
    "paypal_replaces_card",
    "paypal_self_service",
    "card_self_service",
]


def _context(**changes: Any) -> UpdateContext:
    """A direct customer in the .com zone, billed in France, auto-renewing, paying by card,
    updating the card."""
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


RULE_CASES: dict[str, tuple[UpdateContext, UpdateFlow]] = {
    "partner_customers": (_context(channel=Channel.PARTNER), UpdateFlow.CONTACT_PARTNER),
    "country_or_vat_change": (_context(requested=RequestedChange.VAT_ID), SALES),
    "zones_without_self_service": (_context(domain_zone="cn"), SALES),
    "india_card_e_mandate": (_context(billing_country="IN"), SALES),
    "paypal_unavailable_in_country": (
        _context(billing_country="BR", requested=PAYPAL_CHANGE),
        CARD_FORM,
    ),
    "card_saved_for_later": (_context(auto_renew=False), CARD_FORM),
    "paypal_saved_for_later": (
        _context(auto_renew=False, current_method=PAYPAL, requested=PAYPAL_CHANGE),
        PAYPAL_APPROVAL,
    ),
    "card_replaces_paypal": (_context(current_method=PAYPAL), CARD_FORM),
    "paypal_replaces_card": (_context(requested=PAYPAL_CHANGE), PAYPAL_APPROVAL),
    "paypal_self_service": (
        _context(current_method=PAYPAL, requested=PAYPAL_CHANGE),
        PAYPAL_APPROVAL,
    ),
    "card_self_service": (_context(), CARD_FORM),
}
"""For each shipped rule, a customer it is the first to match (the base customer changed in the
factors the rule is about) and the flow it leads to."""


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
    india = rules["india_card_e_mandate"]
    assert (india.billing_country, india.auto_renew) == (frozenset({"IN"}), frozenset({True}))
    assert india.requested == frozenset({RequestedChange.CARD, PAYPAL_CHANGE})
    assert rules["paypal_unavailable_in_country"].billing_country == frozenset({"IN", "BR"})
    assert rules["paypal_unavailable_in_country"].requested == frozenset({PAYPAL_CHANGE})
    assert rules["card_saved_for_later"].auto_renew == frozenset({False})
    assert rules["paypal_saved_for_later"].auto_renew == frozenset({False})
    assert rules["card_replaces_paypal"].current_method == frozenset({PAYPAL})
    assert rules["paypal_replaces_card"].current_method == frozenset({CARD})


def test_the_shipped_rules_use_every_factor_of_the_help_page() -> None:
    """Zone, billing country, auto-renewal, current method and partner or direct: each decides
    at least one shipped rule."""
    columns = {column.name for column in fields(UpdateContext)}
    used = {
        column
        for rule in default_rules()
        for column in columns
        if getattr(rule, column) is not None
    }

    assert used == columns


def test_every_shipped_rule_has_a_case() -> None:
    assert list(RULE_CASES) == DEFAULT_RULE_IDS


@pytest.mark.parametrize(("rule_id", "case"), RULE_CASES.items(), ids=list(RULE_CASES))
def test_each_default_rule(rule_id: str, case: tuple[UpdateContext, UpdateFlow]) -> None:
    context, flow = case

    assert choose_flow(context) == UpdateDecision(flow, rule_id, _why(rule_id))


def _every_context() -> Iterator[UpdateContext]:
    """Every combination of the values the shipped rules name, with a value none names (and
    None) for the zone and the country."""
    rules = default_rules()
    zones = {"com"} | {zone for rule in rules for zone in rule.domain_zone or ()}
    countries = {"FR", None} | {country for rule in rules for country in rule.billing_country or ()}
    for zone, country, auto_renew, current, channel, requested in itertools.product(
        sorted(zones),
        sorted(countries, key=str),
        (True, False, None),
        (None, *PaymentMethodKind),
        Channel,
        RequestedChange,
    ):
        yield UpdateContext(zone, country, auto_renew, current, channel, requested)


def test_no_shipped_rule_is_hidden_by_the_rules_before_it() -> None:
    reached = {choose_flow(context).rule_id for context in _every_context()}

    assert [rule for rule in DEFAULT_RULE_IDS if rule not in reached] == []
    assert "fallback" not in reached, "every customer has a rule"


def test_each_shipped_rule_tells_its_own_why() -> None:
    """The API answers a rule's `why`: no two rules may say the same thing."""
    whys = [rule.why for rule in default_rules()]

    assert len(set(whys)) == len(whys)


@pytest.mark.parametrize(
    ("context", "rule_id", "flow"),
    [
        # Other values of each default rule's columns.
        (
            _context(requested=RequestedChange.BILLING_COUNTRY),
            "country_or_vat_change",
            SALES,
        ),
        (
            _context(requested=PAYPAL_CHANGE, billing_country="IN", auto_renew=False),
            "paypal_unavailable_in_country",
            CARD_FORM,
        ),
        (
            _context(requested=PAYPAL_CHANGE, billing_country="IN", auto_renew=None),
            "paypal_unavailable_in_country",
            CARD_FORM,
        ),
        (
            _context(requested=PAYPAL_CHANGE, billing_country="IN", current_method=PAYPAL),
            "india_card_e_mandate",
            SALES,
        ),
        # The e-mandate is for automatic renewals on Indian cards only.
        (_context(billing_country="IN", auto_renew=None), "card_self_service", CARD_FORM),
        (_context(billing_country="IN", auto_renew=False), "card_saved_for_later", CARD_FORM),
        (_context(billing_country="BR"), "card_self_service", CARD_FORM),
        (
            _context(requested=PAYPAL_CHANGE, billing_country=None),
            "paypal_replaces_card",
            PAYPAL_APPROVAL,
        ),
        (
            _context(current_method=None, requested=PAYPAL_CHANGE),
            "paypal_self_service",
            PAYPAL_APPROVAL,
        ),
        (
            _context(current_method=PAYPAL, auto_renew=None),
            "card_replaces_paypal",
            CARD_FORM,
        ),
        (
            _context(domain_zone="de", auto_renew=None, current_method=None),
            "card_self_service",
            CARD_FORM,
        ),
        # First match wins.
        (
            _context(channel=Channel.PARTNER, requested=RequestedChange.VAT_ID),
            "partner_customers",
            UpdateFlow.CONTACT_PARTNER,
        ),
        (
            _context(channel=Channel.PARTNER, billing_country="IN"),
            "partner_customers",
            UpdateFlow.CONTACT_PARTNER,
        ),
        (
            _context(domain_zone="cn", requested=RequestedChange.BILLING_COUNTRY),
            "country_or_vat_change",
            SALES,
        ),
        (
            _context(billing_country="IN", requested=RequestedChange.VAT_ID),
            "country_or_vat_change",
            SALES,
        ),
        (
            _context(domain_zone="cn", requested=PAYPAL_CHANGE, billing_country="IN"),
            "zones_without_self_service",
            SALES,
        ),
        (
            _context(domain_zone="cn", auto_renew=False, current_method=PAYPAL),
            "zones_without_self_service",
            SALES,
        ),
        (
            _context(billing_country="IN", requested=PAYPAL_CHANGE),
            "india_card_e_mandate",
            SALES,
        ),
        (
            _context(auto_renew=False, current_method=PAYPAL),
            "card_saved_for_later",
            CARD_FORM,
        ),
        (
            _context(auto_renew=False, requested=PAYPAL_CHANGE, billing_country="BR"),
            "paypal_unavailable_in_country",
            CARD_FORM,
        ),
        (
            _context(auto_renew=False, requested=PAYPAL_CHANGE),
            "paypal_saved_for_later",
            PAYPAL_APPROVAL,
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
