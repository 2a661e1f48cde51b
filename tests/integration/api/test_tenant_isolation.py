"""Tenant isolation over every route of template.yaml: another account's subscription is not
found and unchanged, a missing or bad token is 401, a wrong role on an admin route is 403, only
an account's administrators reach its billing, and who calls is checked before what is sent."""

from __future__ import annotations

from itertools import product
from typing import Any

import jwt
import pytest

from billing.api.http import JSON, AccountRole
from devstack.api_gateway import Route, routes_from_template
from tests.integration.api.conftest import Reached
from tests.support.api import Api, Client, expect_error
from tests.support.aws import template

ROUTES = routes_from_template(template())
CUSTOMER_ROUTES = [r for r in ROUTES if r.authorized and not r.path_template.startswith("/admin/")]

BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/subscriptions"): {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"},
    ("PUT", "/account/billing-info"): {
        "name": "Mallory",
        "email": "mallory@example.com",
        "address_line1": "1 Rue de la Paix",
        "city": "Paris",
        "postal_code": "75002",
        "country": "FR",
    },
    ("POST", "/account/payment-method/setup"): {"method": "card"},
    ("PUT", "/account/payment-method"): {"provider": "stripe", "setup_intent_id": "seti_123"},
    ("PUT", "/admin/accounts/{account_id}"): {"email": "x@example.com"},
    ("POST", "/admin/accounts/{account_id}/subscriptions"): {
        "plan_id": "basic",
        "cycle_months": 1,
        "currency": "EUR",
    },
}
"""Valid bodies, so that a refusal is about who asks, not what."""

ROLES: dict[tuple[str, str], frozenset[str]] = {
    ("PUT", "/admin/accounts/{account_id}"): frozenset({"admin"}),
    ("GET", "/admin/accounts/{account_id}"): frozenset({"admin", "sales"}),
    ("POST", "/admin/accounts/{account_id}/subscriptions"): frozenset({"admin", "partner"}),
    ("POST", "/admin/subscriptions/{subscription_id}/extend"): frozenset({"admin", "partner"}),
    ("POST", "/admin/subscriptions/{subscription_id}/charge"): frozenset({"sales"}),
    ("GET", "/admin/retry-requests"): frozenset({"sales"}),
    ("GET", "/admin/accounts/{account_id}/events"): frozenset({"sales"}),
    ("POST", "/admin/subscriptions/{subscription_id}/clear-dispute"): frozenset({"sales"}),
    ("POST", "/admin/payments/{payment_id}/refund"): frozenset({"sales"}),
}
"""Who may call each admin route (docs/rules.md)."""

PUBLIC = {("GET", "/plans"), ("POST", "/webhooks/stripe"), ("POST", "/webhooks/paypal")}
"""The routes without a token: the catalogue, and the providers' webhooks (signed instead)."""


def _key(route: Route) -> tuple[str, str]:
    return route.method.upper(), route.path_template


def _path(route: Route, subscription_id: str, account_id: str) -> str:
    return route.path_template.format(
        subscription_id=subscription_id,
        account_id=account_id,
        payment_id=f"{subscription_id}.c00000.a001",
        number="1",
    )


def _call(client: Client, route: Route, subscription_id: str, account_id: str) -> Any:
    body = BODIES.get((route.method.upper(), route.path_template))
    return client.request(route.method.upper(), _path(route, subscription_id, account_id), body)


def _read(owner: Client, path: str) -> Any:
    answer = owner.get(path)
    assert answer.status == 200, answer.body
    return answer.json()


def _snapshot(api: Api, owner: Client, sub_id: str) -> dict[str, Any]:
    return {
        "subscription": _read(owner, f"/subscriptions/{sub_id}"),
        "payments": _read(owner, f"/subscriptions/{sub_id}/payments"),
        "events": _read(owner, f"/subscriptions/{sub_id}/events"),
        "billing": _read(owner, "/account/billing"),
        "emails": len(api.outbox.emails),
    }


def test_every_admin_route_is_classified() -> None:
    admin_routes = {_key(r) for r in ROUTES if r.path_template.startswith("/admin/")}
    assert admin_routes == set(ROLES)


def test_another_accounts_subscription_is_not_found_and_unchanged(api: Api) -> None:
    owner, sub_id = api.past_due("acct_victim")
    intruder = api.open_account("acct_intruder")
    api.save_card(intruder)
    before = _snapshot(api, owner, sub_id)

    answers = {
        (route.method, route.path_template): _call(intruder, route, sub_id, "acct_victim").status
        for route in ROUTES
        if "{subscription_id}" in route.path_template
        and not route.path_template.startswith("/admin/")
    }

    assert len(answers) == 8
    assert set(answers.values()) == {404}, answers
    assert _snapshot(api, owner, sub_id) == before


def test_account_routes_act_on_the_callers_own_account_only(api: Api) -> None:
    owner, sub_id = api.subscribed("acct_victim")
    intruder = api.open_account("acct_intruder")
    before = _snapshot(api, owner, sub_id)

    seen = intruder.get("/subscriptions").json()["items"]
    billing = intruder.get("/account/billing").json()

    assert seen == []
    assert billing["payment_method"] is None
    assert _snapshot(api, owner, sub_id) == before


def test_no_token_or_a_bad_one_is_401_on_every_authorised_route(api: Api) -> None:
    owner, sub_id = api.subscribed("acct_1")
    before = _snapshot(api, owner, sub_id)
    forged = jwt.encode(
        {"custom:account_id": "acct_1", "token_use": "id"}, "not-the-secret-" * 3, "HS256"
    )
    expired = api.issuer.issue("acct_1")
    api.clock.advance(hours=2)

    anonymous = Client(api.gateway, None, api.key_suffix)
    authorised = [r for r in ROUTES if r.authorized]
    for route, authorization in product(
        authorised, (None, "Bearer not-a-jwt", f"Bearer {forged}", f"Bearer {expired}")
    ):
        headers = {} if authorization is None else {"Authorization": authorization}
        body = BODIES.get((route.method.upper(), route.path_template))
        path = _path(route, sub_id, "acct_1")
        answer = anonymous.request(route.method.upper(), path, body, headers=headers)
        assert answer.status == 401, (route, authorization, answer.body)
        assert answer.json()["error"]["code"] == "unauthorized"
    assert len(authorised) == len(ROUTES) - len(PUBLIC)
    assert _snapshot(api, owner, sub_id) == before


def test_the_catalogue_and_the_webhooks_need_no_token(api: Api) -> None:
    assert {_key(r) for r in ROUTES if not r.authorized} == PUBLIC
    assert api.anonymous.get("/plans").status == 200
    # A webhook without a valid signature is refused for that, not for want of a token.
    expect_error(api.anonymous.post("/webhooks/stripe", {"id": "evt_1"}), 400, "invalid_signature")


def test_admin_routes_refuse_the_wrong_roles(api: Api) -> None:
    owner, sub_id = api.subscribed("acct_1")
    before = _snapshot(api, owner, sub_id)

    refused = 0
    for route in (r for r in ROUTES if _key(r) in ROLES):
        callers = {
            "customer": api.customer("acct_1"),
            **{
                role: api.staff(role, partner_id="partner_1")
                for role in ("admin", "sales", "partner")
                if role not in ROLES[_key(route)]
            },
        }
        for who, client in callers.items():
            answer = _call(client, route, sub_id, "acct_1")
            assert answer.status == 403, (route, who, answer.body)
            assert answer.json()["error"]["code"] == "forbidden"
            refused += 1
    assert refused == 24
    assert _snapshot(api, owner, sub_id) == before


# --- account roles -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [AccountRole.USER, None], ids=["plain_user", "no_role_claim"])
def test_only_the_account_admin_reads_or_changes_its_billing(
    api: Api, reached: Reached, role: AccountRole | None
) -> None:
    admin, sub_id = api.subscribed("acct_1")
    member = api.customer("acct_1", role)
    before = _snapshot(api, admin, sub_id)

    with reached.nothing():
        answers = {route: _call(member, route, sub_id, "acct_1") for route in CUSTOMER_ROUTES}

    assert len(answers) == 15
    for route, answer in answers.items():
        error = expect_error(answer, 403, "forbidden")
        assert error["details"] == {"required_account_role": "admin"}, route
    assert _snapshot(api, admin, sub_id) == before
    assert [item["id"] for item in _read(admin, "/subscriptions")["items"]] == [sub_id]
    cancelled = admin.post(f"/subscriptions/{sub_id}/cancel")
    assert (cancelled.status, cancelled.json()["auto_renew"]) == (200, False)


INVALID_ID = "x" * 101
"""No id is this long: path validation would answer it 404."""
NOT_A_BODY = (
    ('{"plan_id": 1, "unknown": true}', JSON),
    ('{"a": 1, "a": 2}', JSON),
    ("--x\r\n", "multipart/form-data"),
)
"""Bodies no route accepts (as sent, and their Content-Type), each answered 415 or 422 to a
caller who may send it."""


def _refused_first(client: Client, route: Route, status: int, code: str) -> None:
    method = route.method.upper()
    for path in (_path(route, "sub_1", "acct_1"), _path(route, INVALID_ID, INVALID_ID)):
        expect_error(client.request(method, path), status, code)
        for raw, content_type in NOT_A_BODY:
            headers = {"Content-Type": content_type}
            sent = client.request(method, path, raw=raw, headers=headers, key="k")
            expect_error(sent, status, code)


def test_who_calls_is_checked_before_what_is_sent(api: Api, reached: Reached) -> None:
    api.open_account("acct_1")
    user = api.customer("acct_1", AccountRole.USER)
    account_admin = api.customer("acct_1")

    with reached.nothing():
        for route in (r for r in ROUTES if r.authorized):
            _refused_first(user, route, 403, "forbidden")
            if _key(route) in ROLES:
                _refused_first(account_admin, route, 403, "forbidden")
            _refused_first(api.anonymous, route, 401, "unauthorized")

    # What the bodies would have told a caller allowed to send them.
    for method, path in (
        ("PUT", "/admin/accounts/acct_1"),
        ("POST", "/admin/accounts/x/subscriptions"),
    ):
        told = api.staff("admin").request(method, path, raw=NOT_A_BODY[0][0])
        assert expect_error(told, 422, "invalid_fields")["details"]
