"""The providers' webhooks end to end: localstripe and the PayPal stand-in deliver their signed
events to a loopback endpoint; each delivery is then sent through the HTTP API's public routes
(the real handler: signature, record once), and the webhook events table's stream feeds
WebhookEventsFunction as Lambda does, which reads the payment or method again from the stand-in.
Deliveries are replayed, reordered and forged here on purpose."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

import pytest
import stripe

from billing import composition
from devstack.api_gateway import LocalLambdaContext, import_handler
from tests.support.api import Client, fresh_account_id
from tests.support.aws import TEMPLATE
from tests.support.notifications import in_process_client
from tests.support.stand_ins import STRIPE_WEBHOOK_SECRET, StandIn
from tests.support.webhooks import EVENTS_FUNCTION, Webhooks, of_type

pytestmark = pytest.mark.integration

EVENTS = TEMPLATE.parent / "events"


def _signed(payload: bytes, at: datetime, secret: str = STRIPE_WEBHOOK_SECRET) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret, timestamp=int(at.timestamp())
    )
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


def _payments(client: Client, sub_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/subscriptions/{sub_id}/payments")
    assert answer.status == 200, answer.body
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _purchase(client: Client, sub_id: str) -> dict[str, Any]:
    [purchase] = [p for p in _payments(client, sub_id) if p["kind"] == "purchase"]
    return purchase


def _recorded_events() -> int:
    """The events recorded in the webhook events table (moto in-process)."""
    table = os.environ["WEBHOOK_EVENTS_TABLE"]
    return len(in_process_client("dynamodb").scan(TableName=table)["Items"])


EXPIRED = {
    "error": {
        "type": "card_error",
        "code": "expired_card",
        "decline_code": "expired_card",
        "message": "Your card has expired.",
    }
}
"""Stripe's answer to a charge of an expired card: a hard decline."""


# --- signatures -----------------------------------------------------------------------------


def test_a_forged_signature_or_a_replayed_old_timestamp_is_refused_and_nothing_recorded(
    webhooks: Webhooks,
) -> None:
    client, sub_id = webhooks.api.subscribed(fresh_account_id("forged"))
    intent = _purchase(client, sub_id)["provider_reference"]
    delivery = webhooks.event("payment_intent.succeeded", id=intent)
    now = webhooks.api.clock()

    forged = webhooks.send("stripe", delivery.body, _signed(delivery.body, now, "whsec_forged"))
    replayed = webhooks.send(
        "stripe", delivery.body, _signed(delivery.body, now.replace(minute=now.minute - 6))
    )
    altered = webhooks.send(
        "stripe", delivery.body.replace(b"succeeded", b"failed"), delivery.provider_headers
    )
    unsigned = webhooks.send("stripe", delivery.body, {"Content-Type": "application/json"})

    for answer in (forged, replayed, altered, unsigned):
        assert answer.status == 400, answer.body
        assert answer.json()["error"]["code"] == "invalid_signature"
    assert _recorded_events() == 0
    accepted = webhooks.deliver("stripe", delivery)
    assert (accepted.status, accepted.json()["duplicate"]) == (200, False)
    assert _recorded_events() == 1


def test_a_paypal_event_not_signed_by_paypal_is_refused(webhooks: Webhooks) -> None:
    account_id = fresh_account_id("paypal-forged")
    client = _paypal_customer(webhooks, account_id)
    token = _token(account_id)
    webhooks.paypal.post(f"/_standin/payment-tokens/{token}/revoke", {})
    delivery = webhooks.event("VAULT.PAYMENT-TOKEN.DELETED", id=token)
    event = delivery.event
    event["id"] = "WH-FORGED-1"

    forged = webhooks.send("paypal", json.dumps(event).encode(), delivery.provider_headers)

    assert forged.status == 400, forged.body
    assert _recorded_events() == 0
    assert _billing(client)["payment_method"] is not None


# --- exactly once, whatever the order -------------------------------------------------------


def test_a_refund_at_the_provider_delivered_three_times_is_recorded_once(
    webhooks: Webhooks,
) -> None:
    account_id = fresh_account_id("refunded")
    client, sub_id = webhooks.api.subscribed(account_id)
    intent = _purchase(client, sub_id)["provider_reference"]
    stripe_refund(webhooks.localstripe, intent, 1000)
    delivery = webhooks.event("charge.refunded", payment_intent=intent)

    answers = [webhooks.deliver("stripe", delivery) for _ in range(3)]

    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    purchase = _purchase(client, sub_id)
    assert purchase["refunded"] == 1000
    [refund] = purchase["refunds"]
    assert (refund["amount"], refund["status"], refund["by_actor"]) == (
        1000,
        "succeeded",
        "provider",
    )
    refunded = webhooks.api.outbox.emails_to(f"{account_id}@example.com")
    assert sum("refunded" in email.subject for email in refunded) == 1


def test_a_payment_failed_event_after_the_succeeded_one_changes_nothing(
    webhooks: Webhooks,
) -> None:
    """A renewal left pending (the provider answered too late) is settled by its succeeded
    event; a payment_failed event about the same payment, delivered after it (stale, out of
    order), reads the payment again and changes nothing."""
    account_id = fresh_account_id("late")
    client, sub_id = webhooks.api.subscribed(account_id)
    end = client.get(f"/subscriptions/{sub_id}").json()["current_period_end"]
    webhooks.api.clock.now = datetime.fromisoformat(end)
    webhooks.localstripe.inject(
        "POST", "/v1/payment_intents", delay=2.5, process_first=True, body_contains=sub_id
    )
    pending = webhooks.api.renew(sub_id, account_id).attempt
    assert pending is not None
    assert pending.status.value == "pending"
    [renewal] = [p for p in _payments(client, sub_id) if p["kind"] == "renewal"]
    succeeded = webhooks.receiver.wait_for(
        lambda d: (
            d.event.get("type") == "payment_intent.succeeded"
            and d.event["data"]["object"]["metadata"].get("charge_key") == renewal["id"]
        ),
        what="the renewal's payment_intent.succeeded",
    )[0]
    stale = dict(succeeded.event)
    stale["id"] = f"{stale['id']}_failed"
    stale["type"] = "payment_intent.payment_failed"
    stale_body = json.dumps(stale).encode()

    assert webhooks.deliver("stripe", succeeded).status == 200
    renewed = client.get(f"/subscriptions/{sub_id}").json()
    assert (renewed["status"], renewed["current_period_end"] > end) == ("active", True)
    late = webhooks.send("stripe", stale_body, _signed(stale_body, webhooks.api.clock()))

    assert (late.status, late.json()["duplicate"]) == (200, False)
    assert client.get(f"/subscriptions/{sub_id}").json() == renewed
    [settled] = [p for p in _payments(client, sub_id) if p["kind"] == "renewal"]
    assert settled["status"] == "succeeded"


# --- disputes -------------------------------------------------------------------------------


def test_a_dispute_stops_the_next_renewal_and_sales_is_told(webhooks: Webhooks) -> None:
    account_id = fresh_account_id("disputed")
    client = webhooks.api.open_account(account_id)
    assert webhooks.api.save_card(client, "pm_card_createDispute").status == 200
    bought = webhooks.api.buy(client)
    assert bought.status == 201, bought.body
    sub_id = bought.json()["id"]
    intent = _purchase(client, sub_id)["provider_reference"]
    delivery = webhooks.event("charge.dispute.created", payment_intent=intent)

    assert webhooks.deliver("stripe", delivery).status == 200

    held = client.get(f"/subscriptions/{sub_id}").json()
    assert held["disputed_payment_id"] == _purchase(client, sub_id)["id"]
    assert held["next_charge_at"] is None
    assert _purchase(client, sub_id)["dispute"]["status"] == "open"
    notices = webhooks.api.outbox.sales_notices()
    assert any(n.get("notice") == "dispute_opened" for n in notices), notices
    charges_before = len(webhooks.localstripe.requests("POST", "/v1/payment_intents"))
    webhooks.api.clock.now = datetime.fromisoformat(held["current_period_end"])
    assert webhooks.api.renew(sub_id, account_id).attempt is None
    assert len(webhooks.localstripe.requests("POST", "/v1/payment_intents")) == charges_before
    # Sales clears it: the renewal is due again.
    cleared = webhooks.api.staff("sales").post(
        f"/admin/subscriptions/{sub_id}/clear-dispute", key="clear"
    )
    assert cleared.status == 200, cleared.body
    assert cleared.json()["next_charge_at"] == held["current_period_end"]


# --- saved methods --------------------------------------------------------------------------


def _billing(client: Client) -> dict[str, Any]:
    answer = client.get("/account/billing")
    assert answer.status == 200, answer.body
    billing: dict[str, Any] = answer.json()
    return billing


def _token(account_id: str) -> str:
    """The provider's token of the account's saved method (never shown by the API)."""
    method = composition.root().repository.get_account(account_id).payment_method
    assert method is not None
    return method.token


def _paypal_customer(webhooks: Webhooks, account_id: str, funding: str = "ok") -> Client:
    client = webhooks.api.open_account(account_id)
    started = client.post("/account/payment-method/setup", {"method": "paypal"})
    assert started.status == 200, started.body
    reference = started.json()["reference"]
    webhooks.paypal.post(
        f"/_standin/approve/{reference}", {"email": "payer@example.com", "funding": funding}
    )
    saved = client.put(
        "/account/payment-method", {"provider": "paypal", "setup_token_id": reference}
    )
    assert saved.status == 200, saved.body
    return client


def test_a_revoked_paypal_token_is_removed_and_the_customer_emailed(webhooks: Webhooks) -> None:
    account_id = fresh_account_id("revoked")
    client = _paypal_customer(webhooks, account_id)
    bought = webhooks.api.buy(client)
    assert bought.status == 201, bought.body
    token = _token(account_id)

    webhooks.paypal.post(f"/_standin/payment-tokens/{token}/revoke", {})
    delivery = webhooks.event("VAULT.PAYMENT-TOKEN.DELETED", id=token)
    answers = [webhooks.deliver("paypal", delivery) for _ in range(2)]

    assert [a.status for a in answers] == [200, 200]
    assert _billing(client)["payment_method"] is None
    removed = [
        e
        for e in webhooks.api.outbox.emails_to(f"{account_id}@example.com")
        if "payment method was removed" in e.subject
    ]
    assert len(removed) == 1


def test_a_card_the_network_updated_is_retried_after_its_hard_decline(
    webhooks: Webhooks,
) -> None:
    account_id = fresh_account_id("updated")
    client, sub_id = webhooks.api.subscribed(account_id)
    card = _token(account_id)
    end = client.get(f"/subscriptions/{sub_id}").json()["current_period_end"]
    webhooks.api.clock.now = datetime.fromisoformat(end)
    webhooks.localstripe.inject(
        "POST", "/v1/payment_intents", status=402, body=EXPIRED, body_contains=sub_id
    )
    declined = webhooks.api.renew(sub_id, account_id).subscription
    assert declined.last_failure is not None
    assert declined.last_failure.reason.value == "payment_method_invalid"
    assert declined.next_retry_at is not None
    webhooks.api.clock.advance(hours=1)

    webhooks.localstripe.post(
        f"/_config/payment_methods/{card}/automatic_update",
        {"last4": "1881", "exp_month": 12, "exp_year": 2031},
    )
    delivery = webhooks.event("payment_method.automatically_updated", id=card)
    assert webhooks.deliver("stripe", delivery).status == 200

    method = _billing(client)["payment_method"]
    assert (method["last4"], method["exp_year"]) == ("1881", 2031)
    keys_before = stripe_keys(webhooks.localstripe, sub_id)
    webhooks.api.clock.now = declined.next_retry_at
    webhooks.api.renew(sub_id, account_id)
    assert len(stripe_keys(webhooks.localstripe, sub_id)) == len(keys_before) + 1


# --- refunds by sales -----------------------------------------------------------------------


def test_sales_refunds_and_the_webhook_that_follows_finds_it_recorded(
    webhooks: Webhooks,
) -> None:
    client, sub_id = webhooks.api.subscribed(fresh_account_id("sales-refund"))
    payment = _purchase(client, sub_id)
    sales = webhooks.api.staff("sales")
    path = f"/admin/payments/{payment['id']}/refund"

    too_large = sales.post(path, {"amount": payment["amount"] + 1}, key="too-large")
    part = sales.post(path, {"amount": 900}, key="part")
    rest = sales.post(path, {"cancel": True}, key="rest")

    assert too_large.status == 422, too_large.body
    assert too_large.json()["error"]["code"] == "refund_too_large"
    assert part.status == 200, part.body
    assert rest.status == 200, rest.body
    assert rest.json()["subscription"]["status"] == "cancelled"
    left = payment["amount"] - 900
    refunds = rest.json()["payment"]["refunds"]
    assert [(r["amount"], r["status"], r["by_actor"]) for r in refunds] == [
        (900, "succeeded", "sales"),
        (left, "succeeded", "sales"),
    ]
    for delivery in webhooks.receiver.wait_for(
        of_type("charge.refunded", payment_intent=payment["provider_reference"]), count=2
    ):
        assert webhooks.deliver("stripe", delivery).status == 200
    assert [r["amount"] for r in _purchase(client, sub_id)["refunds"]] == [
        900,
        payment["amount"] - 900,
    ]
    assert sales.post(path, {}, key="nothing-left").json()["error"]["code"] == "refund_too_large"


# --- helpers on the stand-ins ---------------------------------------------------------------


def stripe_refund(localstripe: StandIn, payment_intent: str, amount: int) -> None:
    """A refund made in Stripe's dashboard: straight at the stand-in's API."""
    client = stripe.StripeClient("sk_test_dashboard", base_addresses={"api": localstripe.url})
    client.v1.refunds.create(params={"payment_intent": payment_intent, "amount": amount})


def stripe_keys(localstripe: StandIn, subscription_id: str) -> list[str]:
    return [
        r["idempotency_key"]
        for r in localstripe.requests("POST", "/v1/payment_intents")
        if (r["idempotency_key"] or "").startswith(subscription_id)
    ]


# --- a PayPal capture held for review -------------------------------------------------------


def test_a_paypal_capture_pending_for_hours_is_kept_then_settled_by_its_webhook(
    webhooks: Webhooks,
) -> None:
    """PayPal holds the purchase's capture for review: the purchase answers payment_pending,
    PAYMENT.CAPTURE.PENDING keeps it so, and past PayPal's request-id memory the sweep's look-up
    cannot say and leaves it pending rather than give up; PAYMENT.CAPTURE.COMPLETED opens the
    subscription, charged once."""
    api = webhooks.api
    account_id = fresh_account_id("paypal-pending")
    client = _paypal_customer(webhooks, account_id, funding="pending")

    bought = api.buy(client)

    assert bought.status == 503, bought.body
    assert bought.json()["error"]["code"] == "payment_pending"
    repository = composition.root().repository
    held = repository.get_account(account_id).pending_purchase
    assert held is not None
    pending = webhooks.event(
        "PAYMENT.CAPTURE.PENDING", custom_id=f"{held.subscription_id}.c00000.a001"
    )
    capture = pending.event["resource"]["id"]
    assert webhooks.deliver("paypal", pending).status == 200
    assert repository.get_attempt(held.subscription_id, 0, 1).status.value == "pending"

    api.clock.advance(hours=7)
    swept = composition.root().charging.reconcile(held.subscription_id, account_id, 0, 1)
    assert swept.attempt is not None
    assert swept.attempt.status.value == "pending"

    webhooks.paypal.post(f"/_standin/captures/{capture}/complete", {})
    completed = webhooks.event("PAYMENT.CAPTURE.COMPLETED", id=capture)
    assert webhooks.deliver("paypal", completed).status == 200

    opened = client.get(f"/subscriptions/{held.subscription_id}")
    assert opened.status == 200, opened.body
    assert opened.json()["status"] == "active"
    assert _purchase(client, held.subscription_id)["status"] == "succeeded"
    captures = [
        r
        for r in webhooks.paypal.requests("POST", "/v2/checkout/orders/")
        if r["path"].endswith("/capture")
        and held.subscription_id in (r.get("idempotency_key") or "")
    ]
    assert len(captures) == 1


def test_a_lost_paypal_dispute_makes_the_renewed_period_unpaid(webhooks: Webhooks) -> None:
    """The payer disputes the renewal that paid the current period and wins it: the period is
    unpaid again, past due with the reason the customer is shown; the dispute's events,
    delivered in any order and again, change it once."""
    api = webhooks.api
    account_id = fresh_account_id("paypal-dispute")
    client = _paypal_customer(webhooks, account_id)
    bought = api.buy(client)
    assert bought.status == 201, bought.body
    sub_id = bought.json()["id"]
    api.clock.now = datetime.fromisoformat(bought.json()["current_period_end"])
    assert api.renew(sub_id, account_id).subscription.cycle == 1
    [renewal] = [p for p in _payments(client, sub_id) if p["kind"] == "renewal"]
    capture = renewal["provider_reference"]

    webhooks.paypal.post(f"/_standin/captures/{capture}/dispute", {"reason": "UNAUTHORISED"})
    opened = webhooks.event("CUSTOMER.DISPUTE.CREATED")
    dispute_id = opened.event["resource"]["dispute_id"]
    webhooks.paypal.post(
        f"/_standin/disputes/{dispute_id}/resolve", {"outcome": "RESOLVED_BUYER_FAVOUR"}
    )
    resolved = webhooks.event("CUSTOMER.DISPUTE.RESOLVED", dispute_id=dispute_id)
    reversed_ = webhooks.event("PAYMENT.CAPTURE.REVERSED", id=capture)
    for delivery in (reversed_, opened, resolved, reversed_):
        assert webhooks.deliver("paypal", delivery).status == 200

    unpaid = client.get(f"/subscriptions/{sub_id}").json()
    assert (unpaid["status"], unpaid["last_failure"]["reason"]) == ("past_due", "payment_reversed")
    assert unpaid["current_period_end"] == bought.json()["current_period_end"]
    assert unpaid["disputed_payment_id"] == renewal["id"]
    [renewal] = [p for p in _payments(client, sub_id) if p["kind"] == "renewal"]
    assert renewal["dispute"]["status"] == "lost"
    reversed_emails = [
        e for e in api.outbox.emails_to(f"{account_id}@example.com") if "reversed" in e.subject
    ]
    assert len(reversed_emails) == 1
    notices = [n.get("notice") for n in api.outbox.sales_notices()]
    assert (notices.count("dispute_opened"), notices.count("dispute_lost")) == (1, 1)


def test_an_event_its_stream_record_did_not_get_acted_on_is_swept(webhooks: Webhooks) -> None:
    """The events function gave up on the stream batch (a long provider outage): the event
    stays unprocessed, and the sweep acts on it once it is ten minutes old; the stream record
    delivered after that finds it processed."""
    account_id = fresh_account_id("swept")
    client, sub_id = webhooks.api.subscribed(account_id)
    intent = _purchase(client, sub_id)["provider_reference"]
    stripe_refund(webhooks.localstripe, intent, 700)
    delivery = webhooks.event("charge.refunded", payment_intent=intent)
    received = webhooks.api.anonymous.request(
        "POST",
        "/webhooks/stripe",
        raw=delivery.body.decode(),
        headers=delivery.provider_headers,
    )
    assert received.status == 200, received.body
    sweep = import_handler("webhooks.events.lambda_handler")
    context = LocalLambdaContext.for_function(EVENTS_FUNCTION)
    swept_event = json.loads((EVENTS / "webhooks" / "swept.json").read_text())

    assert sweep(swept_event, context) == {"swept": {}}, "not before ten minutes"
    webhooks.api.clock.advance(minutes=11)
    assert sweep(swept_event, context) == {"swept": {"recorded": 1}}

    assert _purchase(client, sub_id)["refunded"] == 700
    webhooks.deliver("stripe", delivery)  # drains the stream: the record acted on already
    assert _purchase(client, sub_id)["refunded"] == 700
    assert sweep(swept_event, context) == {"swept": {}}
    emails = webhooks.api.outbox.emails_to(f"{account_id}@example.com")
    assert sum("refunded" in email.subject for email in emails) == 1
