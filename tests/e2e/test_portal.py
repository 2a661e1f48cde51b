"""The customer billing page (portal/) in a real browser: Debian's Chromium, headless, driven by
Playwright against the shared ``make dev`` stack (tests/e2e/conftest.py), with localstripe's
Stripe.js stand-in and the PayPal stand-in's approval page. A customer buys, falls past due,
reads why, presses Retry Now, types a new card, turns renewal off and on, buys again; a French
customer fixes the billing form, confirms 3-D Secure payments (at purchase and from the emailed
link), saves PayPal through its approval page and switches the page's language; the Cognito
sign-in (authorization code with PKCE) runs against a hosted UI answered by the test.

``PORTAL_SCREENSHOTS=1`` also writes the main states to docs/screenshots/ (README links them)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from tests.support.devstack import Customer, RunningStack, eventually

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIMEOUT_MS = 20_000
"""Longest wait for one thing on the page: a purchase charges localstripe and writes DynamoDB."""
# Stripe's test cards, typed into the card element as a customer types them.
VISA = "4242424242424242"
DECLINES_CHARGES = "4000000000000341"
"""Saved, then every charge declined (Stripe's pm_card_chargeCustomerFail)."""
ASKS_3DS = "4000002760003184"
"""3-D Secure asked at setup and on every payment (pm_card_authenticationRequired)."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "Debian's chromium is missing: `make test` installs it (scripts/ensure-chromium)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, "the page's scripts failed"


def _snap(page: Page, name: str) -> None:
    if os.environ.get("PORTAL_SCREENSHOTS"):
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def _heading(page: Page) -> Any:
    return page.get_by_role("heading", level=1)


def _sign_in(page: Page, stack: RunningStack, customer: Customer) -> None:
    page.goto(f"{stack.url}/portal/")
    expect(_heading(page)).to_have_text("Sign in")
    page.get_by_label("Account").fill(customer.account_id)
    page.get_by_role("button", name="Sign in").click()


def _type_card(page: Page, number: str, use: str, save: str) -> None:
    """Through the card form: Stripe Elements (localstripe's), confirming our SetupIntent."""
    page.get_by_role("button", name=use).click()
    card = page.locator("#card-element")
    card.locator("input[placeholder=number]").fill(number)
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("30")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("75001")
    page.get_by_role("button", name=save).click()


def _complete_3ds(page: Page) -> None:
    """The bank's 3-D Secure page (localstripe's dialog stands for it): the customer passes."""
    page.get_by_role("button", name="Complete authentication").click()


def _renew(stack: RunningStack, customer: Customer) -> None:
    """The stack's clock at the subscription's period end, and the renewal run."""
    [sub] = stack.call("GET", "/subscriptions", token=customer.token).body["items"][:1]
    assert stack.call("POST", "/_dev/clock", {"now": sub["current_period_end"]}).status == 200
    assert stack.call("POST", "/_dev/renewals/run").status == 200


def _buy(page: Page, buy: str) -> None:
    page.locator("nav a[href='#/plans']").click()
    page.get_by_role("button", name=buy, exact=True).click()


def _first_purchase(page: Page) -> None:
    """Buying without a payment method says to add one; a card typed in, the purchase is
    active."""
    expect(_heading(page)).to_have_text("Purchase history")
    expect(page.get_by_text("You have no subscription yet.")).to_be_visible()
    _buy(page, "Buy")
    expect(page.get_by_role("alert")).to_contain_text("Add a payment method first.")
    page.get_by_role("alert").get_by_role("link", name="Update the payment method").click()
    expect(_heading(page)).to_have_text("Payment method")
    _type_card(page, VISA, "Use a card", "Save the card")
    expect(page.get_by_role("status").first).to_contain_text("Your payment method is saved.")
    expect(page.locator(".facts")).to_contain_text("Visa ending in 4242, expires 12/2030")
    _buy(page, "Buy")
    expect(_heading(page)).to_have_text("Basic, monthly")
    expect(page.locator(".status")).to_have_text("✓Active")
    expect(page.locator("table.payments")).to_contain_text("Purchase")
    _snap(page, "active")


def _past_due_then_retry_now(page: Page, stack: RunningStack, customer: Customer) -> None:
    """A card every charge is declined on: the renewal fails, the page says Past Due, why and
    what to do; Retry Now fails again and says so."""
    page.locator("nav a[href='#/payment-method']").click()
    _type_card(page, DECLINES_CHARGES, "Use a card", "Save the card")
    expect(page.locator(".facts")).to_contain_text("ending in 0341")
    _renew(stack, customer)
    page.locator("nav a[href='#/']").click()
    subscription = page.locator("article.subscription")
    expect(subscription.locator(".status")).to_have_text("!Past Due")
    failure = subscription.locator(".failure")
    expect(failure).to_contain_text("Your bank declined the payment.")
    expect(failure.get_by_role("definition").nth(1)).not_to_be_empty()
    expect(failure.get_by_role("link", name="Update the payment method")).to_be_visible()
    _snap(page, "past-due")
    subscription.get_by_role("button", name="Retry Now").click()
    expect(page.get_by_role("alert")).to_contain_text("The payment did not go through.")
    _snap(page, "retry-now")


def _recovered_by_a_new_card(page: Page) -> None:
    page.locator("nav a[href='#/payment-method']").click()
    _type_card(page, VISA, "Use a card", "Save the card")
    expect(page.get_by_role("status").first).to_contain_text("Your overdue payment went through")
    page.locator("nav a[href='#/']").click()
    expect(page.locator(".status")).to_have_text("✓Active")


def _renewal_off_and_on(page: Page, stack: RunningStack) -> None:
    """Automatic renewal off in two presses from the page's opening, then back on."""
    page.goto(f"{stack.url}/portal/")
    page.get_by_role("button", name="Turn off automatic renewal").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Nothing more is charged.")
    _snap(page, "renewal-off-dialog")
    dialog.get_by_role("button", name="Turn off automatic renewal").click()
    expect(page.get_by_role("status").first).to_contain_text("Automatic renewal is off.")
    page.get_by_role("button", name="Turn automatic renewal back on").click()
    expect(page.get_by_role("status").first).to_contain_text("Automatic renewal is back on.")


def _bought_again(page: Page, stack: RunningStack, customer: Customer) -> None:
    """Renewal off until the period ends: cancelled, explained, and bought again."""
    page.get_by_role("button", name="Turn off automatic renewal").click()
    page.get_by_role("dialog").get_by_role("button", name="Turn off automatic renewal").click()
    expect(page.get_by_role("button", name="Turn automatic renewal back on")).to_be_visible()
    _renew(stack, customer)
    page.reload()
    expect(page.locator(".status")).to_have_text("✕Cancelled")
    expect(page.locator(".failure")).to_contain_text("Automatic renewal was turned off")
    page.get_by_role("link", name="Buy a new subscription").click()
    page.get_by_label("Standard").check()
    page.get_by_label("yearly").check()
    page.get_by_role("button", name="Buy", exact=True).click()
    expect(_heading(page)).to_have_text("Standard, yearly")
    expect(page.locator(".status")).to_have_text("✓Active")


def test_an_emailed_invoice_link_opens_a_fresh_download(stack: RunningStack, page: Page) -> None:
    """Where a receipt's invoice link leads (#/invoices/{number}): the page asks the API for a
    download link and opens the PDF; a number the account has no document under is said so.
    The API's answer for the document is stood in: the local stack issues no invoice yet."""
    customer = stack.customer("portal-invoice", card=None)
    _sign_in(page, stack, customer)
    expect(_heading(page)).to_have_text("Purchase history")
    page.goto(f"{stack.url}/portal/#/invoices/00000042")
    expect(_heading(page)).to_have_text("Document 00000042")
    expect(page.get_by_role("alert")).to_contain_text("There is no such invoice or credit note")

    pdf = f"{stack.url}/stand-in/facture-00000043.pdf"
    link = {"number": 43, "reference": "00000043", "kind": "invoice", "url": pdf}
    page.route(
        "**/invoices/00000043",
        lambda route: route.fulfill(json={**link, "expires_at": "2026-01-31T09:35:00Z"}),
    )
    page.route(pdf, lambda route: route.fulfill(body=b"%PDF-1.7", content_type="text/plain"))
    with page.expect_request(pdf):
        page.goto(f"{stack.url}/portal/#/invoices/00000043")


def test_a_customer_buys_falls_past_due_and_recovers(stack: RunningStack, page: Page) -> None:
    customer = stack.customer("portal", card=None)
    _sign_in(page, stack, customer)
    _first_purchase(page)
    _past_due_then_retry_now(page, stack, customer)
    _recovered_by_a_new_card(page)
    _renewal_off_and_on(page, stack)
    _bought_again(page, stack, customer)


def _confirm_payment_page(page: Page) -> None:
    expect(_heading(page)).to_have_text("Confirmer un paiement")
    page.get_by_role("button", name="Confirmer auprès de ma banque").click()
    _complete_3ds(page)
    expect(page.get_by_role("status").first).to_contain_text("Le paiement est confirmé")
    expect(page.locator(".status")).to_have_text("✓Actif")


def _emailed_link(stack: RunningStack, page_fragment: str) -> str:
    """The link to the portal's page `page_fragment` in an email sent (they go to the billing
    form's invoice address, the account's in copy)."""
    found: list[str] = []

    def emailed() -> bool:
        bodies = [email["body"] for email in stack.call("GET", "/_dev/outbox").body["emails"]]
        found[:] = [link for body in bodies for link in re.findall(r"\S+#/\S+", body)]
        return any(link.endswith(page_fragment) for link in found)

    eventually(emailed, f"an email linking to {page_fragment}")
    return next(link for link in found if link.endswith(page_fragment))


def _billing_form_errors(page: Page) -> None:
    """Every invalid field named by the API, in French, under its field and in a summary;
    corrected, the form is saved."""
    page.locator("nav a[href='#/billing']").click()
    page.get_by_label("Nom").fill("Camille Martin")
    page.get_by_label("E-mail de facturation").fill("camille@")
    page.get_by_label("Adresse", exact=True).fill("1 rue de la Paix")
    page.get_by_label("Ville").fill("Paris")
    page.get_by_label("Code postal").fill("7500")
    page.get_by_label("Pays (code à deux lettres, par ex. FR)").fill("FR")
    page.get_by_label("Numéro de TVA (facultatif)").fill("FR123")
    page.get_by_role("button", name="Enregistrer").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Il y a un problème")
    expect(summary.get_by_role("listitem")).to_have_count(3)
    postal_code = page.get_by_label("Code postal")
    expect(postal_code).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#postal_code-error")).to_have_text(
        "Saisissez le code postal au format de ce pays."
    )
    _snap(page, "billing-form-errors-fr")
    page.get_by_label("E-mail de facturation").fill("camille@example.fr")
    postal_code.fill("75002")
    page.get_by_label("Numéro de TVA (facultatif)").fill("")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("status").first).to_contain_text("sont enregistrées")


def _three_d_secure(page: Page, stack: RunningStack, customer: Customer) -> None:
    """A card whose bank asks for 3-D Secure: at setup (Stripe.js's dialog), at purchase (the
    402 sends the customer to confirm), and at renewal (past due; the emailed link opens the
    page that confirms it)."""
    page.locator("nav a[href='#/payment-method']").click()
    _type_card(page, ASKS_3DS, "Utiliser une carte", "Enregistrer la carte")
    _complete_3ds(page)
    expect(page.locator(".facts")).to_contain_text("se terminant par 3184")
    _buy(page, "Acheter")
    _snap(page, "confirm-payment-fr")
    _confirm_payment_page(page)

    _renew(stack, customer)
    page.locator("nav a[href='#/']").click()
    expect(page.locator(".status")).to_have_text("!Paiement en retard")
    expect(page.locator(".failure")).to_contain_text("Votre banque vous demande de confirmer")
    [sub] = stack.call("GET", "/subscriptions", token=customer.token).body["items"]
    renewal = f"#/subscriptions/{sub['id']}/payments/{sub['id']}.c00001.a001/confirm"
    link = _emailed_link(stack, renewal)
    assert link == f"{stack.url}/portal/{renewal}", "the email links to the local page"
    page.goto(link)
    _confirm_payment_page(page)


def _paypal_round_trip(page: Page) -> None:
    """Off to PayPal's approval page and back: the approved account saved."""
    page.locator("nav a[href='#/payment-method']").click()
    page.get_by_role("button", name="Utiliser PayPal").click()
    expect(page.get_by_role("heading", name="Save PayPal for future payments")).to_be_visible()
    page.get_by_label("PayPal email").fill("camille@example.fr")
    page.get_by_role("button", name="Agree and continue").click()
    saved = page.get_by_role("status").first
    expect(saved).to_contain_text("Votre mode de paiement est enregistré.")
    expect(page.locator(".facts")).to_contain_text("PayPal (camille@example.fr)")
    assert "paypal" not in page.url, "the return's query is taken off the address"
    _snap(page, "paypal-saved-fr")


def test_a_french_customer_confirms_with_the_bank_and_pays_with_paypal(
    stack: RunningStack, page: Page
) -> None:
    customer = stack.customer("portail", card=None, locale="fr")
    _sign_in(page, stack, customer)
    expect(_heading(page)).to_have_text("Historique d'achats")
    _billing_form_errors(page)
    _three_d_secure(page, stack, customer)
    _paypal_round_trip(page)
    # The customer's own choice of language wins over the account's, and is kept.
    page.get_by_label("Langue").select_option("en")
    expect(_heading(page)).to_have_text("Payment method")
    page.reload()
    expect(_heading(page)).to_have_text("Payment method")


HOSTED_UI = "https://auth.billing.test"
CLIENT_ID = "portal-client"


def test_signing_in_through_the_hosted_ui_with_pkce(stack: RunningStack, page: Page) -> None:
    """What the deployed page does (config.json from scripts/deploy_portal.py): off to Cognito's
    hosted UI with a PKCE challenge, back with a code, exchanged with the verifier for the ID
    token. The hosted UI here is the test's, answering through the browser's request routing."""
    customer = stack.customer("hosted", card=None)
    page_url = f"{stack.url}/portal/"
    challenges: dict[str, str] = {}

    def config(route: Route) -> None:
        local = json.loads(route.fetch().text())
        local["sign_in"] = {
            "kind": "cognito",
            "domain": HOSTED_UI,
            "client_id": CLIENT_ID,
            "redirect_uri": page_url,
        }
        route.fulfill(json=local)

    def authorize(route: Route) -> None:
        asked = {
            key: values[0] for key, values in parse_qs(urlsplit(route.request.url).query).items()
        }
        assert (asked["response_type"], asked["client_id"], asked["redirect_uri"]) == (
            "code",
            CLIENT_ID,
            page_url,
        )
        assert asked["code_challenge_method"] == "S256"
        challenges["code-1"] = asked["code_challenge"]
        back = urlencode({"code": "code-1", "state": asked["state"]})
        route.fulfill(status=302, headers={"Location": f"{page_url}?{back}"})

    def token(route: Route) -> None:
        form = {key: values[0] for key, values in parse_qs(route.request.post_data or "").items()}
        digest = hashlib.sha256(form["code_verifier"].encode()).digest()
        verified = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        assert (form["grant_type"], form["redirect_uri"]) == ("authorization_code", page_url)
        assert verified == challenges[form["code"]], "the verifier answers the challenge"
        route.fulfill(
            json={"id_token": customer.token, "access_token": "unused", "token_type": "Bearer"},
            headers={"Access-Control-Allow-Origin": stack.url},
        )

    page.route("**/portal/config.json", config)
    page.route(f"{HOSTED_UI}/oauth2/authorize?*", authorize)
    page.route(f"{HOSTED_UI}/oauth2/token", token)
    page.goto(f"{page_url}#/billing")
    expect(_heading(page)).to_have_text("Billing information")
    assert page.url == f"{page_url}#/billing", "the code is taken off the address"
