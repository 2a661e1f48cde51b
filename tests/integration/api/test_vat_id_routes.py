"""The billing form of an EU business outside France over HTTP, VIES being the VIES stand-in
(docs/tax.md): a number VIES confirms is saved valid and shown reverse-charged; one it refuses
is a 422 on the VAT ID saying what to do, and nothing is saved; VIES not answering saves the
form unchecked, shown with when it is asked again, the customer taxed as a consumer."""

from __future__ import annotations

from typing import Any

from billing.api.billing_form import EXAMPLE
from tests.support.api import Api, expect_error, fresh_account_id
from tests.support.stand_ins import StandIn

BELGIAN: dict[str, Any] = EXAMPLE | {
    "country": "BE",
    "company": "Exemple Services SA",
    "address_line1": "Rue de la Loi 16",
    "address_line2": None,
    "city": "Bruxelles",
    "postal_code": "1000",
    "vat_id": "BE 0123.456.789",
}
"""A Belgian business whose VAT ID the VIES stand-in knows as valid."""


def test_a_belgian_business_confirmed_by_vies_is_shown_reverse_charged(api: Api) -> None:
    customer = api.open_account(fresh_account_id("vies-valid"))

    saved = customer.put("/account/billing-info", BELGIAN)

    assert saved.status == 200, saved.body
    answer = saved.json()
    assert answer["vat_id"] == "BE0123456789"
    assert answer["vat_id_check"] == {
        "status": "valid",
        "checked_at": "2026-01-31T09:30:00Z",
        "next_check_at": None,
    }
    assert answer["reverse_charged"] is True
    assert customer.get("/account/billing").json()["billing_info"] == answer


def test_a_number_vies_refuses_is_a_422_on_the_vat_id_and_saves_nothing(api: Api) -> None:
    account_id = fresh_account_id("vies-invalid")
    customer = api.open_account(account_id)

    refused = customer.put("/account/billing-info", BELGIAN | {"vat_id": "BE0999999999"})

    error = expect_error(refused, 422, "invalid_fields")
    [field] = error["details"]
    assert (field["field"], field["code"]) == ("vat_id", "vat_id_refused_by_vies")
    assert "BE0999999999 is not a valid VAT number" in field["message"]
    assert customer.get("/account/billing").json()["billing_info"] is None
    assert api.outbox.emails_to(f"{account_id}@example.com") == []


def test_vies_not_answering_saves_the_form_unchecked(api: Api, vies: StandIn) -> None:
    customer = api.open_account(fresh_account_id("vies-down"))
    vies.post("/_standin/unavailable", {"member_state": "BE"})

    saved = customer.put("/account/billing-info", BELGIAN)

    assert saved.status == 200, saved.body
    assert saved.json()["vat_id_check"] == {
        "status": "unchecked",
        "checked_at": "2026-01-31T09:30:00Z",
        "next_check_at": "2026-01-31T10:30:00Z",
    }
    assert saved.json()["reverse_charged"] is False
