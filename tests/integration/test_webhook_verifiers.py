"""The webhook verifiers on real deliveries: localstripe and the PayPal stand-in send their events
to a receiver on loopback, and what arrived is verified and read as a `ProviderEvent` (what it
is about, by identifiers); a forged signature, an old one (by the product's clock), a missing
header or an altered body is InvalidSignature, and PayPal unable to answer is PayPal
unavailable."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
import stripe

from billing.domain.accounts import Account, PaymentProvider
from billing.domain.money import Currency, Money
from billing.providers.configured import webhook_verifiers
from billing.providers.gateway import (
    ChargeRequest,
    InvalidSignature,
    ProviderUnavailable,
    WebhookTopic,
    WebhookVerifier,
)
from billing.providers.paypal_gateway import PayPalGateway
from billing.providers.stripe_gateway import StripeGateway
from billing.providers.webhooks import UNREGISTERED, PayPalWebhooks, StripeWebhooks
from billing.settings import ProviderSettings, WebhookSettings
from tests.support.localstripe import card_setup, stripe_client
from tests.support.stand_ins import StandIn, provider_environment
from tests.support.webhooks import (
    Delivery,
    Receiver,
    of_type,
    paypal_webhook,
    receiving,
    stripe_endpoint,
)

SECRET = "whsec_verifier_test"
TOLERANCE = 300


def _wall() -> datetime:
    return datetime.now(UTC)


def _refused(verifier: WebhookVerifier, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether `verifier` refuses the delivery as InvalidSignature."""
    try:
        verifier.verify(headers, body)
    except InvalidSignature:
        return True
    return False


# --- Stripe ---


@pytest.fixture
def stripe_receiver(localstripe: StandIn) -> Iterator[Receiver]:
    with receiving() as receiver, stripe_endpoint(localstripe, receiver, SECRET):
        yield receiver


@pytest.fixture
def intent(
    stripe_gateway: StripeGateway, localstripe: StandIn, stripe_receiver: Receiver
) -> stripe.PaymentIntent:
    """A PaymentIntent paid with the card Stripe's test mode disputes, once `stripe_receiver`
    takes its events."""
    customer = stripe_gateway.create_customer(
        Account(id=f"acct_{uuid4().hex[:8]}", email="a@example.com")
    )
    method = stripe_gateway.save_payment_method(
        customer, card_setup(localstripe, customer, "pm_card_createDispute")
    )
    return stripe_client(localstripe).v1.payment_intents.create(
        params={
            "amount": 4900,
            "currency": "eur",
            "customer": customer,
            "payment_method": method.token,
            "off_session": True,
            "confirm": True,
        }
    )


def _stripe(clock: datetime | None = None) -> StripeWebhooks:
    return StripeWebhooks(SECRET, clock=(lambda: clock) if clock else _wall, tolerance=TOLERANCE)


def test_stripe_payment_events_name_their_payment_intent(
    intent: stripe.PaymentIntent, localstripe: StandIn, stripe_receiver: Receiver
) -> None:
    succeeded = stripe_receiver.wait_for(of_type("payment_intent.succeeded", id=intent.id))
    disputed = stripe_receiver.wait_for(of_type("charge.dispute.created", payment_intent=intent.id))

    events = [_stripe().verify(d.headers, d.body) for d in [*succeeded, *disputed]]

    assert [(e.type, e.topic, e.reference) for e in events] == [
        ("payment_intent.succeeded", WebhookTopic.PAYMENT, intent.id),
        ("charge.dispute.created", WebhookTopic.PAYMENT, intent.id),
    ]
    assert all(e.provider is PaymentProvider.STRIPE and e.id.startswith("evt_") for e in events)
    assert events[0].created_at == datetime.fromtimestamp(intent.created, UTC)


def test_a_stripe_refund_names_the_payment_intent(
    stripe_gateway: StripeGateway, localstripe: StandIn, stripe_receiver: Receiver
) -> None:
    customer = stripe_gateway.create_customer(Account(id="acct_refunds", email="a@example.com"))
    token = stripe_gateway.save_payment_method(
        customer, card_setup(localstripe, customer, "pm_card_visa")
    ).token
    outcome = stripe_gateway.charge(
        ChargeRequest(
            "sub_1.c1.a1." + uuid4().hex[:6], Money(900, Currency.EUR), token, customer, "d"
        )
    )
    assert outcome.reference is not None
    stripe_gateway.refund(outcome.reference, Money(100, Currency.EUR), "refund." + uuid4().hex)
    [delivery] = stripe_receiver.wait_for(
        of_type("charge.refunded", payment_intent=outcome.reference)
    )

    event = _stripe().verify(delivery.headers, delivery.body)

    assert (event.topic, event.reference) == (WebhookTopic.PAYMENT, outcome.reference)


def test_a_stripe_card_update_names_the_payment_method(
    stripe_gateway: StripeGateway, localstripe: StandIn, stripe_receiver: Receiver
) -> None:
    customer = stripe_gateway.create_customer(Account(id="acct_updater", email="a@example.com"))
    token = stripe_gateway.save_payment_method(
        customer, card_setup(localstripe, customer, "pm_card_visa")
    ).token
    localstripe.post(
        f"/_config/payment_methods/{token}/automatic_update",
        {"last4": "1881", "exp_month": 1, "exp_year": 2031},
    )
    [delivery] = stripe_receiver.wait_for(of_type("payment_method.automatically_updated", id=token))
    [created] = stripe_receiver.wait_for(of_type("customer.created", id=customer))

    event = _stripe().verify(delivery.headers, delivery.body)
    other = _stripe().verify(created.headers, created.body)

    assert (event.topic, event.reference) == (WebhookTopic.PAYMENT_METHOD, token)
    assert (other.topic, other.reference) == (None, None), "recorded, not acted on"


def _one_stripe_delivery(receiver: Receiver, intent: stripe.PaymentIntent) -> Delivery:
    [delivery] = receiver.wait_for(of_type("payment_intent.succeeded", id=intent.id))
    return delivery


def test_stripe_headers_are_read_without_regard_to_case(
    intent: stripe.PaymentIntent, stripe_receiver: Receiver
) -> None:
    delivery = _one_stripe_delivery(stripe_receiver, intent)
    signature = delivery.headers["Stripe-Signature"]

    for name in ("stripe-signature", "STRIPE-SIGNATURE"):
        assert _stripe().verify({name: signature}, delivery.body).reference == intent.id


def test_an_old_stripe_signature_is_a_replay_by_the_products_clock(
    intent: stripe.PaymentIntent, stripe_receiver: Receiver
) -> None:
    delivery = _one_stripe_delivery(stripe_receiver, intent)
    signed_at = datetime.fromtimestamp(delivery.event["created"], UTC)

    accepted = _stripe(signed_at + timedelta(seconds=TOLERANCE)).verify(
        delivery.headers, delivery.body
    )
    with pytest.raises(InvalidSignature):
        _stripe(signed_at + timedelta(seconds=TOLERANCE + 1)).verify(
            delivery.headers, delivery.body
        )

    assert accepted.reference == intent.id


def test_forged_missing_or_altered_stripe_deliveries_are_refused(
    intent: stripe.PaymentIntent, stripe_receiver: Receiver
) -> None:
    delivery = _one_stripe_delivery(stripe_receiver, intent)
    header = delivery.headers["Stripe-Signature"]
    timestamp = delivery.event["created"]
    forged = stripe.WebhookSignature.generate_signature_header(
        delivery.body.decode(), "whsec_someone_else", timestamp
    )
    not_json = b"{not json"
    signed_garbage = stripe.WebhookSignature.generate_signature_header(
        not_json.decode(), SECRET, timestamp
    )
    cases = {
        "forged": ({"Stripe-Signature": forged}, delivery.body),
        "missing": ({}, delivery.body),
        "malformed header": ({"Stripe-Signature": "v1=abc"}, delivery.body),
        "altered": ({"Stripe-Signature": header}, delivery.body.replace(b"4900", b"4901")),
        "not JSON": ({"Stripe-Signature": signed_garbage}, not_json),
    }

    refused = {case: _refused(_stripe(), *delivery) for case, delivery in cases.items()}

    assert refused == dict.fromkeys(cases, True)


# --- PayPal ---


@pytest.fixture
def paypal_receiver(paypal: StandIn) -> Iterator[tuple[Receiver, str]]:
    with receiving() as receiver, paypal_webhook(paypal, receiver) as webhook_id:
        yield receiver, webhook_id


def _capture(gateway: PayPalGateway, paypal: StandIn, account: Account) -> tuple[str, str]:
    """A capture of a wallet `account` saved: the capture id and the vault token."""
    start = gateway.start_update(account, None)
    assert start.approval_url is not None
    paypal.post(start.approval_url.removeprefix(paypal.url), {"email": "ada@example.com"})
    token = gateway.save_payment_method(None, start.reference).token
    request = ChargeRequest(
        "sub_1.c1.a1." + uuid4().hex[:6], Money(2990, Currency.USD), token, None, "basic"
    )
    outcome = gateway.charge(request)
    assert outcome.reference is not None
    return outcome.reference, token


def test_paypal_events_name_their_capture_or_token(
    paypal_gateway: PayPalGateway, paypal: StandIn, paypal_receiver: tuple[Receiver, str]
) -> None:
    receiver, webhook_id = paypal_receiver
    account = Account(id=f"acct_{uuid4().hex[:8]}", email="ada@example.com")
    capture, token = _capture(paypal_gateway, paypal, account)
    paypal_gateway.refund(capture, Money(100, Currency.USD), "refund." + uuid4().hex)
    paypal.post(f"/_standin/captures/{capture}/dispute", {})
    paypal.post(f"/_standin/payment-tokens/{token}/revoke", {})
    deliveries = [
        *receiver.wait_for(of_type("PAYMENT.CAPTURE.COMPLETED", id=capture)),
        *receiver.wait_for(of_type("PAYMENT.CAPTURE.REFUNDED")),
        *receiver.wait_for(of_type("CUSTOMER.DISPUTE.CREATED")),
        *receiver.wait_for(of_type("VAULT.PAYMENT-TOKEN.DELETED", id=token)),
    ]
    verifier = PayPalWebhooks(paypal_gateway, webhook_id)

    events = [verifier.verify(d.headers, d.body) for d in deliveries]

    assert [(e.type, e.topic, e.reference, e.account_id) for e in events] == [
        ("PAYMENT.CAPTURE.COMPLETED", WebhookTopic.PAYMENT, capture, None),
        ("PAYMENT.CAPTURE.REFUNDED", WebhookTopic.PAYMENT, capture, None),
        ("CUSTOMER.DISPUTE.CREATED", WebhookTopic.PAYMENT, capture, None),
        ("VAULT.PAYMENT-TOKEN.DELETED", WebhookTopic.PAYMENT_METHOD, token, account.id),
    ]
    assert all(e.provider is PaymentProvider.PAYPAL and e.id.startswith("WH-") for e in events)
    assert all(e.created_at.tzinfo is UTC for e in events)


def _one_paypal_delivery(gateway: PayPalGateway, paypal: StandIn, receiver: Receiver) -> Delivery:
    account = Account(id=f"acct_{uuid4().hex[:8]}", email="ada@example.com")
    capture, _ = _capture(gateway, paypal, account)
    [delivery] = receiver.wait_for(of_type("PAYMENT.CAPTURE.COMPLETED", id=capture))
    return delivery


def test_forged_missing_altered_or_misdirected_paypal_deliveries_are_refused(
    paypal_gateway: PayPalGateway, paypal: StandIn, paypal_receiver: tuple[Receiver, str]
) -> None:
    receiver, webhook_id = paypal_receiver
    delivery = _one_paypal_delivery(paypal_gateway, paypal, receiver)
    verifier = PayPalWebhooks(paypal_gateway, webhook_id)
    without_signature = {
        k: v for k, v in delivery.headers.items() if k.upper() != "PAYPAL-TRANSMISSION-SIG"
    }
    cases = {
        "forged": (delivery.headers | {"PAYPAL-TRANSMISSION-SIG": "Zm9yZ2Vk"}, delivery.body),
        "missing header": (without_signature, delivery.body),
        "altered": (delivery.headers, delivery.body.replace(b"29.90", b"2.99")),
        "not JSON": (delivery.headers, b"{not json"),
    }

    refused = {case: _refused(verifier, *delivery) for case, delivery in cases.items()}
    misdirected = PayPalWebhooks(paypal_gateway, "0EH40505U7160970P")

    assert refused == dict.fromkeys(cases, True)
    assert _refused(misdirected, delivery.headers, delivery.body)
    lower = {name.lower(): value for name, value in delivery.headers.items()}
    assert verifier.verify(lower, delivery.body).type == "PAYMENT.CAPTURE.COMPLETED"


def test_paypal_unable_to_verify_is_paypal_unavailable(
    paypal_gateway: PayPalGateway, paypal: StandIn, paypal_receiver: tuple[Receiver, str]
) -> None:
    receiver, webhook_id = paypal_receiver
    delivery = _one_paypal_delivery(paypal_gateway, paypal, receiver)
    paypal.inject("POST", "/v1/notifications/verify-webhook-signature", status=503, times=3)

    with pytest.raises(ProviderUnavailable):
        PayPalWebhooks(paypal_gateway, webhook_id).verify(delivery.headers, delivery.body)


# --- configuration ---


def test_the_configured_verifiers_use_the_signing_secret_and_the_webhook_id(
    localstripe: StandIn, paypal: StandIn
) -> None:
    environment = provider_environment(localstripe, paypal) | {
        "WEBHOOK_EVENTS_TABLE": "webhook-events",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "PAYPAL_WEBHOOK_ID": "WH-ID-1",
    }

    verifiers = webhook_verifiers(
        ProviderSettings.from_environment(environment),
        WebhookSettings.from_environment(environment),
        _wall,
    )

    assert set(verifiers) == {PaymentProvider.STRIPE, PaymentProvider.PAYPAL}
    body = b'{"id": "evt_1", "type": "payment_intent.succeeded", "created": 1,'
    body += b' "data": {"object": {"id": "pi_1"}}}'
    now = int(_wall().timestamp())
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET, now)
    event = verifiers[PaymentProvider.STRIPE].verify({"Stripe-Signature": header}, body)
    assert (event.id, event.reference) == ("evt_1", "pi_1")


def test_before_an_endpoint_is_registered_paypal_deliveries_are_refused_unasked() -> None:
    class NeverAsked:
        def verify_webhook(self, headers: Any, event: Any, webhook_id: str) -> bool:
            raise AssertionError("PayPal was asked to verify for no registered webhook")

    verifier = PayPalWebhooks(NeverAsked(), UNREGISTERED)

    with pytest.raises(InvalidSignature, match="no PayPal webhook is registered"):
        verifier.verify({"PAYPAL-TRANSMISSION-ID": "x"}, b'{"id": "WH-1"}')
