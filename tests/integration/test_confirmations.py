"""3-D Secure end to end, through the HTTP API against localstripe: its
`pm_card_authenticationRequired` card asks for authentication on every payment, and its
`/v1/payment_intents/{id}/_authenticate` route is the customer answering their bank (what the
page's Stripe.js does, with the client secret and publishable key our API gives). A renewal
that needs it goes past due and emails a link; the payment is completed by its webhook or by
the page; a refused authentication counts as a failed attempt; Retry Now and a purchase answer
402 and complete."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from billing import composition
from tests.support.api import Api, Client, fresh_account_id
from tests.support.localstripe import authenticate, payment_intents
from tests.support.stand_ins import STRIPE_PUBLISHABLE_KEY, StandIn
from tests.support.webhooks import Webhooks

pytestmark = pytest.mark.integration

ASKS = "pm_card_authenticationRequired"


def _renewal_to_confirm(api: Api, account_id: str) -> tuple[Client, str, dict[str, Any]]:
    """A subscription bought with a working card, then paid with a card whose bank asks for
    3-D Secure: its renewal, off session, fails and waits for the customer."""
    client, sub_id = api.subscribed(account_id)
    assert api.save_card(client, ASKS, authenticate=True).status == 200
    api.clock.now = datetime.fromisoformat(
        client.get(f"/subscriptions/{sub_id}").json()["current_period_end"]
    )
    api.renew(sub_id, account_id)
    return client, sub_id, _payment(client, sub_id, "renewal")


def _payment(client: Client, sub_id: str, kind: str) -> dict[str, Any]:
    payments = client.get(f"/subscriptions/{sub_id}/payments").json()["items"]
    return next(p for p in payments if p["kind"] == kind)


def _path(sub_id: str, payment_id: str, *rest: str) -> str:
    return "/".join((f"/subscriptions/{sub_id}/payments/{payment_id}/authentication", *rest))


def _succeeded(localstripe: StandIn, customer: str, charge_key: str) -> int:
    return sum(
        1
        for intent in payment_intents(localstripe, customer)
        if intent.metadata.to_dict().get("charge_key") == charge_key
        and intent.status == "succeeded"
    )


def _customer(account_id: str) -> str:
    customer = composition.root().repository.get_account(account_id).stripe_customer_id
    assert customer is not None
    return customer


def test_a_renewal_the_bank_asks_to_confirm_is_recovered_by_its_webhook(
    webhooks: Webhooks, localstripe: StandIn
) -> None:
    api = webhooks.api
    account_id = fresh_account_id("sca-renewal")
    client, sub_id, renewal = _renewal_to_confirm(api, account_id)

    sub = client.get(f"/subscriptions/{sub_id}").json()
    assert (renewal["status"], renewal["failure_reason"]) == ("failed", "authentication_required")
    assert sub["status"] == "past_due"
    assert sub["last_failure"]["reason"] == "authentication_required"
    [email] = [
        e
        for e in api.outbox.emails_to(f"{account_id}@example.com")
        if "could not renew" in e.subject
    ]
    link = re.search(r"https?://\S+/payments/(\S+)/confirm", email.body)
    assert link is not None, email.body
    assert link.group(1) == renewal["id"]
    # What the page reads to run Stripe.js, then the customer answers their bank.
    page = client.get(_path(sub_id, renewal["id"]))
    assert page.status == 200, page.body
    assert page.json()["status"] == "requires_action"
    assert page.json()["publishable_key"] == STRIPE_PUBLISHABLE_KEY
    authenticate(localstripe, page.json()["client_secret"])
    delivery = webhooks.event("payment_intent.succeeded", id=renewal["provider_reference"])
    assert webhooks.deliver("stripe", delivery).status == 200

    active = client.get(f"/subscriptions/{sub_id}").json()
    assert active["status"] == "active"
    assert active["current_period_end"] > sub["current_period_end"]
    assert _payment(client, sub_id, "renewal")["status"] == "succeeded"
    # The page says it is done after the webhook: answered, nothing more recorded.
    done = client.post(_path(sub_id, renewal["id"], "complete"), None)
    assert done.status == 200, done.body
    assert done.json()["status"] == "active"
    assert _succeeded(localstripe, _customer(account_id), renewal["id"]) == 1
    emails = api.outbox.emails_to(f"{account_id}@example.com")
    assert sum("is renewed" in e.subject for e in emails) == 1  # the renewal's receipt, once


def test_a_refused_authentication_counts_as_a_failed_attempt_and_dunning_goes_on(
    api: Api, localstripe: StandIn
) -> None:
    account_id = fresh_account_id("sca-refused")
    client, sub_id, renewal = _renewal_to_confirm(api, account_id)

    page = client.get(_path(sub_id, renewal["id"])).json()
    authenticate(localstripe, page["client_secret"], success=False)
    completed = client.post(_path(sub_id, renewal["id"], "complete"), None)

    assert completed.status == 402, completed.body
    error = completed.json()["error"]
    assert error["code"] == "authentication_required"
    assert error["details"]["action"] == "confirm_payment"
    sub = client.get(f"/subscriptions/{sub_id}").json()
    assert sub["status"] == "past_due"
    assert _payment(client, sub_id, "renewal")["status"] == "failed"
    # The first scheduled retry charges again: the refusal was one failed attempt.
    api.clock.now = datetime.fromisoformat(sub["next_charge_at"])
    retried = api.renew(sub_id, account_id).attempt
    assert retried is not None
    assert (retried.kind.value, retried.attempt) == ("retry", 2)
    assert _succeeded(localstripe, _customer(account_id), renewal["id"]) == 0


def test_retry_now_answers_402_and_completes_once_confirmed(api: Api, localstripe: StandIn) -> None:
    account_id = fresh_account_id("sca-retry-now")
    client, sub_id, _ = _renewal_to_confirm(api, account_id)

    pressed = client.post(f"/subscriptions/{sub_id}/retry", None)

    assert pressed.status == 402, pressed.body
    details = pressed.json()["error"]["details"]
    assert pressed.json()["error"]["code"] == "authentication_required"
    assert details["status"] == "requires_action"
    assert details["publishable_key"] == STRIPE_PUBLISHABLE_KEY
    [intent] = [
        i
        for i in payment_intents(localstripe, _customer(account_id))
        if i.metadata.to_dict().get("charge_key") == details["payment_id"]
    ]
    assert intent.client_secret == details["client_secret"]
    authenticate(localstripe, details["client_secret"])
    done = client.post(_path(sub_id, details["payment_id"], "complete"), None)

    assert done.status == 200, done.body
    assert done.json()["status"] == "active"
    assert done.json()["attempt"]["status"] == "succeeded"
    assert _succeeded(localstripe, _customer(account_id), details["payment_id"]) == 1


def test_a_purchase_answers_402_and_opens_once_confirmed(api: Api, localstripe: StandIn) -> None:
    account_id = fresh_account_id("sca-purchase")
    client = api.open_account(account_id)
    assert api.save_card(client, ASKS, authenticate=True).status == 200

    bought = api.buy(client)

    assert bought.status == 402, bought.body
    details = bought.json()["error"]["details"]
    assert client.get("/subscriptions").json()["items"] == []
    authenticate(localstripe, details["client_secret"])
    done = client.post(_path(details["subscription_id"], details["payment_id"], "complete"), None)

    assert done.status == 200, done.body
    [sub] = client.get("/subscriptions").json()["items"]
    assert (sub["id"], sub["status"]) == (details["subscription_id"], "active")
    assert _succeeded(localstripe, _customer(account_id), details["payment_id"]) == 1


def test_the_retry_after_a_new_card_answers_402_with_the_card_saved(
    api: Api, localstripe: StandIn
) -> None:
    account_id = fresh_account_id("sca-new-card")
    client, sub_id = api.past_due(account_id)

    saved = api.save_card(client, ASKS, authenticate=True)

    assert saved.status == 402, saved.body
    details = saved.json()["error"]["details"]
    assert details["subscription_id"] == sub_id
    assert client.get("/account/billing").json()["payment_method"]["brand"] == "visa"
    authenticate(localstripe, details["client_secret"])
    done = client.post(_path(sub_id, details["payment_id"], "complete"), None)
    assert done.status == 200, done.body
    assert done.json()["status"] == "active"
