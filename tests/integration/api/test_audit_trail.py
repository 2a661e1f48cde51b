"""The audit trail over HTTP: every account change and every request that starts a charge is
recorded with who asked, and sales reads an account's whole trail."""

from __future__ import annotations

from typing import Any

from devstack.api_gateway import GatewayResponse
from tests.support.api import Api, Client, expect_error, fresh_account_id

FORM: dict[str, Any] = {
    "name": "Camille Martin",
    "email": "factures@atelier-lumiere.fr",
    "address_line1": "12 rue de la Paix",
    "city": "Paris",
    "postal_code": "75002",
    "country": "FR",
}


def _user_id(api: Api, client: Client) -> str:
    """The `sub` of the token `client` signs in with."""
    assert client.sign_in is not None
    return str(api.issuer.verify(client.sign_in())["sub"])


def _ok(response: GatewayResponse, status: int = 200) -> dict[str, Any]:
    assert response.status == status, response.body
    body: dict[str, Any] = response.json()
    return body


def test_every_account_change_and_charge_request_names_who_asked(api: Api) -> None:
    account_id = fresh_account_id("audited")
    admin = api.staff("admin")
    customer = api.open_account(account_id)
    api.clock.advance(seconds=1)  # the trail is ordered by the second, as each change is dated
    assert api.save_card(customer).status == 200
    api.clock.advance(seconds=1)
    _ok(customer.put("/account/billing-info", FORM, key="form"))
    api.clock.advance(seconds=1)
    bought = _ok(api.buy(customer), 201)
    api.clock.advance(seconds=1)
    _ok(admin.put(f"/admin/accounts/{account_id}", {"email": "new@example.com", "locale": "fr"}))

    trail = api.account_trail(account_id)

    admin_id, customer_id = _user_id(api, admin), _user_id(api, customer)
    assert [(e["action"], e["actor"], e["requested_by"]) for e in trail] == [
        ("account_created", "admin", admin_id),
        ("provider_customer_created", "customer", customer_id),
        ("payment_method_saved", "customer", customer_id),
        ("billing_info_saved", "customer", customer_id),
        ("charge_requested", "customer", customer_id),
        ("opened", "customer", customer_id),
        ("account_updated", "admin", admin_id),
    ]
    by_action = {entry["action"]: entry for entry in trail}
    assert by_action["payment_method_saved"]["details"] == {
        "provider": "stripe",
        "kind": "card",
        "brand": "visa",
        "last4": "4242",
    }
    # Field names only: the trail never expires, so it keeps no copy of an address.
    saved_form = by_action["billing_info_saved"]["details"]["fields"].split(",")
    assert set(saved_form) >= {"name", "email", "address_line1", "city", "country"}
    assert "Paris" not in str(by_action["billing_info_saved"])
    assert by_action["account_updated"]["details"] == {
        "fields": "email,locale",
        "channel": "direct",
    }
    assert by_action["charge_requested"]["details"]["subscription_id"] == bought["id"]
    assert by_action["charge_requested"]["to_status"] is None


def test_every_request_that_starts_a_charge_names_its_requester(api: Api) -> None:
    client, sub_id = api.past_due(fresh_account_id("charged-thrice"))
    account_id = _ok(client.get(f"/subscriptions/{sub_id}"))["account_id"]
    assert api.save_card(client).status == 200  # a new card: the past-due renewal is retried

    requested = [e for e in api.account_trail(account_id) if e["action"] == "charge_requested"]

    customer_id = _user_id(api, client)
    assert [(e["actor"], e["requested_by"], e["details"]["kind"]) for e in requested] == [
        ("customer", customer_id, "purchase"),
        ("scheduler", "scheduler", "renewal"),
        ("customer", customer_id, "payment_method_update"),
    ]


def test_a_sales_recharge_outcome_is_the_sales_agents(api: Api) -> None:
    client, sub_id = api.past_due(fresh_account_id("sales-recharge"))
    account_id = _ok(client.get(f"/subscriptions/{sub_id}"))["account_id"]
    sales = api.staff("sales")

    _ok(sales.post(f"/admin/subscriptions/{sub_id}/charge", key="recharge"))

    sales_id = _user_id(api, sales)
    [declined] = [
        e
        for e in api.account_trail(account_id)
        if e["action"] == "charge_failed" and e["details"].get("charge_kind") == "sales"
    ]
    assert (declined["actor"], declined["requested_by"]) == ("sales", sales_id)
    [requested] = [
        e
        for e in api.account_trail(account_id)
        if e["action"] == "charge_requested" and e["details"]["kind"] == "sales"
    ]
    assert (requested["actor"], requested["requested_by"]) == ("sales", sales_id)


def test_only_sales_reads_an_accounts_trail(api: Api) -> None:
    account_id = fresh_account_id("private-trail")
    customer = api.open_account(account_id)
    path = f"/admin/accounts/{account_id}/events"
    expect_error(customer.get(path), 403, "forbidden")
    expect_error(api.staff("admin").get(path), 403, "forbidden")
    expect_error(api.staff("sales").get("/admin/accounts/nobody-here/events"), 404, "not_found")
