"""The PayPal adapter against the PayPal stand-in: approval and vaulting, charges, faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from billing.domain.accounts import Account, PaymentMethodKind
from billing.domain.charges import ChargeStatus
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.providers.gateway import (
    ChargeRequest,
    OutcomeUnknown,
    PaymentMethodRejected,
    ProviderUnavailable,
)
from billing.providers.paypal_gateway import PayPalGateway
from tests.support.sleeps import Sleeps
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


def test_a_wallet_not_yet_approved_is_rejected(paypal_gateway: PayPalGateway) -> None:
    start = paypal_gateway.start_update(ACCOUNT, None)

    with pytest.raises(PaymentMethodRejected) as rejected:
        paypal_gateway.save_payment_method(None, start.reference)

    assert rejected.value.reason is FailureReason.PAYMENT_METHOD_INVALID


def test_a_vaulted_wallet_is_charged_once_per_key(
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


def test_a_repeated_charge_takes_no_more_money(
    paypal_gateway: PayPalGateway, paypal: StandIn
) -> None:
    request = _request(_vaulted(paypal_gateway, paypal))

    first = paypal_gateway.charge(request)
    second = paypal_gateway.charge(request)

    assert first == second
    assert len(_captures(paypal, request)) == 1


@pytest.mark.parametrize(
    ("funding", "reason", "issue"),
    [
        ("declined", FailureReason.CARD_DECLINED, "INSTRUMENT_DECLINED"),
        ("insufficient_funds", FailureReason.INSUFFICIENT_FUNDS, "INSUFFICIENT_FUNDS"),
        ("cancelled", FailureReason.PAYMENT_METHOD_INVALID, "AGREEMENT_ALREADY_CANCELLED"),
    ],
)
def test_declines_land_on_their_reason(
    paypal_gateway: PayPalGateway, paypal: StandIn, funding: str, reason: FailureReason, issue: str
) -> None:
    request = _request(_vaulted(paypal_gateway, paypal, funding))

    outcome = paypal_gateway.charge(request)

    assert outcome.status is ChargeStatus.FAILED
    assert (outcome.failure_reason, outcome.provider_code) == (reason, issue)
    assert _captures(paypal, request) == []


def test_server_errors_are_retried(
    paypal_gateway: PayPalGateway, paypal: StandIn, sleeps: Sleeps
) -> None:
    request = _request(_vaulted(paypal_gateway, paypal))
    paypal.inject("POST", "/v2/checkout/orders/", status=500, times=2)

    outcome = paypal_gateway.charge(request)

    assert outcome.status is ChargeStatus.SUCCEEDED
    assert len(sleeps) == 2
    assert len(_captures(paypal, request)) == 1


def test_server_errors_that_persist_make_paypal_unavailable(
    paypal_gateway: PayPalGateway, paypal: StandIn
) -> None:
    request = _request(_vaulted(paypal_gateway, paypal))
    paypal.inject("POST", "/v2/checkout/orders/", status=503, times=3)

    with pytest.raises(ProviderUnavailable) as unavailable:
        paypal_gateway.charge(request)

    assert unavailable.value.maybe_processed
    assert paypal_gateway.find_charge(request, datetime.now(UTC)) is None


def test_a_timeout_is_unknown_and_the_capture_is_found_without_charging_again(
    paypal_gateway: PayPalGateway, paypal: StandIn
) -> None:
    request = _request(_vaulted(paypal_gateway, paypal))
    paypal.inject("POST", "/v2/checkout/orders/", delay=1.5, process_first=True)

    with pytest.raises(OutcomeUnknown):
        paypal_gateway.charge(request)
    found = paypal_gateway.find_charge(request, datetime.now(UTC))

    assert found is not None
    assert found.status is ChargeStatus.SUCCEEDED
    assert [c["id"] for c in _captures(paypal, request)] == [found.reference]


def test_a_charge_too_old_for_paypal_to_remember_is_not_looked_up(
    paypal_gateway: PayPalGateway, paypal: StandIn
) -> None:
    request = _request(_vaulted(paypal_gateway, paypal))

    with pytest.raises(OutcomeUnknown):
        paypal_gateway.find_charge(request, datetime.now(UTC) - timedelta(hours=6))


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
