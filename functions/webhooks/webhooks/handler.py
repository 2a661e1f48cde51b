"""POST /webhooks/stripe and POST /webhooks/paypal: public routes (the providers sign instead of
signing in) that accept an event only with a valid signature, record it once and answer at
once. A redelivered event is answered 200 too and changes nothing; a bad or missing signature
is a 400 and nothing is recorded; a PayPal that cannot verify now is a 503, so it delivers
again. Acting on the event is `webhooks.events`' work."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from billing.api.http import ANYONE, api_router, documented, entry_point, ok, requires
from billing.composition import root
from billing.domain.accounts import PaymentProvider
from billing.domain.errors import ErrorCode
from billing.observability import logger, publish

router = api_router()


class ReceivedView(BaseModel):
    """The provider only reads the status; the body says what became of the event."""

    id: str
    type: str
    duplicate: bool
    """True for a redelivery of an event already recorded: nothing was done again."""


_ANSWERS = documented(
    200,
    ReceivedView,
    ErrorCode.INVALID_SIGNATURE,
    ErrorCode.PROVIDER_UNAVAILABLE,
    ErrorCode.SERVICE_UNAVAILABLE,
    public=True,
)


@router.post("/webhooks/stripe", summary="Stripe's events (Stripe-Signature)", responses=_ANSWERS)
@requires(ANYONE)
def stripe() -> Response[Any]:
    return _received(PaymentProvider.STRIPE)


@router.post(
    "/webhooks/paypal",
    summary="PayPal's events (verified by PayPal's verify-webhook-signature)",
    responses=_ANSWERS,
)
@requires(ANYONE)
def paypal() -> Response[Any]:
    return _received(PaymentProvider.PAYPAL)


def _received(provider: PaymentProvider) -> Response[Any]:
    request = router.current_event
    assert isinstance(request, APIGatewayProxyEvent)
    body = request.decoded_body or ""
    event, new = root().webhook_receiver.receive(
        provider, dict(request.headers), body.encode("utf-8")
    )
    publish("WebhookEvents", 1, provider=provider.value, outcome="recorded" if new else "duplicate")
    logger.info(
        "webhook event received",
        extra={"provider": provider.value, "event_id": event.id, "type": event.type, "new": new},
    )
    return ok(ReceivedView(id=event.id, type=event.type, duplicate=not new))


lambda_handler = entry_point(router, charges=True)
