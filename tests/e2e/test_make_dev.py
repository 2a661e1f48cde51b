"""The README's run command, `make dev`, started as a developer starts it (on free ports) and
driven over HTTP through the README's walkthrough: buy a plan with a coupon, a renewal that
succeeds, one that fails, Retry Now, a new card, cancel and the end of the period with
auto-renewal off; a payment-system outage past the grace; money given back by sales and in
Stripe's dashboard; a bank that asks for 3-D Secure at setup, purchase and renewal; then Ctrl-C,
which leaves nothing running."""

from __future__ import annotations

import io
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from devstack.processes import ensure_free
from devstack.resources import LOCAL_STRIPE_KEY
from tests.support.devstack import (
    START,
    RunningStack,
    ctrl_c,
    eventually,
    group_is_gone,
    running_stack,
)
from tests.support.localstripe import authenticate


@pytest.fixture
def make_dev(tmp_path: Path) -> Iterator[RunningStack]:
    """``make dev`` itself, for this test alone: the walkthrough needs a fresh outbox and the
    clock where the README starts it."""
    with running_stack(["make", "dev"], tmp_path) as running:
        yield running


def _serves_the_template(stack: RunningStack) -> None:
    output = stack.output.read_text()
    assert f"HTTP API         {stack.url}" in output
    assert f"export TOKEN={stack.shell_variables()['TOKEN']}" in output, "a ready token"
    assert stack.call("GET", "/plans").status == 200
    assert stack.call("GET", "/subscriptions").status == 401, "the authorizer guards the API"
    document = stack.call("GET", "/openapi.json").body
    assert "/subscriptions/{subscription_id}/retry" in document["paths"]
    assert "/_dev/clock" in document["paths"]


def _buy_with_a_coupon(stack: RunningStack, admin: str, customer: str) -> dict[str, Any]:
    """An admin opens the account; its customer saves a card and buys with a coupon."""
    account = stack.call(
        "PUT",
        "/admin/accounts/demo",
        {"email": "demo@example.com", "locale": "en", "domain_zone": "com"},
        token=admin,
    )
    assert account.status == 201, account.body
    saved = stack.save_card(customer)  # set up, confirmed at localstripe, saved
    assert (saved.status, saved.body["payment_method"]["last4"]) == (200, "4242")
    order = {"plan_id": "basic", "cycle_months": 1, "currency": "EUR", "coupon": "WELCOME20"}
    bought = stack.call("POST", "/subscriptions", order, token=customer, key="buy-1")
    assert bought.status == 201, bought.body
    sub: dict[str, Any] = bought.body
    assert (sub["status"], sub["price"], sub["discount"]["amount_off"]) == ("active", 4900, 980)
    assert (sub["current_period_start"], sub["current_period_end"]) == (
        START,
        "2026-02-28T09:30:00Z",
    ), "a month from Jan 31 ends on the last day of February"
    return sub


def _renew(stack: RunningStack, customer: str, path: str) -> None:
    """The clock reaches the period's end: the renewal charges the full price."""
    moved = stack.call("POST", "/_dev/clock", {"now": "2026-02-28T09:30:00Z"})
    assert moved.body == {"now": "2026-02-28T09:30:00Z"}
    ran = stack.call("POST", "/_dev/renewals/run").body
    assert ran == {"processed": 1, "succeeded": 1, "failed": 0}
    renewed = stack.call("GET", path, token=customer).body
    assert (renewed["status"], renewed["current_period_end"]) == (
        "active",
        "2026-03-31T09:30:00Z",
    ), "back to the anchor day"


def _fail_then_retry_now(stack: RunningStack, customer: str, path: str) -> None:
    """A card the bank declines: the renewal fails, the subscription is past due, and Retry
    Now with the same card fails again (sales is told)."""
    assert stack.save_card(customer, "pm_card_chargeCustomerFail").status == 200
    assert stack.call("POST", "/_dev/clock", {"days": 31}).body == {"now": "2026-03-31T09:30:00Z"}
    ran = stack.call("POST", "/_dev/renewals/run").body
    assert ran == {"processed": 1, "succeeded": 0, "failed": 1}
    past_due = stack.call("GET", path, token=customer).body
    assert (past_due["status"], past_due["access"]) == ("past_due", True)
    assert past_due["last_failure"]["reason"] == "card_declined"
    assert past_due["next_charge_at"] == "2026-04-01T09:30:00Z", "first retry a day later"
    retried = stack.call("POST", f"{path}/retry", token=customer, key="retry-1")
    assert retried.status == 200, retried.body
    assert retried.body["attempt"]["status"] == "failed"
    assert retried.body["next_charge_at"] == "2026-04-01T09:30:00Z", "schedule not shifted"


def _new_card_then_cancel(stack: RunningStack, customer: str, path: str) -> None:
    """A new card charges the overdue renewal at once, the period anchored where it was;
    cancelling then turns auto-renewal off until the end of the paid period."""
    updated = stack.save_card(customer)
    assert updated.status == 200, updated.body
    assert updated.body["retried"]["status"] == "active"
    recovered = stack.call("GET", path, token=customer).body
    assert (recovered["status"], recovered["current_period_end"]) == (
        "active",
        "2026-04-30T09:30:00Z",
    )
    cancelled = stack.call("POST", f"{path}/cancel", token=customer, key="cancel-1")
    assert cancelled.status == 200, cancelled.body
    assert (cancelled.body["status"], cancelled.body["auto_renew"]) == ("active", False)
    payments = stack.call("GET", f"{path}/payments", token=customer).body["items"]
    # Net prices and 20 % French VAT: the customer gave no billing country.
    assert [(p["kind"], p["amount"], p["status"]) for p in reversed(payments)] == [
        ("purchase", 4704, "succeeded"),
        ("renewal", 5880, "succeeded"),
        ("renewal", 5880, "failed"),
        ("retry_now", 5880, "failed"),
        ("payment_method_update", 5880, "succeeded"),
    ]
    paid = [p for p in payments if p["status"] == "succeeded"]
    assert [p["invoice"]["number"] for p in reversed(paid)] == [1, 2, 3]
    assert paid[-1]["tax"] == {
        "rule": "domestic",
        "country": None,
        "rate": "20",
        "net": 3920,
        "vat": 784,
        "gross": 4704,
        "legal_mention": None,
    }


def _delivered(stack: RunningStack) -> dict[str, Any]:
    """``GET /_dev/outbox`` once every message of the outbox is sent (or skipped): the notify
    function sends them from the outbox table's stream, a poll after their change."""
    pages: list[dict[str, Any]] = []

    def nothing_pending() -> bool:
        pages.append(stack.call("GET", "/_dev/outbox").body)
        return all(message["status"] != "pending" for message in pages[-1]["messages"])

    eventually(nothing_pending, "the outbox's messages sent from its stream")
    return pages[-1]


def _told(stack: RunningStack, subscription_id: str) -> None:
    """The customer was emailed at every step; sales heard of the failed Retry Now."""
    outbox = _delivered(stack)
    emails = [email for email in outbox["emails"] if email["to"] == ["demo@example.com"]]
    assert [email["subject"] for email in emails] == [
        "Your payment method has been updated",
        "Your Basic subscription is active",
        "Payment received: your Basic subscription is renewed",
        "Your payment method has been updated",
        "We could not renew your Basic subscription",
        "Retry Now: the payment for your Basic subscription did not go through",
        "Your payment method has been updated",
        "Payment received: your Basic subscription is renewed",
        "Automatic renewal is off for your Basic subscription",
    ]
    assert "Amount charged: 47.04 EUR." in emails[1]["body"]
    assert "Of which 39.20 EUR excluding VAT and 7.84 EUR VAT at 20 %." in emails[1]["body"]
    assert "58.80 EUR will be charged" in emails[1]["body"], "the renewal with its VAT too"
    assert "Your invoice 00000001: http" in emails[1]["body"]
    assert "Your bank declined the payment." in emails[4]["body"]
    assert "1 April 2026, 09:30 UTC" in emails[4]["body"], "dated by the stack's clock"
    [notice] = outbox["sales_notices"]
    assert notice["attributes"] == {
        "notice": "retry_now_outcome",
        "outcome": "failed",
        "reason": "card_declined",
    }
    assert notice["message"]["details"]["subscription_id"] == subscription_id


def _ends_with_auto_renew_off(stack: RunningStack, customer: str, path: str) -> None:
    """The period ends with auto-renewal off: cancelled, nothing charged, the reason shown with
    what to do, and the customer told with the link to buy again."""
    stack.call("POST", "/_dev/clock", {"now": "2026-04-30T09:30:00Z"})
    assert stack.call("POST", "/_dev/renewals/run").body["processed"] == 1
    ended = stack.call("GET", path, token=customer).body
    assert (ended["status"], ended["cancel_reason"], ended["access"]) == (
        "cancelled",
        "auto_renew_off",
        False,
    )
    assert (ended["last_failure"]["reason"], ended["last_failure"]["action"]) == (
        "auto_renew_off",
        "buy_new_subscription",
    )
    emails = _delivered(stack)["emails"]
    last = [email for email in emails if email["to"] == ["demo@example.com"]][-1]
    assert last["subject"] == "Your Basic subscription has ended"
    assert "#/plans" in last["body"], "the link to buy again"


PROCESSING_ERROR = {
    "error": {"type": "card_error", "code": "processing_error", "message": "Processing error."}
}


def _outage_past_the_grace(stack: RunningStack) -> None:
    """Stripe fails to process every charge of a customer bought on April 30: at the due date
    the renewal is retried and nobody is told; 72 hours on, it is past due, explained, emailed
    once, and Retry Now is allowed."""
    outage = stack.customer("outage")
    customer = outage.token
    plan = {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"}
    sub = stack.call("POST", "/subscriptions", plan, token=customer, key="buy-outage").body
    path = f"/subscriptions/{sub['id']}"
    assert sub["current_period_end"] == "2026-05-30T09:30:00Z"
    stack.localstripe.inject(
        "POST", "/v1/payment_intents", status=402, body=PROCESSING_ERROR, times=10,
        body_contains=sub["id"],
    )  # fmt: skip
    try:
        stack.call("POST", "/_dev/clock", {"now": "2026-05-30T09:30:00Z"})
        tried = stack.call("POST", "/_dev/renewals/run").body
        assert tried == {"processed": 1, "succeeded": 0, "failed": 1}, "the charge failed"
        retrying = stack.call("GET", path, token=customer).body
        assert (retrying["status"], retrying["next_charge_at"]) == (
            "active",
            "2026-05-30T09:35:00Z",
        ), "tried again in 5 minutes"
        refused = stack.call("POST", f"{path}/retry", token=customer)
        assert (refused.status, refused.body["error"]["code"]) == (409, "no_action_required")

        stack.call("POST", "/_dev/clock", {"hours": 72})
        assert stack.call("POST", "/_dev/renewals/run").body["failed"] == 1
        past_due = stack.call("GET", path, token=customer).body
        assert (past_due["status"], past_due["access"]) == ("past_due", True)
        assert past_due["last_failure"]["reason"] == "provider_error"
        assert past_due["next_charge_at"] == "2026-06-03T09:30:00Z", "a day after the grace"
        retried = stack.call("POST", f"{path}/retry", token=customer, key="retry-outage")
        assert retried.body["attempt"]["failure_reason"] == "provider_error"
    finally:
        stack.localstripe.reset()
    emails = _delivered(stack)["emails"]
    mailbox = [f"{outage.account_id}@example.com"]
    subjects = [email["subject"] for email in emails if email["to"] == mailbox]
    assert subjects == [
        "Your payment method has been updated",
        "Your Basic subscription is active",
        "We could not renew your Basic subscription",
        "Retry Now: the payment for your Basic subscription did not go through",
    ], "nobody told during the grace, once after it, and Retry Now's result"


def _give_money_back(stack: RunningStack, sales: str, customer: str, path: str) -> None:
    """Sales refunds part of the February renewal; a refund made in Stripe's dashboard
    (localstripe) reaches the stack by its webhook and shows on the purchase."""
    payment_id = f"{path.removeprefix('/subscriptions/')}.c00001.a001"
    refunded = stack.call(
        "POST", f"/admin/payments/{payment_id}/refund", {"amount": 1000}, token=sales, key="r-1"
    )
    assert refunded.status == 200, refunded.body
    assert refunded.body["payment"]["refunded"] == 1000
    too_much = stack.call(
        "POST", f"/admin/payments/{payment_id}/refund", {"amount": 5000}, token=sales, key="r-2"
    )
    assert (too_much.status, too_much.body["error"]["code"]) == (422, "refund_too_large")
    payments = stack.call("GET", f"{path}/payments", token=customer).body["items"]
    [purchase] = [p for p in payments if p["kind"] == "purchase"]
    request = urllib.request.Request(
        f"{stack.localstripe.url}/v1/refunds",
        data=urllib.parse.urlencode(
            {"payment_intent": purchase["provider_reference"], "amount": 500}
        ).encode(),
        headers={"Authorization": f"Bearer {LOCAL_STRIPE_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10):
        pass

    def shown() -> bool:
        payments = stack.call("GET", f"{path}/payments", token=customer).body["items"]
        return any(p["kind"] == "purchase" and p["refunded"] == 500 for p in payments)

    eventually(shown, "the dashboard refund recorded from its webhook")


def _confirmed_with_the_bank(stack: RunningStack, admin: str) -> None:
    """A French customer's bank asks for 3-D Secure: at setup; at purchase (402, then the page
    completes it); at renewal (past due, emailed a link, completed by Stripe's webhook)."""
    profile = {"email": "sca@example.com", "locale": "fr", "domain_zone": "com"}
    assert stack.call("PUT", "/admin/accounts/sca", profile, token=admin).status == 201
    token: str = stack.call("POST", "/_dev/token", {"account_id": "sca"}).body["token"]
    saved = stack.save_card(token, "pm_card_authenticationRequired", authenticate=True)
    assert saved.status == 200, saved.body
    plan = {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"}
    bought = stack.call("POST", "/subscriptions", plan, token=token, key="buy-3")
    assert (bought.status, bought.body["error"]["code"]) == (402, "authentication_required")
    details = bought.body["error"]["details"]
    assert (details["status"], details["publishable_key"]) == ("requires_action", "pk_test_local")
    authenticate(stack.localstripe, details["client_secret"])
    path = f"/subscriptions/{details['subscription_id']}"
    complete = f"{path}/payments/{details['payment_id']}/authentication/complete"
    done = stack.call("POST", complete, token=token, key="confirm-1")
    assert (done.status, done.body["status"]) == (200, "active"), done.body
    assert done.body["current_period_end"] == "2026-07-02T09:30:00Z"

    stack.call("POST", "/_dev/clock", {"now": "2026-07-02T09:30:00Z"})
    stack.call("POST", "/_dev/renewals/run")
    past_due = stack.call("GET", path, token=token).body
    assert (past_due["status"], past_due["next_charge_at"]) == ("past_due", "2026-07-03T09:30:00Z")
    assert past_due["last_failure"]["action"] == "confirm_payment"
    renewal = f"{details['subscription_id']}.c00001.a001"
    [*_, email] = [e for e in _delivered(stack)["emails"] if e["to"] == [profile["email"]]]
    assert f"/payments/{renewal}/confirm" in email["body"], "the link to confirm it"
    page = stack.call("GET", f"{path}/payments/{renewal}/authentication", token=token).body
    assert page["status"] == "requires_action"
    authenticate(stack.localstripe, page["client_secret"])

    def paid() -> bool:
        return bool(stack.call("GET", path, token=token).body["status"] == "active")

    eventually(paid, "the renewal completed by its payment_intent.succeeded webhook")
    active = stack.call("GET", path, token=token).body
    assert active["current_period_end"] == "2026-08-02T09:30:00Z"


def _download_an_invoice(stack: RunningStack, customer: str, path: str) -> None:
    """Step 12: the purchase's invoice and the sales refund's credit note, each downloaded as
    PDF from the short-lived link the API gives, saying what French law asks them to."""
    payments = stack.call("GET", f"{path}/payments", token=customer).body["items"]
    [purchase] = [p for p in payments if p["kind"] == "purchase"]
    [february] = [p for p in payments if p["id"].endswith(".c00001.a001")]
    [sales_refund] = [r for r in february["refunds"] if r["by_actor"] == "sales"]
    for document, kind, says in (
        (purchase["invoice"], "invoice", "FACTURE"),
        (sales_refund["credit_note"], "credit_note", "AVOIR"),
    ):
        link = stack.call("GET", document["download"], token=customer)
        assert link.status == 200, link.body
        assert (link.body["number"], link.body["kind"]) == (document["number"], kind)
        with urllib.request.urlopen(link.body["url"], timeout=10) as response:
            pdf = response.read()
        text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        assert says in text
        assert document["reference"] in text
        assert "SIREN" in text
    assert stack.call("GET", "/invoices/99999", token=customer).status == 404


def test_the_readme_walkthrough_runs_against_make_dev(make_dev: RunningStack) -> None:
    stack = make_dev
    _serves_the_template(stack)
    tokens = stack.shell_variables()
    assert tokens["API"] == stack.url
    sub = _buy_with_a_coupon(stack, tokens["ADMIN_TOKEN"], tokens["TOKEN"])
    path = f"/subscriptions/{sub['id']}"
    _renew(stack, tokens["TOKEN"], path)
    _fail_then_retry_now(stack, tokens["TOKEN"], path)
    _new_card_then_cancel(stack, tokens["TOKEN"], path)
    _told(stack, sub["id"])
    _ends_with_auto_renew_off(stack, tokens["TOKEN"], path)
    _outage_past_the_grace(stack)
    _give_money_back(stack, tokens["ADMIN_TOKEN"], tokens["TOKEN"], path)
    _confirmed_with_the_bank(stack, tokens["ADMIN_TOKEN"])
    _download_an_invoice(stack, tokens["TOKEN"], path)

    # Ctrl-C stops every process the command started and frees every port.
    printed = ctrl_c(stack)
    assert "Stopped." in printed
    assert "Traceback" not in printed
    assert group_is_gone(stack.process.pid), "a process of make dev is still running"
    for variable, port in stack.ports.items():
        ensure_free(port, "after Ctrl-C", variable)
