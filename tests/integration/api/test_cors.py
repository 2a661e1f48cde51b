"""The customer billing page reads the API's answers from its own origin (the scheme and host of
CustomerPortalUrl): the functions' answers, successes and refusals alike, let that origin read
them, and no other (the template's API answers preflights and its own refusals the same way:
tests/unit/test_portal_template.py)."""

from __future__ import annotations

from billing.settings import ContactSettings
from tests.support.api import Api, fresh_account_id

PAGE_ORIGIN = ContactSettings.from_environment().page_origin
"""The tests' portal (CUSTOMER_PORTAL_URL's default, http://127.0.0.1:3000/portal)."""


def test_the_billing_pages_origin_reads_answers_and_refusals(api: Api) -> None:
    customer = api.open_account(fresh_account_id("cors"))
    page = {"Origin": PAGE_ORIGIN}

    read = customer.get("/account/billing", headers=page)
    refused = customer.post("/subscriptions/sub_unknown/retry", headers=page)

    assert PAGE_ORIGIN == "http://127.0.0.1:3000"
    assert read.status == 200
    assert read.headers["Access-Control-Allow-Origin"] == PAGE_ORIGIN
    assert refused.status == 404
    assert refused.headers["Access-Control-Allow-Origin"] == PAGE_ORIGIN
    assert "Retry-After" in refused.headers["Access-Control-Expose-Headers"]


def test_no_other_origin_is_let_read_an_answer(api: Api) -> None:
    customer = api.open_account(fresh_account_id("cors-other"))

    read = customer.get("/account/billing", headers={"Origin": "https://elsewhere.example"})

    assert read.status == 200
    assert not any(name.lower().startswith("access-control-") for name in read.headers)
