"""Tenant isolation over every route of template.yaml: another account's subscription is not
found and unchanged, a missing or bad token is 401, and a wrong role on an admin route is 403."""

from __future__ import annotations

from itertools import product
from typing import Any

import jwt

from devstack.api_gateway import Route, routes_from_template
from tests.support.api import Api, Client
from tests.support.aws import template

ROUTES = routes_from_template(template())

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
    ("PUT", "/account/payment-method"): {"provider": "stripe", "payment_method_id": "pm_card_visa"},
    ("PUT", "/admin/accounts/{account_id}"): {"email": "x@example.com"},
    ("POST", "/admin/accounts/{account_id}/subscriptions"): {
        "plan_id": "basic",
        "cycle_months": 1,
        "currency": "EUR",
    },
}
"""Valid bodies, so that a refusal is about who asks, not what."""

ROLES: dict[str, frozenset[str]] = {
    "/admin/accounts/{account_id}": frozenset({"admin"}),
    "/admin/accounts/{account_id}/subscriptions": frozenset({"admin", "partner"}),
    "/admin/subscriptions/{subscription_id}/extend": frozenset({"admin", "partner"}),
    "/admin/subscriptions/{subscription_id}/charge": frozenset({"sales"}),
    "/admin/retry-requests": frozenset({"sales"}),
}
"""Who may call each admin route (SPEC §4)."""


def _path(route: Route, subscription_id: str, account_id: str) -> str:
    return route.path_template.format(subscription_id=subscription_id, account_id=account_id)


def _call(client: Client, route: Route, subscription_id: str, account_id: str) -> Any:
    body = BODIES.get((route.method.upper(), route.path_template))
    return client.request(route.method.upper(), _path(route, subscription_id, account_id), body)


def _snapshot(api: Api, owner: Client, sub_id: str) -> dict[str, Any]:
    return {
        "subscription": owner.get(f"/subscriptions/{sub_id}").json(),
        "payments": owner.get(f"/subscriptions/{sub_id}/payments").json(),
        "events": owner.get(f"/subscriptions/{sub_id}/events").json(),
        "billing": owner.get("/account/billing").json(),
        "emails": len(api.outbox.emails),
    }


def test_every_admin_route_is_classified() -> None:
    admin_paths = {r.path_template for r in ROUTES if r.path_template.startswith("/admin/")}
    assert admin_paths == set(ROLES)


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

    assert len(answers) == 6
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
    assert len(authorised) == len(ROUTES) - 1
    assert _snapshot(api, owner, sub_id) == before


def test_the_catalogue_needs_no_token(api: Api) -> None:
    [plans] = [r for r in ROUTES if not r.authorized]
    assert (plans.method.upper(), plans.path_template) == ("GET", "/plans")
    assert api.anonymous.get("/plans").status == 200


def test_admin_routes_refuse_the_wrong_roles(api: Api) -> None:
    owner, sub_id = api.subscribed("acct_1")
    before = _snapshot(api, owner, sub_id)

    refused = 0
    for route in (r for r in ROUTES if r.path_template in ROLES):
        callers = {
            "customer": api.customer("acct_1"),
            **{
                role: api.staff(role, partner_id="partner_1")
                for role in ("admin", "sales", "partner")
                if role not in ROLES[route.path_template]
            },
        }
        for who, client in callers.items():
            answer = _call(client, route, sub_id, "acct_1")
            assert answer.status == 403, (route, who, answer.body)
            assert answer.json()["error"]["code"] == "forbidden"
            refused += 1
    assert refused == 13
    assert _snapshot(api, owner, sub_id) == before
