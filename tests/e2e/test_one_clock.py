"""One clock for every part of the running stack: what localstripe and the PayPal stand-in
stamp on a charge is the stack's instant, however far the clock was moved, so a charge looked
up later by its creation time is found."""

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
