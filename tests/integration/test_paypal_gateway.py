"""What only the PayPal adapter does, against the PayPal stand-in: the payer's email kept from
the approval, an order and a capture per charge (each with its request id), a refusal only
PayPal makes, OAuth2 access tokens. What every gateway does is the gateway contract's
(tests/contract/test_gateway_contract.py), run against this adapter too."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any
from uuid import uuid4

import pytest

from billing.domain.accounts import Account, PaymentMethodKind
from billing.domain.charges import ChargeStatus
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.providers.gateway import ChargeRequest, PaymentMethodRejected, ProviderUnavailable
from billing.providers.paypal_gateway import PayPalGateway
from tests.support.stand_ins import StandIn

PRICE = Money(2990, Currency.USD)
ACCOUNT = Account(id="acct_pp", email="ada@example.com")


def _vaulted(gateway: PayPalGateway, paypal: StandIn, funding: str = "ok") -> str:
    """The customer approves at PayPal (the stand-in's approve route), then we vault it."""
    start = gateway.start_update(ACCOUNT, gateway.create_customer(ACCOUNT))
    assert start.approval_url is not None
    paypal.post(
        start.approval_url.removeprefix(paypal.url),
        {"email": "ada@example.com", "funding": funding},
    )
    return gateway.save_payment_method(None, start.reference).token


def _request(vault_id: str) -> ChargeRequest:
    return ChargeRequest(
        key=f"sub_{uuid4().hex[:8]}.c00001.a001",
        amount=PRICE,
        payment_method=vault_id,
        customer=None,
        description="basic, 1 month(s), period 1",
    )


def _captures(paypal: StandIn, request: ChargeRequest) -> list[dict[str, object]]:
    return [c for c in paypal.get("/_standin/captures") if c["custom_id"] == request.key]


def test_an_approved_wallet_is_vaulted(paypal_gateway: PayPalGateway, paypal: StandIn) -> None:
    start = paypal_gateway.start_update(ACCOUNT, None)
    assert start.approval_url is not None
    paypal.post(start.approval_url.removeprefix(paypal.url), {"email": "ada@example.com"})

    method = paypal_gateway.save_payment_method(None, start.reference)

    assert method.kind is PaymentMethodKind.PAYPAL
    assert method.paypal_email == "ada@example.com"
    assert method.token


def test_a_charge_is_an_order_and_its_capture_each_with_a_request_id(
    paypal_gateway: PayPalGateway, paypal: StandIn
) -> None:
    request = _request(_vaulted(paypal_gateway, paypal))

    outcome = paypal_gateway.charge(request)

    assert outcome.status is ChargeStatus.SUCCEEDED
    captures = _captures(paypal, request)
    assert [c["id"] for c in captures] == [outcome.reference]
    assert captures[0]["amount"] == {"currency_code": "USD", "value": "29.90"}
    order_ids = {r["idempotency_key"] for r in paypal.requests("POST", "/v2/checkout/orders")}
    assert order_ids == {request.key, f"{request.key}.capture"}


def test_insufficient_funds_land_on_their_reason(
    paypal_gateway: PayPalGateway, paypal: StandIn
) -> None:
    request = _request(_vaulted(paypal_gateway, paypal, "insufficient_funds"))

    outcome = paypal_gateway.charge(request)

    assert outcome.status is ChargeStatus.FAILED
    assert (outcome.failure_reason, outcome.provider_code) == (
        FailureReason.INSUFFICIENT_FUNDS,
        "INSUFFICIENT_FUNDS",
    )
    assert _captures(paypal, request) == []


def test_the_access_token_is_fetched_once(paypal_gateway: PayPalGateway, paypal: StandIn) -> None:
    for _ in range(2):
        paypal_gateway.charge(_request(_vaulted(paypal_gateway, paypal)))

    assert len(paypal.requests("POST", "/v1/oauth2/token")) == 1


def test_an_expired_access_token_is_renewed(paypal_gateway: PayPalGateway, paypal: StandIn) -> None:
    request = _request(_vaulted(paypal_gateway, paypal))
    paypal.delete("/_standin/tokens")

    outcome = paypal_gateway.charge(request)

    assert outcome.status is ChargeStatus.SUCCEEDED
    assert len(paypal.requests("POST", "/v1/oauth2/token")) == 2


def test_wrong_credentials_make_paypal_unavailable(paypal: StandIn) -> None:
    gateway = PayPalGateway("someone", "else", api_base=paypal.url, return_url="r", cancel_url="c")

    with pytest.raises(ProviderUnavailable):
        gateway.start_update(ACCOUNT, None)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def _answer_at_paypal(approval_url: str, answer: str) -> str:
    """The payer, in a browser, on PayPal's approval page: where PayPal sends them back."""
    with urllib.request.urlopen(approval_url, timeout=5) as page:
        html = page.read().decode()
    [action] = re.findall(r'<form method="post" action="([^"]+)"', html)
    form = urllib.parse.urlencode({"email": "ada@example.com", "answer": answer}).encode()
    opener = urllib.request.build_opener(_NoRedirects)
    origin = approval_url.split("/_standin/", 1)[0]
    with pytest.raises(urllib.error.HTTPError) as redirected:
        opener.open(origin + action, data=form, timeout=5)
    with redirected.value as sent_back:
        assert sent_back.code == 303
        return str(sent_back.headers["Location"])


def test_the_payer_approves_on_the_approval_page_and_is_sent_back(
    paypal_gateway: PayPalGateway,
) -> None:
    start = paypal_gateway.start_update(ACCOUNT, None)
    assert start.approval_url is not None

    back = urllib.parse.urlsplit(_answer_at_paypal(start.approval_url, "approve"))

    assert back._replace(query="").geturl() == "http://127.0.0.1:3000/paypal/return"
    query = urllib.parse.parse_qs(back.query)
    assert query["approval_token_id"] == [start.reference]
    assert query["approval_session_id"]
    method = paypal_gateway.save_payment_method(None, start.reference)
    assert method.paypal_email == "ada@example.com"


def test_a_payer_who_cancels_is_sent_to_the_cancel_page_and_nothing_is_approved(
    paypal_gateway: PayPalGateway,
) -> None:
    start = paypal_gateway.start_update(ACCOUNT, None)
    assert start.approval_url is not None

    back = _answer_at_paypal(start.approval_url, "cancel")

    assert back == "http://127.0.0.1:3000/paypal/cancel"
    with pytest.raises(PaymentMethodRejected):
        paypal_gateway.save_payment_method(None, start.reference)
