"""The running stack receives the providers' webhooks through its own API path, as in AWS:
`make dev` registered its endpoint with localstripe and with the PayPal stand-in, which deliver
their signed events to the local API Gateway; the webhook events table's stream then feeds
WebhookEventsFunction. Nothing here sends an event by hand."""

from __future__ import annotations

from typing import Any

import stripe

from devstack.resources import LOCAL_STRIPE_KEY
from tests.support.devstack import RunningStack, eventually
from tests.support.paypal import paypal_api

ORDER = {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"}


def _purchase(stack: RunningStack, token: str, subscription_id: str) -> dict[str, Any]:
    payments = stack.call("GET", f"/subscriptions/{subscription_id}/payments", token=token)
    [purchase] = [p for p in payments.body["items"] if p["kind"] == "purchase"]
    found: dict[str, Any] = purchase
    return found


def test_a_refund_made_in_stripes_dashboard_shows_on_the_payment(stack: RunningStack) -> None:
    customer = stack.customer("stack-refund")
    bought = stack.call("POST", "/subscriptions", ORDER, token=customer.token, key="buy")
    assert bought.status == 201, bought.body
    sub_id = bought.body["id"]
    intent = _purchase(stack, customer.token, sub_id)["provider_reference"]

    dashboard = stripe.StripeClient(LOCAL_STRIPE_KEY, base_addresses={"api": stack.localstripe.url})
    dashboard.v1.refunds.create(params={"payment_intent": intent, "amount": 1200})

    eventually(
        lambda: _purchase(stack, customer.token, sub_id)["refunded"] == 1200,
        "the refund recorded from Stripe's charge.refunded webhook",
    )
    [refund] = _purchase(stack, customer.token, sub_id)["refunds"]
    assert (refund["by_actor"], refund["by"], refund["status"]) == (
        "provider",
        "stripe",
        "succeeded",
    )


def test_a_paypal_token_revoked_by_the_payer_is_removed(stack: RunningStack) -> None:
    customer = stack.customer("stack-revoked", card=None)
    started = stack.call(
        "POST", "/account/payment-method/setup", {"method": "paypal"}, token=customer.token
    )
    assert started.status == 200, started.body
    reference = started.body["reference"]
    stack.paypal.post(f"/_standin/approve/{reference}", {"email": "payer@example.com"})
    saved = stack.call(
        "PUT",
        "/account/payment-method",
        {"provider": "paypal", "setup_token_id": reference},
        token=customer.token,
    )
    assert saved.status == 200, saved.body
    # The merchant's own view at PayPal: the setup token's customer, then its saved tokens.
    paypal_customer = paypal_api(stack.paypal, "GET", f"/v3/vault/setup-tokens/{reference}")
    saved_tokens = paypal_api(
        stack.paypal,
        "GET",
        f"/v3/vault/payment-tokens?customer_id={paypal_customer['customer']['id']}",
    )
    [token] = [t["id"] for t in saved_tokens["payment_tokens"]]

    stack.paypal.post(f"/_standin/payment-tokens/{token}/revoke", {})

    eventually(
        lambda: (
            stack.call("GET", "/account/billing", token=customer.token).body["payment_method"]
            is None
        ),
        "the method removed from PayPal's VAULT.PAYMENT-TOKEN.DELETED webhook",
    )
