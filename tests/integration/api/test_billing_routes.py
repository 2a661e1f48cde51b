"""Billing information and payment methods over HTTP (docs/rules.md): GET /account/billing,
PUT /account/billing-info, POST /account/payment-method/setup and PUT /account/payment-method,
through the local API Gateway, the real handlers, moto, localstripe and the PayPal stand-in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from billing import composition
from billing.api.billing_form import EXAMPLE
from tests.integration.conftest import SALES_CONTACT
from tests.support.api import Api, Client, expect_error, fresh_account_id
from tests.support.localstripe import authenticate_setup, confirm_setup, declined_on_attach
from tests.support.stand_ins import StandIn

FORM: dict[str, Any] = dict(EXAMPLE)
"""A valid French billing form, as normalised."""
FRENCH = {"vat_id_check": None, "reverse_charged": False}
"""What the answer adds to a French form: VIES is not asked, French VAT is charged."""

METHOD = "/account/payment-method"
PARTNER = {"id": "reseller-7", "name": "Reseller Seven", "email": "desk@reseller7.example"}


def _billing(client: Client) -> dict[str, Any]:
    response = client.get("/account/billing")
    assert response.status == 200, response.body
    body: dict[str, Any] = response.json()
    return body


def _stripe_customers_created(localstripe: StandIn) -> int:
    return sum(
        1 for r in localstripe.requests("POST", "/v1/customers") if r["path"] == "/v1/customers"
    )


def _subjects(api: Api, account_id: str) -> list[str]:
    return [str(email.subject) for email in api.outbox.emails_to(f"{account_id}@example.com")]


# --- GET /account/billing ---------------------------------------------------------------------


def test_the_overview_shows_the_billing_info_the_card_and_the_card_form_flow(api: Api) -> None:
    account_id = fresh_account_id("overview")
    customer = api.open_account(account_id)

    assert _billing(customer) == {
        "billing_info": None,
        "payment_method": None,
        "update_flow": {
            "flow": "card_form",
            "rule": "card_self_service",
            "why": "The customer enters a new card in the card form.",
        },
        "contact": None,
        "locale": "en",
    }

    assert customer.put("/account/billing-info", FORM).status == 200
    assert api.save_card(customer).status == 200
    overview = _billing(customer)

    assert overview["billing_info"] == FORM | FRENCH
    method = overview["payment_method"]
    assert method["provider"] == "stripe"
    assert method["kind"] == "card"
    assert (method["brand"], method["last4"]) == ("visa", "4242")
    assert isinstance(method["exp_month"], int)
    assert isinstance(method["exp_year"], int)
    assert method["paypal_email"] is None
    assert overview["update_flow"]["flow"] == "card_form"
    token = composition.root().repository.get_account(account_id).payment_method
    assert token is not None
    assert token.token not in json.dumps(overview)


def test_the_overview_sends_zone_cn_to_sales_and_partner_customers_to_their_partner(
    api: Api,
) -> None:
    in_china = api.open_account(fresh_account_id("zone-cn"), domain_zone="cn")
    resold = api.open_account(fresh_account_id("resold"), partner=PARTNER)

    assert _billing(in_china)["update_flow"] == {
        "flow": "contact_sales",
        "rule": "zones_without_self_service",
        "why": "Accounts in this zone pay through a local reseller agreement handled by sales.",
    }
    assert _billing(in_china)["contact"] == {
        "sales": SALES_CONTACT,
        "partner": None,
        "tell_partner_by": None,
    }
    assert _billing(resold)["update_flow"] == {
        "flow": "contact_partner",
        "rule": "partner_customers",
        "why": "Subscriptions bought through a partner are billed by that partner.",
    }
    assert _billing(resold)["contact"] == {
        "sales": None,
        "partner": PARTNER,
        "tell_partner_by": None,  # nothing running to renew
    }


def test_the_overview_of_an_account_that_does_not_exist_is_not_found(api: Api) -> None:
    expect_error(api.customer(fresh_account_id("ghost")).get("/account/billing"), 404, "not_found")
    expect_error(api.anonymous.get("/account/billing"), 401, "unauthorized")


# --- PUT /account/billing-info ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "subject", "company_line"),
    [
        ("en", "Your billing information has been updated", "Company: Globex"),
        ("fr", "Vos informations de facturation ont été mises à jour", "Société : Globex"),
    ],
)
def test_the_billing_form_is_saved_normalised_and_confirmed_in_the_account_locale(
    api: Api, locale: str, subject: str, company_line: str
) -> None:
    account_id = fresh_account_id(f"form-{locale}")
    customer = api.open_account(account_id, locale=locale)

    saved = customer.put(
        "/account/billing-info",
        {
            "name": "  Ada Lovelace ",
            "company": " Globex ",
            "email": "Invoices@Globex.EXAMPLE",
            "address_line1": "1 Infinite Loop",
            "address_line2": "",
            "city": "Cupertino",
            "postal_code": "95014",
            "region": "california",
            "country": "us",
            "vat_id": None,
        },
    )

    assert saved.status == 200, saved.body
    expected = {
        "name": "Ada Lovelace",
        "company": "Globex",
        "email": "Invoices@globex.example",
        "address_line1": "1 Infinite Loop",
        "address_line2": None,
        "city": "Cupertino",
        "postal_code": "95014",
        "region": "CA",
        "country": "US",
        "vat_id": None,
        "vat_id_check": None,
        "reverse_charged": False,
    }
    assert saved.json() == expected
    assert _billing(customer)["billing_info"] == expected
    [email] = api.outbox.emails_to(f"{account_id}@example.com")
    assert email.subject == subject
    assert "Ada Lovelace" in email.body
    assert company_line in email.body
    assert "1 Infinite Loop, 95014 Cupertino, CA, US" in email.body


def test_a_european_vat_id_is_compacted(api: Api) -> None:
    customer = api.open_account(fresh_account_id("vat"))

    saved = customer.put(
        "/account/billing-info", FORM | {"country": "fr", "vat_id": "fr 40.303-265 045"}
    )

    assert saved.status == 200, saved.body
    assert saved.json() == FORM | FRENCH


INVALID_FORMS: list[tuple[dict[str, Any], dict[str, str]]] = [
    (
        {"name": "", "email": "not-an-email", "postal_code": "7500", "vat_id": "FR123"},
        {
            "name": "string_too_short",
            "email": "invalid_email",
            "postal_code": "invalid_postal_code",
            "vat_id": "invalid_vat_id",
        },
    ),
    ({"country": "ZZ"}, {"country": "invalid_country"}),
    ({"vat_id": "DE123456789"}, {"vat_id": "invalid_vat_id"}),
    ({"vat_id": "FRAB12"}, {"vat_id": "invalid_vat_id"}),
    (
        {"country": "US", "postal_code": "95014", "region": None, "vat_id": None},
        {"region": "region_required"},
    ),
]
"""Changes to the valid FORM and the error code expected for each field they make invalid:
several at once, an unknown country, EU VAT IDs of the wrong member or format, a US address
without its state."""


def test_an_invalid_billing_form_names_each_invalid_field_once_and_saves_nothing(
    api: Api,
) -> None:
    account_id = fresh_account_id("invalid-form")
    customer = api.open_account(account_id)
    before = _billing(customer)

    for changes, expected_fields in INVALID_FORMS:
        refused = customer.put("/account/billing-info", FORM | changes)

        details = expect_error(refused, 422, "invalid_fields")["details"]
        assert {entry["field"]: entry["code"] for entry in details} == expected_fields, changes
        assert len(details) == len(expected_fields), changes
        assert all(entry["message"] for entry in details), changes
    assert _billing(customer) == before
    assert _subjects(api, account_id) == []


def test_a_malformed_billing_form_or_payment_method_body_is_422_and_saves_nothing(
    api: Api,
) -> None:
    account_id = fresh_account_id("malformed")
    customer = api.open_account(account_id)
    forms = [
        None,
        "{not json",
        "[]",
        json.dumps(FORM | {"country": 33}),
        json.dumps(FORM | {"vat_id": ["FR"]}),
        json.dumps(FORM | {"iban": "FR76"}),
        json.dumps(FORM | {"name": "Ada\r\nBcc: x@evil.example"}),
        json.dumps({key: value for key, value in FORM.items() if key != "country"}),
    ]
    methods: list[dict[str, Any]] = [
        {"provider": "stripe"},
        {"provider": "bitcoin", "setup_intent_id": "seti_123"},
        {"setup_intent_id": "seti_123"},
        {"provider": "stripe", "setup_intent_id": "seti 123"},
        {"provider": "stripe", "setup_intent_id": "4242424242424242", "cvc": "123"},
        {"provider": "paypal", "setup_intent_id": "seti_123"},
        {"provider": "stripe", "payment_method_id": "pm_card_visa"},
    ]

    for form in forms:
        refused = customer.request("PUT", "/account/billing-info", raw=form)
        details = expect_error(refused, 422, "invalid_fields")["details"]
        assert details, form
        assert all(entry["code"] and entry["message"] for entry in details), form
    for method in methods:
        refused = customer.put("/account/payment-method", method)
        assert expect_error(refused, 422, "invalid_fields")["details"], method

    overview = _billing(customer)
    assert (overview["billing_info"], overview["payment_method"]) == (None, None)
    assert _subjects(api, account_id) == []


def test_a_new_country_or_vat_id_goes_through_sales_but_a_new_address_is_saved(api: Api) -> None:
    account_id = fresh_account_id("relocating")
    customer = api.open_account(account_id)
    assert customer.put("/account/billing-info", FORM).status == 200
    before = _billing(customer)

    to_germany = customer.put(
        "/account/billing-info",
        FORM | {"country": "DE", "postal_code": "10115", "city": "Berlin", "vat_id": None},
    )
    new_vat = customer.put("/account/billing-info", FORM | {"vat_id": "FR83404833048"})
    without_vat = customer.put("/account/billing-info", FORM | {"vat_id": None})

    for refused in (to_germany, new_vat, without_vat):
        error = expect_error(refused, 409, "contact_sales")
        assert error["details"]["rule"] == "country_or_vat_change"
        assert error["details"]["why"]
    assert _billing(customer) == before
    assert _subjects(api, account_id) == ["Your billing information has been updated"]

    moved = FORM | {"address_line1": "3 avenue de l'Opéra", "address_line2": None}
    saved = customer.put(
        "/account/billing-info", moved | {"country": "fr", "vat_id": "FR 40 303 265 045"}
    )

    assert saved.status == 200, saved.body
    assert saved.json() == moved | FRENCH
    assert _billing(customer)["billing_info"] == moved | FRENCH
    assert len(_subjects(api, account_id)) == 2


def test_a_partner_customer_cannot_fill_in_the_billing_form(api: Api) -> None:
    account_id = fresh_account_id("resold-form")
    customer = api.open_account(account_id, partner=PARTNER)

    refused = customer.put("/account/billing-info", FORM)

    assert expect_error(refused, 409, "managed_by_partner")["details"] == {
        "partner": PARTNER,
        "sales": None,
        "tell_partner_by": None,
    }
    assert _billing(customer)["billing_info"] is None
    assert _subjects(api, account_id) == []


# --- POST /account/payment-method/setup -------------------------------------------------------


def test_a_card_setup_answers_a_client_secret_and_creates_the_stripe_customer_once(
    api: Api, localstripe: StandIn
) -> None:
    account_id = fresh_account_id("card-setup")
    customer = api.open_account(account_id)
    created_before = _stripe_customers_created(localstripe)

    first = customer.post("/account/payment-method/setup", {"method": "card"})
    stripe_customer = composition.root().repository.get_account(account_id).stripe_customer_id
    second = customer.post("/account/payment-method/setup")

    for started in (first, second):
        assert started.status == 200, started.body
        body = started.json()
        assert body["flow"] == "card_form"
        assert body["provider"] == "stripe"
        assert body["reference"].startswith("seti_")
        assert body["client_secret"].startswith(body["reference"])
        assert body["approval_url"] is None
        assert body["partner"] is None
    assert first.json()["reference"] != second.json()["reference"]
    assert stripe_customer is not None
    assert stripe_customer.startswith("cus_")
    assert (
        composition.root().repository.get_account(account_id).stripe_customer_id == stripe_customer
    )
    assert _stripe_customers_created(localstripe) == created_before + 1


def test_a_paypal_setup_answers_an_approval_url(api: Api, paypal: StandIn) -> None:
    customer = api.open_account(fresh_account_id("paypal-setup"))

    started = customer.post("/account/payment-method/setup", {"method": "paypal"})

    assert started.status == 200, started.body
    body = started.json()
    assert (body["flow"], body["provider"], body["client_secret"]) == (
        "paypal_approval",
        "paypal",
        None,
    )
    assert body["approval_url"] == f"{paypal.url}/_standin/approve/{body['reference']}"


def test_partner_customers_and_zone_cn_are_told_whom_to_contact(
    api: Api, localstripe: StandIn
) -> None:
    resold = api.open_account(fresh_account_id("resold-setup"), partner=PARTNER)
    in_china = api.open_account(fresh_account_id("cn-setup"), domain_zone="cn")
    created_before = _stripe_customers_created(localstripe)

    for_partner = resold.post("/account/payment-method/setup", {"method": "card"})
    for_china = in_china.post("/account/payment-method/setup", {"method": "paypal"})

    assert for_partner.status == 200, for_partner.body
    assert for_partner.json() == {
        "flow": "contact_partner",
        "why": "Subscriptions bought through a partner are billed by that partner.",
        "provider": None,
        "reference": None,
        "client_secret": None,
        "approval_url": None,
        "partner": PARTNER,
        "contact": {"sales": None, "partner": PARTNER, "tell_partner_by": None},
    }
    assert for_china.status == 200, for_china.body
    assert for_china.json()["flow"] == "contact_sales"
    assert for_china.json()["contact"]["sales"] == SALES_CONTACT
    assert for_china.json()["client_secret"] is None
    assert for_china.json()["approval_url"] is None
    assert _stripe_customers_created(localstripe) == created_before

    card = {"provider": "stripe", "setup_intent_id": "seti_never_started"}
    refused = resold.put("/account/payment-method", card)
    assert expect_error(refused, 409, "managed_by_partner")["details"]["partner"] == PARTNER
    to_sales = expect_error(in_china.put("/account/payment-method", card), 409, "contact_sales")
    assert to_sales["details"]["sales"] == SALES_CONTACT
    assert _billing(resold)["payment_method"] is None
    assert _billing(in_china)["payment_method"] is None


# --- PUT /account/payment-method --------------------------------------------------------------


def test_a_saved_card_is_answered_with_display_data_only_and_confirmed_by_email(
    api: Api,
) -> None:
    account_id = fresh_account_id("card-save")
    customer = api.open_account(account_id, locale="fr")

    saved = api.save_card(customer)

    assert saved.status == 200, saved.body
    body = saved.json()
    assert body["retried"] is None
    assert body["retry_refused"] is None
    method = body["payment_method"]
    assert method | {"exp_month": None, "exp_year": None} == {
        "provider": "stripe",
        "kind": "card",
        "brand": "visa",
        "last4": "4242",
        "exp_month": None,
        "exp_year": None,
        "paypal_email": None,
    }
    stored = composition.root().repository.get_account(account_id).payment_method
    assert stored is not None
    assert stored.token.startswith("pm_")
    assert stored.token not in saved.body
    assert "pm_card_visa" not in saved.body
    [email] = api.outbox.emails_to(f"{account_id}@example.com")
    assert email.subject == "Votre mode de paiement a été mis à jour"
    assert "Visa •••• 4242" in email.body


def _with_a_card(api: Api, name: str) -> tuple[str, Client]:
    """An account (its id starts with `name`) whose customer saved a working card."""
    account_id = fresh_account_id(name)
    customer = api.open_account(account_id)
    assert api.save_card(customer).status == 200
    return account_id, customer


def _as_saved(api: Api, account_id: str) -> tuple[object, ...]:
    """The account, its trail and its emails: what a refused save leaves as they were."""
    account = composition.root().repository.get_account(account_id)
    return account, api.account_trail(account_id), _subjects(api, account_id)


def test_a_card_refused_at_attach_is_402_and_the_previous_card_is_kept(
    api: Api, localstripe: StandIn
) -> None:
    account_id, customer = _with_a_card(api, "card-refused")
    before = _as_saved(api, account_id)
    setup = api.start_card_setup(customer)
    declined_on_attach(localstripe, setup)

    refused = customer.put(METHOD, {"provider": "stripe", "setup_intent_id": setup})

    details = expect_error(refused, 402, "payment_method_rejected")["details"]
    assert details["reason"] in {"card_declined", "payment_method_invalid", "insufficient_funds"}
    assert details["action"]
    assert details["action_text"]
    assert _as_saved(api, account_id) == before


def test_the_body_naming_a_payment_method_is_refused_for_its_fields(api: Api) -> None:
    customer = api.open_account(fresh_account_id("old-body"))

    refused = customer.put(METHOD, {"provider": "stripe", "payment_method_id": "pm_card_visa"})

    details = expect_error(refused, 422, "invalid_fields")["details"]
    assert {(entry["field"], entry["code"]) for entry in details} == {
        ("stripe.setup_intent_id", "missing"),
        ("stripe.payment_method_id", "extra_forbidden"),
    }
    assert _billing(customer)["payment_method"] is None


def test_a_card_whose_setup_has_not_succeeded_is_409_and_nothing_is_saved(api: Api) -> None:
    account_id, customer = _with_a_card(api, "unfinished")
    before = _as_saved(api, account_id)
    never_confirmed = api.start_card_setup(customer)

    unfinished = [
        customer.put(METHOD, {"provider": "stripe", "setup_intent_id": never_confirmed}),
        # The bank asks for 3-D Secure and the customer has not passed it.
        api.save_card(customer, "pm_card_authenticationRequired"),
        # The bank declined the card at setup: the card form told the customer.
        api.save_card(customer, "pm_card_visa_chargeDeclined"),
    ]

    for refused in unfinished:
        error = expect_error(refused, 409, "setup_incomplete")
        assert error["details"] is None
    assert _as_saved(api, account_id) == before


def test_another_accounts_setup_is_404_and_nothing_is_saved(api: Api, localstripe: StandIn) -> None:
    victim = api.open_account(fresh_account_id("victim"))
    theirs = api.start_card_setup(victim)
    confirm_setup(localstripe, theirs, "pm_card_visa")
    account_id, intruder = _with_a_card(api, "intruder")
    before = _as_saved(api, account_id)
    newcomer_id = fresh_account_id("newcomer")
    newcomer = api.open_account(newcomer_id)
    customers_before = _stripe_customers_created(localstripe)

    stolen = intruder.put(METHOD, {"provider": "stripe", "setup_intent_id": theirs})
    unknown = intruder.put(METHOD, {"provider": "stripe", "setup_intent_id": "seti_unknown123"})
    without_setup = newcomer.put(METHOD, {"provider": "stripe", "setup_intent_id": theirs})

    for refused in (stolen, unknown, without_setup):
        expect_error(refused, 404, "not_found")
    assert _as_saved(api, account_id) == before
    assert composition.root().repository.get_account(newcomer_id).stripe_customer_id is None
    assert _stripe_customers_created(localstripe) == customers_before
    mine = victim.put(METHOD, {"provider": "stripe", "setup_intent_id": theirs})
    assert mine.status == 200, mine.body


def test_a_card_asking_for_3d_secure_is_saved_once_the_customer_passes_the_check(
    api: Api,
) -> None:
    account_id = fresh_account_id("three-d-secure")
    customer = api.open_account(account_id)

    waiting = api.save_card(customer, "pm_card_authenticationRequired")
    saved = api.save_card(customer, "pm_card_authenticationRequired", authenticate=True)

    expect_error(waiting, 409, "setup_incomplete")
    assert saved.status == 200, saved.body
    assert saved.json()["payment_method"]["kind"] == "card"
    assert _billing(customer)["payment_method"] == saved.json()["payment_method"]
    assert _subjects(api, account_id) == ["Your payment method has been updated"]


def test_a_setup_incomplete_answer_is_not_kept_for_its_idempotency_key(
    api: Api, localstripe: StandIn
) -> None:
    customer = api.open_account(fresh_account_id("3ds-repeat"))
    setup = api.start_card_setup(customer)
    confirm_setup(localstripe, setup, "pm_card_authenticationRequired")
    body = {"provider": "stripe", "setup_intent_id": setup}

    waiting = customer.put(METHOD, body, key="save-3ds")
    authenticate_setup(localstripe, setup)
    saved = customer.put(METHOD, body, key="save-3ds")
    again = customer.put(METHOD, body, key="save-3ds")

    expect_error(waiting, 409, "setup_incomplete")
    assert saved.status == 200, saved.body
    assert (again.status, again.json()) == (200, saved.json())


def test_a_paypal_account_is_approved_and_saved_end_to_end(api: Api, paypal: StandIn) -> None:
    account_id = fresh_account_id("paypal-save")
    customer = api.open_account(account_id)
    started = customer.post("/account/payment-method/setup", {"method": "paypal"}).json()
    paypal.post(
        started["approval_url"].removeprefix(paypal.url),
        {"email": "payer@example.com", "funding": "ok"},
    )

    saved = customer.put(
        "/account/payment-method", {"provider": "paypal", "setup_token_id": started["reference"]}
    )

    assert saved.status == 200, saved.body
    assert saved.json() == {
        "payment_method": {
            "provider": "paypal",
            "kind": "paypal",
            "brand": None,
            "last4": None,
            "exp_month": None,
            "exp_year": None,
            "paypal_email": "payer@example.com",
        },
        "retried": None,
        "retry_refused": None,
    }
    stored = composition.root().repository.get_account(account_id).payment_method
    assert stored is not None
    assert stored.token not in saved.body
    overview = _billing(customer)
    assert overview["payment_method"] == saved.json()["payment_method"]
    assert overview["update_flow"]["flow"] == "paypal_approval"
    [email] = api.outbox.emails_to(f"{account_id}@example.com")
    assert "PayPal (payer@example.com)" in email.body


def test_paypal_is_refused_on_field_provider_for_a_billing_address_in_india(
    api: Api, paypal: StandIn
) -> None:
    account_id = fresh_account_id("india")
    customer = api.open_account(account_id)
    india = FORM | {
        "country": "IN",
        "city": "New Delhi",
        "postal_code": "110001",
        "region": "Delhi",
        "vat_id": None,
    }
    assert customer.put("/account/billing-info", india).status == 200
    assert _billing(customer)["update_flow"]["flow"] == "card_form"

    started = customer.post("/account/payment-method/setup", {"method": "paypal"})
    refused = customer.put(
        "/account/payment-method", {"provider": "paypal", "setup_token_id": "SETUPTOKEN42"}
    )

    assert started.status == 200, started.body
    assert started.json()["flow"] == "card_form"
    assert started.json()["approval_url"] is None
    [entry] = expect_error(refused, 422, "invalid_fields")["details"]
    assert entry["field"] == "provider"
    assert entry["code"] == "unavailable"
    assert "PayPal" in entry["message"]
    assert _billing(customer)["payment_method"] is None
    assert paypal.requests("POST", "/v3/vault/payment-tokens") == []


def test_a_new_card_while_past_due_is_charged_at_once(api: Api) -> None:
    account_id = fresh_account_id("past-due")
    customer, sub_id = api.past_due(account_id)
    attempts_before = customer.get(f"/subscriptions/{sub_id}/payments").json()["items"]
    emails_before = len(_subjects(api, account_id))

    saved = api.save_card(customer)

    assert saved.status == 200, saved.body
    body = saved.json()
    assert body["retry_refused"] is None
    retried = body["retried"]
    assert retried["id"] == sub_id
    assert retried["status"] == "active"
    assert retried["attempt"] == {
        "status": "succeeded",
        "failure_reason": None,
        "message": None,
        "action": None,
    }
    assert retried["current_period_start"] == "2026-02-28T09:30:00Z"
    assert retried["current_period_end"] == "2026-03-31T09:30:00Z"
    assert retried["last_failure"] is None
    assert customer.get(f"/subscriptions/{sub_id}").json()["status"] == "active"
    attempts = customer.get(f"/subscriptions/{sub_id}/payments").json()["items"]
    assert len(attempts) == len(attempts_before) + 1
    newest = attempts[0]
    assert (newest["kind"], newest["status"], newest["amount"]) == (
        "payment_method_update",
        "succeeded",
        5880,  # 4900 and 20 % VAT
    )
    assert newest["provider_reference"].startswith("pi_")
    assert _subjects(api, account_id)[emails_before:] == [
        "Your payment method has been updated",
        "Payment received: your Basic subscription is renewed",
    ]


def test_a_new_card_while_another_attempt_is_in_flight_is_saved_without_a_retry(
    api: Api,
) -> None:
    account_id = fresh_account_id("in-flight")
    customer, sub_id = api.past_due(account_id)
    repository = composition.root().repository
    account = repository.get_account(account_id)
    assert account.payment_method is not None
    api.claim_next_attempt(sub_id, account_id)
    attempts_before = customer.get(f"/subscriptions/{sub_id}/payments").json()["items"]

    saved = api.save_card(customer)

    assert saved.status == 200, saved.body
    body = saved.json()
    assert body["retry_refused"] == "retry_in_progress"
    assert body["retried"] is None
    assert (body["payment_method"]["brand"], body["payment_method"]["last4"]) == ("visa", "4242")
    stored = repository.get_account(account_id).payment_method
    assert stored is not None
    assert stored.token != account.payment_method.token
    assert customer.get(f"/subscriptions/{sub_id}").json()["status"] == "past_due"
    assert customer.get(f"/subscriptions/{sub_id}/payments").json()["items"] == attempts_before


def test_a_repeated_payment_method_update_answers_the_first_response_and_saves_once(
    api: Api, localstripe: StandIn
) -> None:
    account_id = fresh_account_id("repeat")
    customer = api.open_account(account_id)
    setup = api.start_card_setup(customer)
    confirm_setup(localstripe, setup, "pm_card_visa")
    card = {"provider": "stripe", "setup_intent_id": setup}
    attaches_before = len(localstripe.requests("POST", "/v1/payment_methods/"))

    first = customer.put("/account/payment-method", card, key="save-card-1")
    saved_first = composition.root().repository.get_account(account_id)
    again = customer.put("/account/payment-method", card, key="save-card-1")

    assert (first.status, again.status) == (200, 200)
    assert again.json() == first.json()
    assert composition.root().repository.get_account(account_id) == saved_first
    assert len(localstripe.requests("POST", "/v1/payment_methods/")) == attaches_before + 1
    assert _subjects(api, account_id) == ["Your payment method has been updated"]

    other_body = customer.put(
        "/account/payment-method",
        {"provider": "stripe", "setup_intent_id": api.start_card_setup(customer)},
        key="save-card-1",
    )
    expect_error(other_body, 422, "idempotency_key_reused")
    assert composition.root().repository.get_account(account_id) == saved_first
