"""The payment-update rules through the HTTP API: each shipped rule reached by a customer in
its situation, answered with its flow and its `why` (GET /account/billing, the setup answer, a
contact_sales refusal), and the new rules' effect on saving a method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from billing import composition
from billing.api.billing_form import EXAMPLE
from billing.domain.payment_update import default_rules
from tests.support.api import Api, Client, expect_error, fresh_account_id
from tests.support.stand_ins import StandIn, stripe_charges

SETUP = "/account/payment-method/setup"
METHOD = "/account/payment-method"
BILLING_INFO = "/account/billing-info"
CARD = {"provider": "stripe", "setup_intent_id": "seti_123"}
"""A card to save, refused by the rules before Stripe is asked about its SetupIntent."""
FRANCE: dict[str, Any] = dict(EXAMPLE)
INDIA = FRANCE | {
    "country": "IN",
    "city": "New Delhi",
    "postal_code": "110001",
    "region": "Delhi",
    "vat_id": None,
}
PARTNER = {"id": "reseller-7", "name": "Reseller Seven", "email": "desk@reseller7.example"}

Answer = tuple[str, str]
"""A flow and the `why` the API gave with it."""
Scenario = Callable[[Api, StandIn], Answer]
"""A customer in some situation, and what the API answers them about updating."""


def _rule_answered(answer: Answer) -> str:
    """The shipped rule whose flow and `why` the API answered (each rule's `why` is its own)."""
    [rule] = [r.id for r in default_rules() if (r.flow.value, r.why) == answer]
    return rule


def _overview(client: Client) -> Answer:
    """GET /account/billing's flow for updating the customer's current kind of method."""
    response = client.get("/account/billing")
    assert response.status == 200, response.body
    flow = response.json()["update_flow"]
    assert _rule_answered((flow["flow"], flow["why"])) == flow["rule"]
    return flow["flow"], flow["why"]


def _setup(client: Client, method: str) -> Answer:
    """The flow POST /account/payment-method/setup answers for `method`."""
    response = client.post(SETUP, {"method": method})
    assert response.status == 200, response.body
    return response.json()["flow"], response.json()["why"]


def _with_paypal(api: Api, paypal: StandIn, account_id: str) -> Client:
    """An account whose customer approved and saved a PayPal account."""
    client = api.open_account(account_id)
    started = client.post(SETUP, {"method": "paypal"}).json()
    paypal.post(
        started["approval_url"].removeprefix(paypal.url),
        {"email": "payer@example.com", "funding": "ok"},
    )
    saved = client.put(METHOD, {"provider": "paypal", "setup_token_id": started["reference"]})
    assert saved.status == 200, saved.body
    return client


def _with_card(api: Api, account_id: str, form: dict[str, Any] | None = None) -> Client:
    """An account with its billing form (when given) and a card saved."""
    client = api.open_account(account_id)
    if form is not None:
        assert client.put(BILLING_INFO, form).status == 200
    assert api.save_card(client).status == 200
    return client


def _bought(api: Api, client: Client) -> str:
    bought = api.buy(client)
    assert bought.status == 201, bought.body
    return str(bought.json()["id"])


def _renewal_off(client: Client, sub_id: str) -> None:
    cancelled = client.post(f"/subscriptions/{sub_id}/cancel", key=f"cancel-{sub_id}")
    assert cancelled.status == 200, cancelled.body
    assert cancelled.json()["auto_renew"] is False


def _partner_customer(api: Api, paypal: StandIn) -> Answer:
    return _overview(api.open_account(fresh_account_id("resold"), partner=PARTNER))


def _new_vat_id(api: Api, paypal: StandIn) -> Answer:
    client = _with_card(api, fresh_account_id("vat"), FRANCE)
    refused = client.put(BILLING_INFO, FRANCE | {"vat_id": "FR83404833048"})
    details = expect_error(refused, 409, "contact_sales")["details"]
    assert details["rule"] == "country_or_vat_change"
    return "contact_sales", details["why"]


def _zone_cn(api: Api, paypal: StandIn) -> Answer:
    return _overview(api.open_account(fresh_account_id("zone-cn"), domain_zone="cn"))


def _indian_card_renewing(api: Api, paypal: StandIn) -> Answer:
    client = _with_card(api, fresh_account_id("india-renewing"), INDIA)
    _bought(api, client)
    return _overview(client)


def _paypal_in_india_before_buying(api: Api, paypal: StandIn) -> Answer:
    client = api.open_account(fresh_account_id("india-new"))
    assert client.put(BILLING_INFO, INDIA).status == 200
    return _setup(client, "paypal")


def _card_renewal_off(api: Api, paypal: StandIn) -> Answer:
    client = _with_card(api, fresh_account_id("card-off"))
    _renewal_off(client, _bought(api, client))
    return _overview(client)


def _paypal_renewal_off(api: Api, paypal: StandIn) -> Answer:
    client = _with_paypal(api, paypal, fresh_account_id("paypal-off"))
    _renewal_off(client, _bought(api, client))
    return _overview(client)


def _card_instead_of_paypal(api: Api, paypal: StandIn) -> Answer:
    return _setup(_with_paypal(api, paypal, fresh_account_id("to-card")), "card")


def _paypal_instead_of_card(api: Api, paypal: StandIn) -> Answer:
    return _setup(_with_card(api, fresh_account_id("to-paypal")), "paypal")


def _paypal_again(api: Api, paypal: StandIn) -> Answer:
    return _overview(_with_paypal(api, paypal, fresh_account_id("paypal-again")))


def _card_again(api: Api, paypal: StandIn) -> Answer:
    client = _with_card(api, fresh_account_id("card-again"), FRANCE)
    _bought(api, client)
    return _overview(client)


SCENARIOS: dict[str, Scenario] = {
    "partner_customers": _partner_customer,
    "country_or_vat_change": _new_vat_id,
    "zones_without_self_service": _zone_cn,
    "india_card_e_mandate": _indian_card_renewing,
    "paypal_unavailable_in_country": _paypal_in_india_before_buying,
    "card_saved_for_later": _card_renewal_off,
    "paypal_saved_for_later": _paypal_renewal_off,
    "card_replaces_paypal": _card_instead_of_paypal,
    "paypal_replaces_card": _paypal_instead_of_card,
    "paypal_self_service": _paypal_again,
    "card_self_service": _card_again,
}
"""For each shipped rule, a customer the API answers with it."""


def test_every_shipped_rule_has_a_customer_the_api_answers_with_it() -> None:
    assert list(SCENARIOS) == [rule.id for rule in default_rules()]


@pytest.mark.parametrize("rule_id", list(SCENARIOS))
def test_the_api_answers_each_rules_flow_and_why(api: Api, paypal: StandIn, rule_id: str) -> None:
    assert _rule_answered(SCENARIOS[rule_id](api, paypal)) == rule_id


def test_an_indian_card_renewing_automatically_is_changed_through_sales_until_renewal_is_off(
    api: Api,
) -> None:
    account_id = fresh_account_id("india-card")
    client = _with_card(api, account_id, INDIA)
    sub_id = _bought(api, client)
    saved = composition.root().repository.get_account(account_id).payment_method

    started = client.post(SETUP, {"method": "card"})
    refused = client.put(METHOD, CARD)

    assert started.status == 200, started.body
    assert (started.json()["flow"], started.json()["client_secret"]) == ("contact_sales", None)
    assert "e-mandate" in started.json()["why"]
    assert expect_error(refused, 409, "contact_sales")["details"]["rule"] == "india_card_e_mandate"
    assert composition.root().repository.get_account(account_id).payment_method == saved
    _renewal_off(client, sub_id)
    assert api.save_card(client).status == 200


def test_with_renewal_off_a_new_card_is_saved_and_nothing_is_charged(
    api: Api, localstripe: StandIn
) -> None:
    client, sub_id = api.subscribed(fresh_account_id("renewal-off"))
    _renewal_off(client, sub_id)
    charges = stripe_charges(localstripe, sub_id)

    saved = api.save_card(client)

    assert saved.status == 200, saved.body
    assert saved.json()["retried"] is None
    assert stripe_charges(localstripe, sub_id) == charges
    assert client.get(f"/subscriptions/{sub_id}").json()["auto_renew"] is False


def test_a_paypal_customer_is_told_the_card_replaces_paypal_and_it_does(
    api: Api, paypal: StandIn
) -> None:
    client = _with_paypal(api, paypal, fresh_account_id("switch"))

    answer = _setup(client, "card")
    saved = api.save_card(client)

    assert _rule_answered(answer) == "card_replaces_paypal"
    assert saved.status == 200, saved.body
    assert saved.json()["payment_method"]["kind"] == "card"
    assert _rule_answered(_overview(client)) == "card_self_service"
