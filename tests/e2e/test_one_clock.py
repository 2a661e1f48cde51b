"""One clock for every part of the running stack: what localstripe and the PayPal stand-in
stamp on a charge is the stack's instant, however far the clock was moved, so a charge looked
up later by its creation time is found; the VIES stand-in, which the functions ask about a VAT
ID, dates its answers with it too."""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from billing.providers.stripe_gateway import CHARGE_KEY
from devstack.paypal_stand_in import CLIENT_ID, CLIENT_SECRET
from devstack.resources import LOCAL_STRIPE_KEY
from tests.support.api import fresh_account_id
from tests.support.devstack import Customer, RunningStack

ORDER = {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"}


def _get(url: str, authorization: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": authorization})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _buy_later(stack: RunningStack, customer: Customer) -> tuple[str, str]:
    """The clock moved 40 days on, then a plan bought: the subscription's id and the instant."""
    moved: str = stack.call("POST", "/_dev/clock", {"days": 40}).body["now"]
    bought = stack.call("POST", "/subscriptions", ORDER, token=customer.token, key="buy")
    assert bought.status == 201, bought.body
    return bought.body["id"], moved


def test_localstripe_creates_the_charge_at_the_stacks_instant(stack: RunningStack) -> None:
    customer = stack.customer("clock-stripe")

    subscription_id, moved = _buy_later(stack, customer)

    listed = _get(
        f"{stack.localstripe.url}/v1/payment_intents?limit=100", f"Bearer {LOCAL_STRIPE_KEY}"
    )
    [intent] = [
        intent
        for intent in listed["data"]
        if intent["metadata"].get(CHARGE_KEY, "").startswith(f"{subscription_id}.")
    ]
    assert intent["created"] == int(datetime.fromisoformat(moved).timestamp())


def _paypal_token(stack: RunningStack) -> str:
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    request = urllib.request.Request(
        f"{stack.paypal.url}/v1/oauth2/token",
        data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
        headers={"Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token: str = json.load(response)["access_token"]
    return token


def test_the_paypal_stand_in_creates_the_order_at_the_stacks_instant(
    stack: RunningStack,
) -> None:
    customer = stack.customer("clock-paypal", card=None)
    started = stack.call(
        "POST", "/account/payment-method/setup", {"method": "paypal"}, token=customer.token
    ).body
    stack.paypal.post(
        started["approval_url"].removeprefix(stack.paypal.url),
        {"email": "payer@example.com", "funding": "ok"},
    )
    wallet = {"provider": "paypal", "setup_token_id": started["reference"]}
    saved = stack.call("PUT", "/account/payment-method", wallet, token=customer.token)
    assert saved.status == 200, saved.body

    subscription_id, moved = _buy_later(stack, customer)

    [capture] = [
        seen
        for seen in stack.paypal.requests("POST", "/v2/checkout/orders/")
        if (seen["idempotency_key"] or "").startswith(f"{subscription_id}.")
    ]
    order_id = capture["path"].split("/")[4]
    order = _get(
        f"{stack.paypal.url}/v2/checkout/orders/{order_id}", f"Bearer {_paypal_token(stack)}"
    )
    assert order["status"] == "COMPLETED"
    assert (order["create_time"], order["update_time"]) == (moved, moved)
    [captured] = order["purchase_units"][0]["payments"]["captures"]
    assert captured["create_time"] == moved


def _create_customer(stack: RunningStack, key: str) -> str:
    request = urllib.request.Request(
        f"{stack.localstripe.url}/v1/customers",
        data=urllib.parse.urlencode({"email": "keys@example.com"}).encode(),
        headers={"Authorization": f"Bearer {LOCAL_STRIPE_KEY}", "Idempotency-Key": key},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        customer_id: str = json.load(response)["id"]
    return customer_id


def test_localstripe_forgets_idempotency_keys_after_a_day_of_the_stacks_clock(
    stack: RunningStack,
) -> None:
    key = fresh_account_id("customer")
    first = _create_customer(stack, key)

    stack.call("POST", "/_dev/clock", {"hours": 23, "seconds": 3599})
    assert _create_customer(stack, key) == first, "replayed within 24 hours"
    stack.call("POST", "/_dev/clock", {"seconds": 1})
    assert _create_customer(stack, key) != first, "a new request once the key is a day old"


def test_the_functions_ask_the_vies_stand_in_which_answers_on_the_stacks_clock(
    stack: RunningStack,
) -> None:
    customer = stack.customer("clock-vies", card=None)
    moved: str = stack.call("POST", "/_dev/clock", {"days": 3}).body["now"]
    belgian = {
        "name": "Lotte Peeters",
        "company": "Exemple Services SA",
        "email": "factuur@voorbeeld.be",
        "address_line1": "Rue de la Loi 16",
        "city": "Bruxelles",
        "postal_code": "1000",
        "country": "BE",
        "vat_id": "BE0123456789",
    }

    saved = stack.call("PUT", "/account/billing-info", belgian, token=customer.token, key="be")
    asked = len(stack.vies.requests("POST", "/check-vat-number"))
    answered = stack.vies.post(
        "/check-vat-number",
        {"countryCode": "DE", "vatNumber": "123456789", "requesterMemberStateCode": "FR",
         "requesterNumber": "34912345600"},
    )  # fmt: skip

    assert saved.status == 200, saved.body
    assert saved.body["vat_id_check"]["status"] == "valid"
    assert saved.body["vat_id_check"]["checked_at"] == moved
    assert saved.body["reverse_charged"] is True
    assert asked >= 1, "the function asked the stand-in"
    assert (answered["valid"], answered["requestDate"]) == (True, moved)
