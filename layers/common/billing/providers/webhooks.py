"""The providers' webhooks verified and read: which payment or saved method an event is about.

An event's payload is never acted on: it names what changed, and the change is read again from
the provider (`PaymentGateway.payment`, `PaymentGateway.payment_method`), since deliveries can
be late, repeated or out of order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import stripe

from billing.domain.accounts import PaymentProvider
from billing.providers.gateway import InvalidSignature, ProviderEvent, WebhookTopic

STRIPE_SIGNATURE = "stripe-signature"

_STRIPE_PAYMENT_PREFIXES = ("payment_intent.", "charge.dispute.")
_STRIPE_REFUNDS = ("charge.refunded", "charge.refund.updated")
_STRIPE_METHODS = (
    "payment_method.updated",
    "payment_method.automatically_updated",
    "payment_method.detached",
)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _json(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidSignature(f"the body is not JSON: {error}") from error
    if not isinstance(parsed, dict):
        raise InvalidSignature("the body is not a JSON object")
    return parsed


class StripeWebhooks:
    """Stripe's ``Stripe-Signature`` checked with the endpoint's signing secret, and its
    timestamp against the product's clock."""

    provider = PaymentProvider.STRIPE

    def __init__(self, secret: str, *, clock: Callable[[], datetime], tolerance: int = 300) -> None:
        self._secret = secret
        self._clock = clock
        self._tolerance = tolerance

    def verify(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        header = _lower(headers).get(STRIPE_SIGNATURE)
        try:
            # No tolerance given to the SDK: it would compare `t=` with the wall clock, and the
            # product's clock is the local stack's (moved by developers, followed by
            # localstripe's signatures) off AWS. The age is checked below against ours.
            stripe.WebhookSignature.verify_header(body, header, self._secret, tolerance=None)
            signed_at = int(_stripe_timestamp(header or ""))
        except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as error:
            raise InvalidSignature(f"Stripe signature refused: {error}") from error
        age = self._clock().timestamp() - signed_at
        if age > self._tolerance:
            raise InvalidSignature(f"Stripe signature is {age:.0f}s old: a replay")
        return _stripe_event(_json(body))


def _stripe_timestamp(header: str) -> str:
    """The ``t=`` of a signature header the SDK has already accepted."""
    return next(part[2:] for part in header.split(",") if part.startswith("t="))


def _stripe_event(event: Mapping[str, Any]) -> ProviderEvent:
    try:
        kind, obj = str(event["type"]), event["data"]["object"]
        topic, reference = _stripe_subject(kind, obj)
        return ProviderEvent(
            provider=PaymentProvider.STRIPE,
            id=str(event["id"]),
            type=kind,
            created_at=datetime.fromtimestamp(int(event["created"]), UTC),
            topic=topic,
            reference=reference,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidSignature(f"not a Stripe event: {error!r}") from error


def _stripe_subject(kind: str, obj: Mapping[str, Any]) -> tuple[WebhookTopic | None, str | None]:
    """What a Stripe event is about. A dispute names its PaymentIntent (every dispute of a
    charge made through a PaymentIntent does); a charge made without one, which we never make,
    has none: such an event names no payment of ours and is recorded without a topic."""
    if kind.startswith("payment_intent."):
        return WebhookTopic.PAYMENT, str(obj["id"])
    if kind in _STRIPE_REFUNDS or kind.startswith("charge.dispute."):
        intent = _id_of(obj.get("payment_intent"))
        return (WebhookTopic.PAYMENT, intent) if intent else (None, None)
    if kind in _STRIPE_METHODS:
        return WebhookTopic.PAYMENT_METHOD, str(obj["id"])
    return None, None


def _id_of(value: object) -> str | None:
    """An id, or the id of an expanded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return str(value) if value else None


class PayPalVerifier(Protocol):
    """What `PayPalWebhooks` needs of the PayPal adapter (`PayPalGateway.verify_webhook`)."""

    def verify_webhook(
        self, headers: Mapping[str, str], event: Mapping[str, Any], webhook_id: str
    ) -> bool: ...


UNREGISTERED = "unregistered"
"""The webhook id before PayPal gave one (the template's default): no delivery can be ours."""


class PayPalWebhooks:
    """PayPal's transmission headers checked by PayPal itself (verify-webhook-signature), for
    the webhook id PayPal gave our endpoint. PayPal failing to answer raises
    ProviderUnavailable: the caller answers 503 and PayPal delivers the event again. Before an
    endpoint is registered, every delivery is refused without asking PayPal."""

    provider = PaymentProvider.PAYPAL

    def __init__(self, gateway: PayPalVerifier, webhook_id: str) -> None:
        self._gateway = gateway
        self._webhook_id = webhook_id

    def verify(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        if self._webhook_id == UNREGISTERED:
            raise InvalidSignature("no PayPal webhook is registered (PayPalWebhookId)")
        event = _json(body)
        if not self._gateway.verify_webhook(headers, event, self._webhook_id):
            raise InvalidSignature("PayPal did not confirm this delivery")
        return _paypal_event(event)


def _paypal_event(event: Mapping[str, Any]) -> ProviderEvent:
    try:
        kind, resource = str(event["event_type"]), event.get("resource") or {}
        topic, reference, account = _paypal_subject(kind, resource)
        return ProviderEvent(
            provider=PaymentProvider.PAYPAL,
            id=str(event["id"]),
            type=kind,
            created_at=datetime.fromisoformat(str(event["create_time"]))
            .astimezone(UTC)
            .replace(microsecond=0),
            topic=topic,
            reference=reference,
            account_id=account,
        )
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise InvalidSignature(f"not a PayPal event: {error!r}") from error


def _paypal_subject(
    kind: str, resource: Mapping[str, Any]
) -> tuple[WebhookTopic | None, str | None, str | None]:
    if kind == "PAYMENT.CAPTURE.REFUNDED":  # the resource is the refund: its capture is `up`
        up = [link["href"] for link in resource.get("links", []) if link.get("rel") == "up"]
        if not up:
            raise KeyError("a refund without its capture's link")
        return WebhookTopic.PAYMENT, str(up[0]).rstrip("/").rsplit("/", 1)[-1], None
    if kind.startswith("PAYMENT.CAPTURE."):
        return WebhookTopic.PAYMENT, str(resource["id"]), None
    if kind.startswith("CUSTOMER.DISPUTE."):
        capture = resource["disputed_transactions"][0]["seller_transaction_id"]
        return WebhookTopic.PAYMENT, str(capture), None
    if kind == "VAULT.PAYMENT-TOKEN.DELETED":
        customer = resource.get("customer") or {}
        return (
            WebhookTopic.PAYMENT_METHOD,
            str(resource["id"]),
            customer.get("merchant_customer_id"),
        )
    return None, None, None
