"""What the PayPal stand-in does after a capture, as PayPal documents it, and the webhook events it
sends for it: captures held for review and then completed or denied, refunds (never more than
what is left), disputes, saved wallets deleted or revoked; every delivery in PayPal's envelope
and transmission headers, confirmed by verify-webhook-signature only as it was sent."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from uuid import uuid4

import pytest

from billing.domain.accounts import Account
from billing.domain.charges import ChargeStatus
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.providers.gateway import ChargeRequest
from billing.providers.paypal_gateway import PayPalGateway
from devstack.clock import StackClock
from devstack.paypal_stand_in import CLIENT_ID, CLIENT_SECRET
from tests.support.paypal import PayPalAnswered, paypal_api
from tests.support.stand_ins import StandIn, listening
from tests.support.webhooks import Delivery, Receiver, of_type, paypal_webhook, receiving
from tests.unit.devstack.test_clock import START

PRICE = Money(2990, Currency.USD)
HEADERS = (
    "PAYPAL-TRANSMISSION-ID",
    "PAYPAL-TRANSMISSION-TIME",
    "PAYPAL-TRANSMISSION-SIG",
    "PAYPAL-CERT-URL",
    "PAYPAL-AUTH-ALGO",
)


@pytest.fixture
def webhook(paypal: StandIn) -> Iterator[tuple[Receiver, str]]:
    """A receiver registered at the stand-in for every event, and its webhook id."""
    with receiving() as receiver, paypal_webhook(paypal, receiver) as webhook_id:
        yield receiver, webhook_id


def _vaulted(gateway: PayPalGateway, paypal: StandIn, funding: str = "ok") -> str:
    account = Account(id=f"acct_{uuid4().hex[:8]}", email="ada@example.com")
    start = gateway.start_update(account, None)
    assert start.approval_url is not None
    paypal.post(
        start.approval_url.removeprefix(paypal.url),
        {"email": "ada@example.com", "funding": funding},
    )
    return gateway.save_payment_method(None, start.reference).token


def _captured(gateway: PayPalGateway, paypal: StandIn, funding: str = "ok") -> str:
    request = ChargeRequest(
        key=f"sub_{uuid4().hex[:8]}.c00001.a001",
        amount=PRICE,
        payment_method=_vaulted(gateway, paypal, funding),
        customer=None,
        description="basic, 1 month(s), period 1",
    )
    outcome = gateway.charge(request)
    assert outcome.reference is not None
    return outcome.reference


def _verify(paypal: StandIn, delivery: Delivery, webhook_id: str, **changes: Any) -> str:
    """verify-webhook-signature's answer for `delivery`, as a merchant posts it (the event
    parsed), with `changes` to the fields posted."""
    headers = {name.lower(): value for name, value in delivery.headers.items()}
    body = {
        "auth_algo": headers["paypal-auth-algo"],
        "cert_url": headers["paypal-cert-url"],
        "transmission_id": headers["paypal-transmission-id"],
        "transmission_sig": headers["paypal-transmission-sig"],
        "transmission_time": headers["paypal-transmission-time"],
        "webhook_id": webhook_id,
        "webhook_event": delivery.event,
    } | changes
    answer = paypal_api(paypal, "POST", "/v1/notifications/verify-webhook-signature", body)
    return str(answer["verification_status"])


# --- webhooks ---


def test_a_webhook_is_registered_and_listed(paypal: StandIn) -> None:
    with receiving() as receiver, paypal_webhook(paypal, receiver) as webhook_id:
        listed = paypal_api(paypal, "GET", "/v1/notifications/webhooks")["webhooks"]

        assert {"id": webhook_id, "url": receiver.url, "event_types": [{"name": "*"}]}.items() <= (
            next(w for w in listed if w["id"] == webhook_id).items()
        )
    after = paypal_api(paypal, "GET", "/v1/notifications/webhooks")["webhooks"]
    assert webhook_id not in [w["id"] for w in after]


def test_a_delivery_is_paypals_envelope_with_its_transmission_headers(
    paypal_gateway: PayPalGateway, paypal: StandIn, webhook: tuple[Receiver, str]
) -> None:
    receiver, webhook_id = webhook

    capture = _captured(paypal_gateway, paypal)

    [delivery] = receiver.wait_for(of_type("PAYMENT.CAPTURE.COMPLETED", id=capture))
    event = delivery.event
    assert event["id"].startswith("WH-")
    assert (event["event_version"], event["resource_version"]) == ("1.0", "2.0")
    assert (event["resource_type"], event["summary"]) == ("capture", event["summary"] or None)
    assert event["resource"]["supplementary_data"]["related_ids"]["order_id"]
    assert all(delivery.headers.get(name) for name in HEADERS)
    assert delivery.headers["PAYPAL-AUTH-ALGO"] == "SHA256withRSA"
    assert delivery.headers["PAYPAL-CERT-URL"].startswith(paypal.url + "/")
    assert _verify(paypal, delivery, webhook_id) == "SUCCESS"


def test_verification_fails_for_a_forged_altered_or_misdirected_delivery(
    paypal_gateway: PayPalGateway, paypal: StandIn, webhook: tuple[Receiver, str]
) -> None:
    receiver, webhook_id = webhook
    capture = _captured(paypal_gateway, paypal)
    [delivery] = receiver.wait_for(of_type("PAYMENT.CAPTURE.COMPLETED", id=capture))
    altered = delivery.event | {"event_type": "PAYMENT.CAPTURE.REFUNDED"}

    answers = {
        "forged": _verify(paypal, delivery, webhook_id, transmission_sig="c2lnbmVk"),
        "altered": _verify(paypal, delivery, webhook_id, webhook_event=altered),
        "other webhook": _verify(paypal, delivery, "0EH40505U7160970P"),
        "other time": _verify(paypal, delivery, webhook_id, transmission_time=START.isoformat()),
        "unknown transmission": _verify(paypal, delivery, webhook_id, transmission_id="x-1"),
    }

    assert answers == dict.fromkeys(answers, "FAILURE")
    assert _verify(paypal, delivery, webhook_id) == "SUCCESS"


def test_verification_is_an_authenticated_call(paypal: StandIn) -> None:
    with pytest.raises(HTTPError) as refused:
        paypal.post("/v1/notifications/verify-webhook-signature", {"webhook_id": "x"})

    with refused.value:
        assert refused.value.code == 401


# --- captures ---


@pytest.mark.parametrize(
    ("route", "status", "event"),
    [
        ("complete", "COMPLETED", "PAYMENT.CAPTURE.COMPLETED"),
        ("deny", "DECLINED", "PAYMENT.CAPTURE.DENIED"),
    ],
)
def test_a_capture_held_for_review_ends_completed_or_denied(
    paypal_gateway: PayPalGateway,
    paypal: StandIn,
    webhook: tuple[Receiver, str],
    route: str,
    status: str,
    event: str,
) -> None:
    receiver, _ = webhook
    capture = _captured(paypal_gateway, paypal, "pending")
    held = paypal_api(paypal, "GET", f"/v2/payments/captures/{capture}")

    paypal.post(f"/_standin/captures/{capture}/{route}", {})

    assert (held["status"], held["status_details"]) == ("PENDING", {"reason": "PENDING_REVIEW"})
    receiver.wait_for(of_type("PAYMENT.CAPTURE.PENDING", id=capture))
    [ended] = receiver.wait_for(of_type(event, id=capture))
    assert ended.event["resource"]["status"] == status
    assert paypal_api(paypal, "GET", f"/v2/payments/captures/{capture}")["status"] == status


def test_a_capture_reads_back_with_its_order_and_links(
    paypal_gateway: PayPalGateway, paypal: StandIn
) -> None:
    capture_id = _captured(paypal_gateway, paypal)

    capture = paypal_api(paypal, "GET", f"/v2/payments/captures/{capture_id}")

    order_id = capture["supplementary_data"]["related_ids"]["order_id"]
    assert capture["amount"] == {"currency_code": "USD", "value": "29.90"}
    assert capture["custom_id"] == capture["invoice_id"]
    links = {link["rel"]: link["href"] for link in capture["links"]}
    assert links["up"].endswith(f"/v2/checkout/orders/{order_id}")
    assert links["refund"].endswith(f"/v2/payments/captures/{capture_id}/refund")


# --- refunds ---


def test_refunds_until_nothing_is_left(
    paypal_gateway: PayPalGateway, paypal: StandIn, webhook: tuple[Receiver, str]
) -> None:
    receiver, _ = webhook
    capture_id = _captured(paypal_gateway, paypal)
    path = f"/v2/payments/captures/{capture_id}/refund"

    partial = paypal_api(
        paypal,
        "POST",
        path,
        {"amount": {"value": "10.00", "currency_code": "USD"}, "invoice_id": "r1"},
    )
    after_partial = paypal_api(paypal, "GET", f"/v2/payments/captures/{capture_id}")["status"]
    with pytest.raises(PayPalAnswered) as exceeded:
        paypal_api(paypal, "POST", path, {"amount": {"value": "19.91", "currency_code": "USD"}})
    rest = paypal_api(paypal, "POST", path, {})

    assert (partial["status"], partial["amount"]["value"], partial["invoice_id"]) == (
        "COMPLETED",
        "10.00",
        "r1",
    )
    assert after_partial == "PARTIALLY_REFUNDED"
    assert exceeded.value.status == 422
    assert exceeded.value.body["details"][0]["issue"] == "REFUND_AMOUNT_EXCEEDED"
    assert rest["amount"]["value"] == "19.90"
    capture = paypal_api(paypal, "GET", f"/v2/payments/captures/{capture_id}")
    assert capture["status"] == "REFUNDED"
    order = paypal_api(
        paypal,
        "GET",
        f"/v2/checkout/orders/{capture['supplementary_data']['related_ids']['order_id']}",
    )
    assert [r["id"] for r in order["purchase_units"][0]["payments"]["refunds"]] == [
        partial["id"],
        rest["id"],
    ]
    assert paypal_api(paypal, "GET", f"/v2/payments/refunds/{partial['id']}") == partial
    [delivery] = receiver.wait_for(of_type("PAYMENT.CAPTURE.REFUNDED", id=partial["id"]))
    up = [link["href"] for link in delivery.event["resource"]["links"] if link["rel"] == "up"]
    assert up == [f"{paypal.url}/v2/payments/captures/{capture_id}"]


# --- disputes ---


def test_a_dispute_resolved_for_the_buyer_reverses_the_capture(
    paypal_gateway: PayPalGateway, paypal: StandIn, webhook: tuple[Receiver, str]
) -> None:
    receiver, _ = webhook
    capture_id = _captured(paypal_gateway, paypal)

    opened = paypal.post(
        f"/_standin/captures/{capture_id}/dispute",
        {"reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED"},
    )
    listed = paypal_api(
        paypal, "GET", f"/v1/customer/disputes?disputed_transaction_id={capture_id}"
    )
    paypal.post(
        f"/_standin/disputes/{opened['dispute_id']}/resolve", {"outcome": "RESOLVED_BUYER_FAVOUR"}
    )

    assert opened["dispute_id"].startswith("PP-D-")
    assert (opened["status"], opened["dispute_amount"]) == (
        "OPEN",
        {"currency_code": "USD", "value": "29.90"},
    )
    assert opened["disputed_transactions"][0]["seller_transaction_id"] == capture_id
    assert [d["dispute_id"] for d in listed["items"]] == [opened["dispute_id"]]
    resolved = paypal_api(paypal, "GET", f"/v1/customer/disputes/{opened['dispute_id']}")
    assert resolved["status"] == "RESOLVED"
    assert resolved["dispute_outcome"]["outcome_code"] == "RESOLVED_BUYER_FAVOUR"
    assert paypal_api(paypal, "GET", f"/v2/payments/captures/{capture_id}")["status"] == "REVERSED"
    receiver.wait_for(of_type("CUSTOMER.DISPUTE.CREATED", dispute_id=opened["dispute_id"]))
    receiver.wait_for(of_type("CUSTOMER.DISPUTE.RESOLVED", dispute_id=opened["dispute_id"]))
    receiver.wait_for(of_type("PAYMENT.CAPTURE.REVERSED", id=capture_id))


# --- saved wallets ---


@pytest.mark.parametrize("removal", ["deleted by the merchant", "revoked by the payer"])
def test_a_removed_wallet_is_gone_and_cannot_be_charged(
    paypal_gateway: PayPalGateway, paypal: StandIn, webhook: tuple[Receiver, str], removal: str
) -> None:
    receiver, _ = webhook
    account = Account(id=f"acct_{uuid4().hex[:8]}", email="ada@example.com")
    start = paypal_gateway.start_update(account, None)
    assert start.approval_url is not None
    paypal.post(start.approval_url.removeprefix(paypal.url), {"email": "ada@example.com"})
    token = paypal_gateway.save_payment_method(None, start.reference).token
    saved = paypal_api(paypal, "GET", f"/v3/vault/payment-tokens/{token}")

    if removal == "deleted by the merchant":
        paypal_api(paypal, "DELETE", f"/v3/vault/payment-tokens/{token}")
    else:
        paypal.post(f"/_standin/payment-tokens/{token}/revoke", {})

    assert saved["customer"]["merchant_customer_id"] == account.id
    [deleted] = receiver.wait_for(of_type("VAULT.PAYMENT-TOKEN.DELETED", id=token))
    assert deleted.event["resource"]["customer"]["merchant_customer_id"] == account.id
    with pytest.raises(PayPalAnswered) as gone:
        paypal_api(paypal, "GET", f"/v3/vault/payment-tokens/{token}")
    assert gone.value.status == 404
    outcome = paypal_gateway.charge(
        ChargeRequest(
            key=f"sub_{uuid4().hex[:8]}.c00001.a001",
            amount=PRICE,
            payment_method=token,
            customer=None,
            description="basic, 1 month(s), period 1",
        )
    )
    assert (outcome.status, outcome.failure_reason, outcome.provider_code) == (
        ChargeStatus.FAILED,
        FailureReason.PAYMENT_METHOD_INVALID,
        "INVALID_RESOURCE_ID",
    )


# --- the clock ---


def test_events_and_transmissions_are_at_the_stacks_instant(tmp_path: Path) -> None:
    clock = StackClock(START, file=tmp_path / "clock")
    command = [
        sys.executable,
        "-m",
        "devstack.paypal_stand_in",
        "--clock-file",
        str(tmp_path / "clock"),
    ]
    with listening(lambda port: [*command, "--port", str(port)]) as port, receiving() as receiver:
        paypal = StandIn(f"http://127.0.0.1:{port}", "/_standin")
        gateway = PayPalGateway(
            CLIENT_ID, CLIENT_SECRET, api_base=paypal.url, return_url="r", cancel_url="c"
        )
        with paypal_webhook(paypal, receiver):
            clock.advance(timedelta(days=40))
            capture = _captured(gateway, paypal)
            [delivery] = receiver.wait_for(of_type("PAYMENT.CAPTURE.COMPLETED", id=capture))

    assert delivery.event["create_time"] == "2026-03-12T09:30:00Z"
    assert delivery.headers["PAYPAL-TRANSMISSION-TIME"] == "2026-03-12T09:30:00Z"
    assert delivery.event["resource"]["create_time"] == "2026-03-12T09:30:00Z"
