"""Admin, partner and sales routes over HTTP (docs/rules.md: partners, Retry Now, who may do what):
accounts, partner-managed subscriptions and their extension, the Retry Now follow-up list and
the sales recharge, through the local API Gateway and the real handlers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from billing import composition
from billing.domain.billing_calendar import format_instant
from billing.notifications.feedback import ACCOUNT_TAG, EmailFeedback, account_tag
from devstack.api_gateway import GatewayResponse
from tests.support.api import Api, Client, expect_error, fresh_account_id
from tests.support.stand_ins import StandIn

PARTNER = {"id": "reseller-7", "name": "Reseller Seven", "email": "desk@reseller7.example"}
OTHER_PARTNER = {"id": "reseller-9", "name": "Reseller Nine", "email": "desk@reseller9.example"}
PLAN = {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"}
FORM: dict[str, Any] = {
    "name": "Camille Martin",
    "company": None,
    "email": "billing@atelier-lumiere.fr",
    "address_line1": "12 rue de la Paix",
    "address_line2": None,
    "city": "Paris",
    "postal_code": "75002",
    "region": None,
    "country": "FR",
    "vat_id": None,
}


def _ok(response: GatewayResponse, status: int = 200) -> dict[str, Any]:
    assert response.status == status, response.body
    body: dict[str, Any] = response.json()
    return body


def _account_body(account_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "email": f"{account_id}@example.com",
        "locale": "en",
        "domain_zone": "com",
        "channel": "direct",
        "partner": None,
    } | changes


def _partner_contact(sub: dict[str, Any]) -> dict[str, Any]:
    """What a partner customer is told: whom to contact, and by when to say they will not
    renew (a week before the period ends)."""
    ends = datetime.fromisoformat(sub["current_period_end"])
    tell_by = format_instant(ends - timedelta(days=7))
    return {"partner": PARTNER, "sales": None, "tell_partner_by": tell_by}


def _payment_intents(localstripe: StandIn) -> int:
    return len(localstripe.requests("POST", "/v1/payment_intents"))


# --- PUT /admin/accounts/{account_id} ---------------------------------------------------------


def test_an_admin_creates_an_account_then_updates_it_keeping_billing_info_and_card(
    api: Api,
) -> None:
    account_id = fresh_account_id("managed")
    admin = api.staff("admin")

    created = admin.put(f"/admin/accounts/{account_id}", _account_body(account_id, locale="fr"))

    assert _ok(created, 201) == {
        "id": account_id,
        "email": f"{account_id}@example.com",
        "locale": "fr",
        "domain_zone": "com",
        "channel": "direct",
        "partner": None,
        "open_subscription_id": None,
        "suppressed_emails": [],
    }
    customer = api.customer(account_id)
    assert customer.put("/account/billing-info", FORM).status == 200
    assert api.save_card(customer).status == 200
    billing_before = _ok(customer.get("/account/billing"))

    updated = admin.put(
        f"/admin/accounts/{account_id}",
        _account_body(account_id, email=f"new-{account_id}@example.com", locale="en"),
    )

    assert _ok(updated) == {
        "id": account_id,
        "email": f"new-{account_id}@example.com",
        "locale": "en",
        "domain_zone": "com",
        "channel": "direct",
        "partner": None,
        "open_subscription_id": None,
        "suppressed_emails": [],
    }
    assert _ok(customer.get("/account/billing")) == billing_before | {"locale": "en"}
    account = composition.root().repository.get_account(account_id)
    assert account.payment_method is not None
    assert account.stripe_customer_id is not None

    as_partner = admin.put(
        f"/admin/accounts/{account_id}",
        _account_body(account_id, channel="partner", partner=PARTNER),
    )
    assert _ok(as_partner)["partner"] == PARTNER
    assert _ok(customer.get("/account/billing"))["update_flow"]["flow"] == "contact_partner"


def test_only_admins_create_or_update_accounts(api: Api) -> None:
    account_id = fresh_account_id("not-yours")
    body = _account_body(account_id)

    for caller in (
        api.customer(account_id),
        api.staff("sales"),
        api.staff("partner", partner_id=PARTNER["id"]),
    ):
        refused = caller.put(f"/admin/accounts/{account_id}", body)
        assert expect_error(refused, 403, "forbidden")["details"] == {"required_roles": ["admin"]}
    expect_error(api.anonymous.put(f"/admin/accounts/{account_id}", body), 401, "unauthorized")

    expect_error(api.customer(account_id).get("/account/billing"), 404, "not_found")


def test_an_account_body_with_a_partner_mismatch_or_invalid_values_is_refused(api: Api) -> None:
    account_id = fresh_account_id("invalid")
    admin = api.staff("admin")
    cases = [
        (_account_body(account_id, channel="partner"), {"partner": "partner_mismatch"}),
        (_account_body(account_id, partner=PARTNER), {"partner": "partner_mismatch"}),
        (_account_body(account_id, email="not an email"), {"email": "invalid_email"}),
        (_account_body(account_id, locale="de"), {"locale": "enum"}),
        (
            _account_body(account_id, email="x@", locale="xx"),
            {"email": "invalid_email", "locale": "enum"},
        ),
    ]

    for body, expected in cases:
        refused = admin.put(f"/admin/accounts/{account_id}", body)
        details = expect_error(refused, 422, "invalid_fields")["details"]
        assert {entry["field"]: entry["code"] for entry in details} == expected, body
        assert len(details) == len(expected)

    expect_error(api.customer(account_id).get("/account/billing"), 404, "not_found")


def test_the_channel_cannot_change_while_a_subscription_is_open(api: Api) -> None:
    account_id = fresh_account_id("subscribed")
    customer, sub_id = api.subscribed(account_id)
    admin = api.staff("admin")
    billing_before = _ok(customer.get("/account/billing"))

    refused = admin.put(
        f"/admin/accounts/{account_id}",
        _account_body(account_id, channel="partner", partner=PARTNER),
    )

    expect_error(refused, 409, "subscription_exists")
    assert _ok(customer.get("/account/billing")) == billing_before
    account = composition.root().repository.get_account(account_id)
    assert (account.channel.value, account.partner) == ("direct", None)

    same_channel = admin.put(
        f"/admin/accounts/{account_id}", _account_body(account_id, locale="fr")
    )
    assert _ok(same_channel)["open_subscription_id"] == sub_id


def _ses_event(kind: str, address: str, account_id: str, reported: str) -> str:
    """The ``Sns.Message`` SES publishes for a permanent bounce or a complaint of an email
    tagged with the account, as its event publishing examples show it (trimmed)."""
    event: dict[str, Any] = (
        {
            "bounceType": "Permanent",
            "bounceSubType": "NoEmail",
            "bouncedRecipients": [{"emailAddress": address, "status": "5.1.1"}],
        }
        if kind == "Bounce"
        else {"complainedRecipients": [{"emailAddress": address}], "complaintFeedbackType": "abuse"}
    )
    return json.dumps(
        {
            "eventType": kind,
            kind.lower(): event | {"timestamp": reported, "feedbackId": "feedback-1"},
            "mail": {
                "timestamp": reported,
                "messageId": "ses-message-1",
                "destination": [address],
                "tags": {
                    ACCOUNT_TAG: [account_tag(account_id)],
                    "template": ["renewal_receipt"],
                    "locale": ["en"],
                },
            },
        }
    )


def test_an_admin_sees_which_addresses_bounced_or_complained_and_sales_their_trail(
    api: Api,
) -> None:
    account_id = fresh_account_id("bounced")
    admin = api.staff("admin")
    customer = api.open_account(account_id)
    assert customer.put("/account/billing-info", FORM).status == 200
    feedback = EmailFeedback(composition.root().repository, clock=api.clock)

    feedback.handle(
        _ses_event("Bounce", f"{account_id}@EXAMPLE.com", account_id, "2026-01-31T09:31:02.120Z")
    )
    feedback.handle(_ses_event("Complaint", FORM["email"], account_id, "2026-01-31T09:45:10.004Z"))
    updated = admin.put(f"/admin/accounts/{account_id}", _account_body(account_id, locale="fr"))
    seen_by_sales = _ok(api.staff("sales").get(f"/admin/accounts/{account_id}"))

    assert seen_by_sales == _ok(updated)
    assert seen_by_sales["suppressed_emails"] == [
        {
            "address": f"{account_id}@example.com",
            "reason": "bounce",
            "detail": "NoEmail",
            "at": "2026-01-31T09:31:02Z",
        },
        {
            "address": FORM["email"],
            "reason": "complaint",
            "detail": "abuse",
            "at": "2026-01-31T09:45:10Z",
        },
    ]
    events = _ok(api.staff("sales").get(f"/admin/accounts/{account_id}/events"))["items"]
    suppressed = [e for e in events if e["action"] == "email_suppressed"]
    assert [(e["actor"], e["requested_by"], e["details"]) for e in suppressed] == [
        (
            "provider",
            "ses",
            {
                "reason": "bounce",
                "detail": "NoEmail",
                "recipient": "account_email",
                "message_id": "ses-message-1",
                "template": "renewal_receipt",
            },
        ),
        (
            "provider",
            "ses",
            {
                "reason": "complaint",
                "detail": "abuse",
                "recipient": "billing_email",
                "message_id": "ses-message-1",
                "template": "renewal_receipt",
            },
        ),
    ]
    assert "suppressed_emails" not in _ok(customer.get("/account/billing")), "staff only"
    assert customer.get(f"/admin/accounts/{account_id}").status == 403
    assert api.staff("sales").get("/admin/accounts/nobody").status == 404


# --- POST /admin/accounts/{account_id}/subscriptions ------------------------------------------


def _partner_account(api: Api, name: str, partner: dict[str, str] = PARTNER) -> tuple[str, Client]:
    account_id = fresh_account_id(name)
    return account_id, api.open_account(account_id, partner=partner)


def test_a_partner_opens_a_subscription_its_customer_can_read_but_not_change(
    api: Api, localstripe: StandIn
) -> None:
    account_id, customer = _partner_account(api, "resold")
    partner = api.staff("partner", partner_id=PARTNER["id"])
    intents_before = _payment_intents(localstripe)

    opened = partner.post(f"/admin/accounts/{account_id}/subscriptions", PLAN, key="open-1")
    repeated = partner.post(f"/admin/accounts/{account_id}/subscriptions", PLAN, key="open-1")

    sub = _ok(opened, 201)
    assert _ok(repeated, 201) == sub
    assert sub | {"id": None} == {
        "id": None,
        "account_id": account_id,
        "plan_id": "basic",
        "cycle_months": 1,
        "currency": "EUR",
        "price": 4900,
        "status": "active",
        "auto_renew": False,
        "channel": "partner",
        "access": True,
        "current_period_start": "2026-01-31T09:30:00Z",
        "current_period_end": "2026-02-28T09:30:00Z",
        "next_charge_at": None,
        "next_charge_amount": None,
        "failed_attempts": 0,
        "retries_left": 0,
        "last_failure": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "discount": None,
        "disputed_payment_id": None,
        "next_charge_tax": None,
    }
    assert _payment_intents(localstripe) == intents_before
    assert _ok(customer.get(f"/subscriptions/{sub['id']}")) == sub
    assert _ok(customer.get("/subscriptions"))["items"] == [sub]
    assert _ok(customer.get(f"/subscriptions/{sub['id']}/payments"))["items"] == []
    assert api.outbox.emails_to(f"{account_id}@example.com") == []

    # The partner's contact, and the last day to tell them: a week before the period ends.
    for action in ("cancel", "resume", "retry"):
        refused = customer.post(f"/subscriptions/{sub['id']}/{action}")
        assert expect_error(refused, 409, "managed_by_partner")["details"] == _partner_contact(
            sub
        ), action
    assert _ok(customer.get(f"/subscriptions/{sub['id']}")) == sub


def test_a_second_open_partner_subscription_is_refused_as_subscription_exists(api: Api) -> None:
    account_id, customer = _partner_account(api, "resold-twice")
    partner = api.staff("partner", partner_id=PARTNER["id"])
    first = _ok(partner.post(f"/admin/accounts/{account_id}/subscriptions", PLAN), 201)

    second = partner.post(f"/admin/accounts/{account_id}/subscriptions", PLAN | {"cycle_months": 3})

    # Fails today: 409 concurrent_modification (see _transaction_error in persistence/dynamodb.py).
    expect_error(second, 409, "subscription_exists")
    assert _ok(customer.get("/subscriptions"))["items"] == [first]
    assert composition.root().repository.get_account(account_id).open_subscription_id == first["id"]


def test_who_may_open_a_partner_subscription(api: Api) -> None:
    resold_id, resold = _partner_account(api, "resold-by-7")
    direct_id = fresh_account_id("direct")
    direct = api.open_account(direct_id)
    partner = api.staff("partner", partner_id=PARTNER["id"])
    other_partner = api.staff("partner", partner_id=OTHER_PARTNER["id"])
    path = f"/admin/accounts/{resold_id}/subscriptions"

    expect_error(other_partner.post(path, PLAN), 404, "not_found")
    expect_error(api.staff("partner").post(path, PLAN), 404, "not_found")
    expect_error(resold.post(path, PLAN), 403, "forbidden")
    expect_error(api.staff("sales").post(path, PLAN), 403, "forbidden")
    expect_error(
        partner.post(f"/admin/accounts/{fresh_account_id('ghost')}/subscriptions", PLAN),
        404,
        "not_found",
    )
    bad_plan = partner.post(path, PLAN | {"cycle_months": 2})
    assert expect_error(bad_plan, 422, "invalid_fields")["details"][0]["field"] == "cycle_months"
    assert _ok(resold.get("/subscriptions"))["items"] == []

    expect_error(
        api.staff("admin").post(f"/admin/accounts/{direct_id}/subscriptions", PLAN),
        409,
        "not_partner_managed",
    )
    expect_error(partner.post(f"/admin/accounts/{direct_id}/subscriptions", PLAN), 404, "not_found")
    assert _ok(direct.get("/subscriptions"))["items"] == []

    by_admin = _ok(api.staff("admin").post(path, PLAN | {"cycle_months": 12}), 201)
    assert (by_admin["channel"], by_admin["cycle_months"], by_admin["price"]) == (
        "partner",
        12,
        46800,
    )


# --- POST /admin/subscriptions/{id}/extend ----------------------------------------------------


def _at_period_end(api: Api, sub: dict[str, Any]) -> None:
    api.clock.now = datetime.fromisoformat(sub["current_period_end"])


def test_an_extended_partner_subscription_renews_at_period_end_without_a_charge(
    api: Api, localstripe: StandIn
) -> None:
    account_id, customer = _partner_account(api, "extended")
    partner = api.staff("partner", partner_id=PARTNER["id"])
    sub = _ok(partner.post(f"/admin/accounts/{account_id}/subscriptions", PLAN), 201)
    intents_before = _payment_intents(localstripe)

    extended = partner.post(f"/admin/subscriptions/{sub['id']}/extend")

    after = _ok(extended)
    assert {k: after[k] for k in ("id", "status", "channel", "auto_renew", "next_charge_at")} == {
        "id": sub["id"],
        "status": "active",
        "channel": "partner",
        "auto_renew": False,
        "next_charge_at": None,
    }
    assert after["current_period_end"] == sub["current_period_end"]
    _at_period_end(api, sub)
    renewed = api.renew(sub["id"], account_id)

    assert renewed.attempt is None
    now = _ok(customer.get(f"/subscriptions/{sub['id']}"))
    assert (now["status"], now["access"], now["next_charge_at"]) == ("active", True, None)
    assert now["current_period_start"] == "2026-02-28T09:30:00Z"
    assert now["current_period_end"] == "2026-03-31T09:30:00Z"
    assert _payment_intents(localstripe) == intents_before
    assert _ok(customer.get(f"/subscriptions/{sub['id']}/payments"))["items"] == []
    trail = _ok(customer.get(f"/subscriptions/{sub['id']}/events"))["items"]
    assert [(e["actor"], e["action"]) for e in trail] == [
        ("partner", "opened"),
        ("partner", "partner_extended"),
        ("scheduler", "period_ended"),
    ]
    assert api.outbox.emails_to(PARTNER["email"]) == []


def test_a_partner_subscription_not_extended_is_cancelled_and_can_no_longer_be_extended(
    api: Api,
) -> None:
    account_id, customer = _partner_account(api, "lapsed")
    partner = api.staff("partner", partner_id=PARTNER["id"])
    sub = _ok(partner.post(f"/admin/accounts/{account_id}/subscriptions", PLAN), 201)
    _at_period_end(api, sub)

    lapsed = api.renew(sub["id"], account_id)

    assert lapsed.subscription.status.value == "cancelled"
    now = _ok(customer.get(f"/subscriptions/{sub['id']}"))
    assert (now["status"], now["cancel_reason"], now["access"]) == (
        "cancelled",
        "partner_not_renewed",
        False,
    )
    assert now["cancelled_at"] == "2026-02-28T09:30:00Z"
    [notice] = api.outbox.emails_to(PARTNER["email"])
    assert notice.subject == f"Subscription {sub['id']} was not renewed"
    assert f"{account_id}@example.com" in notice.body

    refused = partner.post(f"/admin/subscriptions/{sub['id']}/extend")

    expect_error(refused, 409, "subscription_cancelled")
    assert _ok(customer.get(f"/subscriptions/{sub['id']}")) == now
    reopened = _ok(partner.post(f"/admin/accounts/{account_id}/subscriptions", PLAN), 201)
    assert reopened["id"] != sub["id"]


def test_who_may_extend_a_subscription(api: Api) -> None:
    account_id, customer = _partner_account(api, "extend-refusals")
    sub = _ok(api.staff("admin").post(f"/admin/accounts/{account_id}/subscriptions", PLAN), 201)
    direct_id = fresh_account_id("direct-extend")
    direct, direct_sub_id = api.subscribed(direct_id)
    direct_before = _ok(direct.get(f"/subscriptions/{direct_sub_id}"))
    path = f"/admin/subscriptions/{sub['id']}/extend"

    expect_error(api.staff("partner", partner_id=OTHER_PARTNER["id"]).post(path), 404, "not_found")
    expect_error(customer.post(path), 403, "forbidden")
    expect_error(api.staff("sales").post(path), 403, "forbidden")
    expect_error(
        api.staff("partner", partner_id=PARTNER["id"]).post(
            "/admin/subscriptions/sub_does_not_exist/extend"
        ),
        404,
        "not_found",
    )
    direct_path = f"/admin/subscriptions/{direct_sub_id}/extend"
    expect_error(api.staff("admin").post(direct_path), 409, "not_partner_managed")
    expect_error(api.staff("partner", partner_id=PARTNER["id"]).post(direct_path), 404, "not_found")

    assert _ok(customer.get(f"/subscriptions/{sub['id']}/events"))["items"][-1]["action"] == (
        "opened"
    )
    assert _ok(direct.get(f"/subscriptions/{direct_sub_id}")) == direct_before


# --- GET /admin/retry-requests ----------------------------------------------------------------


def test_sales_sees_past_due_subscriptions_whose_retry_now_failed_newest_first(api: Api) -> None:
    sales = api.staff("sales")
    first_id = fresh_account_id("follow-up-1")
    first, first_sub = api.past_due(first_id)
    second_id = fresh_account_id("follow-up-2")
    second, second_sub = api.past_due(second_id)
    quiet_id = fresh_account_id("no-retry-now")
    api.past_due(quiet_id)
    api.outbox.sales_notices()
    assert _ok(sales.get("/admin/retry-requests")) == {"items": []}

    retried_first = _ok(first.post(f"/subscriptions/{first_sub}/retry"))
    api.clock.advance(hours=1)
    retried_second = _ok(second.post(f"/subscriptions/{second_sub}/retry"))

    for retried in (retried_first, retried_second):
        assert retried["status"] == "past_due"
        assert retried["attempt"]["status"] == "failed"
        assert retried["attempt"]["failure_reason"] == "card_declined"
    requests = _ok(sales.get("/admin/retry-requests"))["items"]
    assert [item["id"] for item in requests] == [second_sub, first_sub]
    # The list is read without the accounts: no next charge's VAT, which depends on them.
    assert requests[0] == {k: v for k, v in retried_second.items() if k != "attempt"} | {
        "next_charge_tax": None
    }
    notices = api.outbox.sales_notices()
    assert [(n["notice"], n["account_id"], n["details"]["outcome"]) for n in notices] == [
        ("retry_now_outcome", first_id, "failed"),
        ("retry_now_outcome", second_id, "failed"),
    ]

    expect_error(api.staff("admin").get("/admin/retry-requests"), 403, "forbidden")
    expect_error(first.get("/admin/retry-requests"), 403, "forbidden")
    expect_error(
        api.staff("partner", partner_id="p").get("/admin/retry-requests"), 403, "forbidden"
    )


# --- POST /admin/subscriptions/{id}/charge ----------------------------------------------------


def test_a_sales_recharge_of_a_past_due_subscription(api: Api, localstripe: StandIn) -> None:
    account_id = fresh_account_id("recharge")
    customer, sub_id = api.past_due(account_id)
    sales = api.staff("sales")
    _ok(customer.post(f"/subscriptions/{sub_id}/retry"))
    assert [i["id"] for i in _ok(sales.get("/admin/retry-requests"))["items"]] == [sub_id]
    api.outbox.sales_notices()
    emails_before = len(api.outbox.emails_to(f"{account_id}@example.com"))
    path = f"/admin/subscriptions/{sub_id}/charge"

    declined = _ok(sales.post(path))

    assert declined["status"] == "past_due"
    assert declined["attempt"]["status"] == "failed"
    assert declined["attempt"]["failure_reason"] == "card_declined"
    assert declined["attempt"]["message"]
    assert declined["failed_attempts"] == 3

    api.card_saved_quietly(account_id)  # as if the bank lifted the block
    intents_before = _payment_intents(localstripe)
    paid = _ok(sales.post(path, key="recharge-1"))

    assert paid["status"] == "active"
    assert paid["attempt"] == {
        "status": "succeeded",
        "failure_reason": None,
        "message": None,
        "action": None,
    }
    assert (paid["current_period_start"], paid["current_period_end"]) == (
        "2026-02-28T09:30:00Z",
        "2026-03-31T09:30:00Z",
    )
    assert (paid["failed_attempts"], paid["last_failure"], paid["retries_left"]) == (0, None, 0)
    assert paid["next_charge_at"] == "2026-03-31T09:30:00Z"
    assert _payment_intents(localstripe) == intents_before + 1
    payments = _ok(customer.get(f"/subscriptions/{sub_id}/payments"))["items"]
    assert [(p["kind"], p["status"]) for p in payments[:2]] == [
        ("sales", "succeeded"),
        ("sales", "failed"),
    ]
    subjects = [e.subject for e in api.outbox.emails_to(f"{account_id}@example.com")]
    assert subjects[emails_before:] == [
        "We could not renew your Basic subscription",
        "Payment received: your Basic subscription is renewed",
    ]
    assert api.outbox.sales_notices() == []
    assert _ok(sales.get("/admin/retry-requests")) == {"items": []}

    assert _ok(sales.post(path, key="recharge-1")) == paid
    assert _payment_intents(localstripe) == intents_before + 1
    expect_error(sales.post(path), 409, "no_action_required")


def test_only_sales_recharges_and_only_what_is_past_due(api: Api, localstripe: StandIn) -> None:
    account_id = fresh_account_id("recharge-refusals")
    customer, sub_id = api.past_due(account_id)
    before = _ok(customer.get(f"/subscriptions/{sub_id}"))
    payments_before = _ok(customer.get(f"/subscriptions/{sub_id}/payments"))
    path = f"/admin/subscriptions/{sub_id}/charge"
    active_id = fresh_account_id("recharge-active")
    active, active_sub = api.subscribed(active_id)
    intents_before = _payment_intents(localstripe)

    for caller in (customer, api.staff("admin"), api.staff("partner", partner_id="p")):
        refused = caller.post(path)
        assert expect_error(refused, 403, "forbidden")["details"] == {"required_roles": ["sales"]}
    expect_error(
        api.staff("sales").post("/admin/subscriptions/sub_unknown/charge"), 404, "not_found"
    )

    expect_error(
        api.staff("sales").post(f"/admin/subscriptions/{active_sub}/charge"),
        409,
        "no_action_required",
    )

    resold_id, _ = _partner_account(api, "recharge-resold")
    resold_sub = _ok(
        api.staff("admin").post(f"/admin/accounts/{resold_id}/subscriptions", PLAN), 201
    )
    refused = api.staff("sales").post(f"/admin/subscriptions/{resold_sub['id']}/charge")
    assert expect_error(refused, 409, "managed_by_partner")["details"] == _partner_contact(
        resold_sub
    )

    assert _ok(customer.get(f"/subscriptions/{sub_id}")) == before
    assert _ok(customer.get(f"/subscriptions/{sub_id}/payments")) == payments_before
    assert _ok(active.get(f"/subscriptions/{active_sub}"))["status"] == "active"
    assert _payment_intents(localstripe) == intents_before

    cancelled = _ok(customer.post(f"/subscriptions/{sub_id}/cancel"))
    assert cancelled["status"] == "cancelled"
    expect_error(api.staff("sales").post(path), 409, "subscription_cancelled")
    assert _ok(customer.get(f"/subscriptions/{sub_id}")) == cancelled
    assert _payment_intents(localstripe) == intents_before
