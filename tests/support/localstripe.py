"""localstripe read through the official SDK, as the adapter reads Stripe: what a test checks
localstripe holds, beyond the requests it received."""

from __future__ import annotations

from typing import Any

import stripe

from tests.support.stand_ins import STRIPE_PUBLISHABLE_KEY, StandIn


def stripe_client(localstripe: StandIn) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_local", base_addresses={"api": localstripe.url}, max_network_retries=0
    )


def payment_intents(localstripe: StandIn, customer: str) -> list[stripe.PaymentIntent]:
    """Every PaymentIntent localstripe holds for `customer`, newest first."""
    listing = stripe_client(localstripe).v1.payment_intents.list(params={"customer": customer})
    return list(listing.auto_paging_iter())


def authenticate(localstripe: StandIn, client_secret: str, *, success: bool = True) -> Any:
    """The customer answers their bank's 3-D Secure challenge for the PaymentIntent whose
    client secret the page was given, as Stripe.js does: with that secret (which names the
    PaymentIntent) and the publishable key, at localstripe's ``_authenticate`` (standing for
    the bank's page)."""
    intent = client_secret.split("_secret_", maxsplit=1)[0]
    return localstripe.post(
        f"/v1/payment_intents/{intent}/_authenticate",
        {"key": STRIPE_PUBLISHABLE_KEY, "client_secret": client_secret, "success": success},
    )
