"""Plans, buying, purchase history, one subscription, its payments and audit trail (docs/rules.md),
through the local API Gateway and the real handlers."""

from __future__ import annotations

from tests.support.api import Api, expect_error
from tests.support.stand_ins import StandIn


def test_the_catalogue_is_public(api: Api) -> None:
    plans = api.anonymous.get("/plans")

    assert plans.status == 200
    basic = next(plan for plan in plans.json()["items"] if plan["id"] == "basic")
    assert basic["prices"]["EUR"] == {"1": 4900, "3": 13900, "12": 46800}


def test_a_purchase_with_a_coupon_charges_the_discounted_first_cycle_only(
    api: Api, localstripe: StandIn
) -> None:
    customer = api.open_account("acct_1", locale="fr")
    api.save_card(customer)

    bought = api.buy(customer, plan_id="standard", cycle_months=3, coupon="welcome20")

    assert bought.status == 201
    sub = bought.json()
    assert sub | {"id": None} == {
        "id": None,
        "account_id": "acct_1",
        "plan_id": "standard",
        "cycle_months": 3,
        "currency": "EUR",
        "price": 27900,
        "status": "active",
        "auto_renew": True,
        "channel": "direct",
        "access": True,
        "current_period_start": "2026-01-31T09:30:00Z",
        "current_period_end": "2026-04-30T09:30:00Z",
        "next_charge_at": "2026-04-30T09:30:00Z",
        "next_charge_amount": 27900,
        "failed_attempts": 0,
        "retries_left": 0,
        "last_failure": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "discount": {"coupon": "WELCOME20", "amount_off": 5580, "cycles": 1},
        "disputed_payment_id": None,
        # The next charge, at full price, with the 20 % French VAT of a customer who gave no
        # billing country.
        "next_charge_tax": {
            "rule": "domestic",
            "country": None,
            "rate": "20",
            "net": 27900,
            "vat": 5580,
            "gross": 33480,
            "legal_mention": None,
        },
    }
    [payment] = customer.get(f"/subscriptions/{sub['id']}/payments").json()["items"]
    # 22320 net (27900 less the coupon's 20 %) with French VAT: no billing country was given.
    assert (payment["kind"], payment["amount"], payment["status"]) == (
        "purchase",
        26784,
        "succeeded",
    )
    assert payment["provider_reference"].startswith("pi_")
    [receipt] = [e for e in api.outbox.emails_to("acct_1@example.com") if "actif" in e.subject]
    assert "Montant débité : 267,84 EUR." in receipt.body
    assert "Dont 223,20 EUR HT et 44,64 EUR de TVA à 20 %." in receipt.body


def test_a_repeated_purchase_answers_the_first_response_and_charges_once(
    api: Api, localstripe: StandIn
) -> None:
    customer = api.open_account("acct_1")
    api.save_card(customer)
    order = {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"}

    first = customer.post("/subscriptions", order, key="buy-once")
    again = customer.post("/subscriptions", order, key="buy-once")

    assert (first.status, again.status) == (201, 201)
    assert again.json() == first.json()
    assert len(localstripe.requests("POST", "/v1/payment_intents")) == 1
    assert len(customer.get("/subscriptions").json()["items"]) == 1


def test_the_same_key_for_another_order_is_refused(api: Api) -> None:
    customer = api.open_account("acct_1")
    api.save_card(customer)
    customer.post(
        "/subscriptions", {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"}, key="k"
    )

    reused = customer.post(
        "/subscriptions", {"plan_id": "basic", "cycle_months": 12, "currency": "EUR"}, key="k"
    )

    expect_error(reused, 422, "idempotency_key_reused")


def test_a_declined_purchase_answers_402_with_the_reason_and_opens_nothing(api: Api) -> None:
    customer = api.open_account("acct_1")
    api.save_card(customer, "pm_card_chargeCustomerFail")

    declined = api.buy(customer)

    error = expect_error(declined, 402, "payment_declined")
    assert error["details"]["reason"] == "card_declined"
    assert error["details"]["action"] == "contact_bank_or_update_payment_method"
    assert customer.get("/subscriptions").json()["items"] == []


def test_purchase_refusals(api: Api) -> None:
    customer = api.open_account("acct_1")

    no_method = api.buy(customer)
    api.save_card(customer)
    unknown_plan = api.buy(customer, plan_id="platinum")
    unknown_length = api.buy(customer, plan_id="basic", currency="USD", coupon="PRO3X50")
    assert api.buy(customer).status == 201
    second = api.buy(customer)

    expect_error(no_method, 409, "payment_method_required")
    expect_error(unknown_plan, 422, "unknown_plan")
    expect_error(unknown_length, 422, "unknown_coupon")
    expect_error(second, 409, "subscription_exists")
    assert len(customer.get("/subscriptions").json()["items"]) == 1


def test_a_partner_customer_cannot_buy_directly(api: Api) -> None:
    partner = {"id": "partner_1", "name": "Reseller Ltd", "email": "desk@reseller.example"}
    customer = api.open_account("acct_p", partner=partner)

    refused = api.buy(customer)

    error = expect_error(refused, 409, "managed_by_partner")
    assert error["details"]["partner"] == partner


def test_invalid_order_fields_each_get_an_entry(api: Api) -> None:
    customer = api.open_account("acct_1")

    invalid = customer.post(
        "/subscriptions", {"plan_id": "", "cycle_months": 2, "currency": "XXX", "extra": 1}
    )

    error = expect_error(invalid, 422, "invalid_fields")
    assert {entry["field"] for entry in error["details"]} == {
        "plan_id",
        "cycle_months",
        "currency",
        "extra",
    }


def test_an_unanswered_charge_is_pending_and_is_not_charged_again(
    api: Api, localstripe: StandIn
) -> None:
    customer = api.open_account("acct_1")
    api.save_card(customer)
    localstripe.inject("POST", "/v1/payment_intents", delay=3.0, times=1)

    pending = customer.post(
        "/subscriptions", {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"}, key="slow"
    )

    expect_error(pending, 503, "payment_pending")
    assert customer.get("/subscriptions").json()["items"] == []


def test_history_is_newest_first_and_reads_are_the_accounts_own(api: Api) -> None:
    customer, first = api.subscribed("acct_1")
    customer.post(f"/subscriptions/{first}/cancel")
    api.clock.advance(days=40)
    api.renew(first, "acct_1")  # auto-renewal off: cancelled at period end
    second = api.buy(customer).json()["id"]

    history = customer.get("/subscriptions").json()["items"]

    assert [sub["id"] for sub in history] == [second, first]
    assert [sub["status"] for sub in history] == ["active", "cancelled"]
    assert history[1]["cancel_reason"] == "auto_renew_off"
    one = customer.get(f"/subscriptions/{first}")
    assert one.status == 200
    assert one.json() == history[1]
    trail = customer.get(f"/subscriptions/{first}/events").json()["items"]
    assert [(e["actor"], e["action"], e["to_status"]) for e in trail] == [
        ("customer", "opened", "active"),
        ("customer", "customer_cancelled", "active"),
        ("scheduler", "period_ended", "cancelled"),
    ]


def test_unknown_subscriptions_and_routes_are_not_found(api: Api) -> None:
    customer = api.open_account("acct_1")

    for path in ("/subscriptions/sub_missing", "/subscriptions/sub_missing/payments"):
        missing = customer.get(path)
        expect_error(missing, 404, "not_found")
    no_route = customer.get("/subscriptions/sub_missing/nothing-here")
    expect_error(no_route, 404, "not_found")
    unknown_account = api.customer("acct_nobody").get("/subscriptions")
    expect_error(unknown_account, 404, "not_found")


def test_a_body_that_is_not_json_is_one_invalid_body_entry(api: Api) -> None:
    customer = api.open_account("acct_1")

    broken = customer.request("POST", "/subscriptions", raw='{"plan_id": "basic",')

    assert expect_error(broken, 422, "invalid_fields")["details"] == [
        {"field": "body", "code": "invalid_json", "message": "JSON decode error"}
    ]
