"""The billing page as the local stack serves it (``/portal/`` on the API's port): its files,
revalidated on every load, and the config.json that points it at the local stack."""

from __future__ import annotations

import json

import pytest

from devstack.portal import (
    LOCALSTRIPE_JS,
    LocalPage,
    PageConfig,
    development_sign_in,
    page_files,
    page_parameters,
)

API = "http://127.0.0.1:3000"
PAGE = LocalPage(
    PageConfig(
        api_url=API,
        stripe_js_url="http://127.0.0.1:3002" + LOCALSTRIPE_JS,
        stripe_publishable_key="pk_test_local",
        sign_in=development_sign_in(API),
    )
)


def test_the_page_and_its_modules_are_served_with_their_types() -> None:
    index = PAGE.answer("/portal/")
    module = PAGE.answer("/portal/pages/confirm.js")

    assert index is not None
    assert module is not None
    assert (index.status, index.headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert '<script type="module" src="app.js">' in index.body
    assert module.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert index.headers["Cache-Control"] == module.headers["Cache-Control"] == "no-cache"
    assert {name for name, _, _ in page_files()} >= {"index.html", "app.js", "styles.css"}


def test_the_config_points_the_page_at_the_local_stack() -> None:
    answer = PAGE.answer("/portal/config.json")

    assert answer is not None
    assert json.loads(answer.body) == {
        "api_url": API,
        "stripe_js_url": "http://127.0.0.1:3002/js.stripe.com/v3/",
        "stripe_publishable_key": "pk_test_local",
        "sign_in": {"kind": "development", "token_url": f"{API}/_dev/token"},
    }


def test_the_folder_without_its_slash_is_redirected_to_it() -> None:
    answer = PAGE.answer("/portal")

    assert answer is not None
    assert (answer.status, answer.headers["Location"]) == (301, "/portal/")


@pytest.mark.parametrize("path", ["/portal/nothing.js", "/portal/../template.yaml", "/portal/.."])
def test_nothing_but_the_pages_files_is_served(path: str) -> None:
    answer = PAGE.answer(path)

    assert answer is not None
    assert (answer.status, answer.json()["error"]["code"]) == (404, "not_found")


def test_other_paths_are_the_apis() -> None:
    assert PAGE.answer("/portals") is None
    assert PAGE.answer("/subscriptions") is None


def test_emails_and_paypal_send_customers_to_the_local_page() -> None:
    assert page_parameters(f"{API}/portal") == {
        "CustomerPortalUrl": f"{API}/portal",
        "PayPalReturnUrl": f"{API}/portal/?paypal=return",
        "PayPalCancelUrl": f"{API}/portal/?paypal=cancel",
    }
