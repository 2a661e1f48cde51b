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


def authenticate(localstripe: StandIn, reference: str, *, success: bool = True) -> Any:
    """The customer answers their bank's 3-D Secure challenge for PaymentIntent `reference`, as
    the page's Stripe.js does: with its client secret and the publishable key (localstripe's
    ``_authenticate``, standing for the bank's page)."""
    secret = stripe_client(localstripe).v1.payment_intents.retrieve(reference).client_secret
    return localstripe.post(
        f"/v1/payment_intents/{reference}/_authenticate",
        {"key": STRIPE_PUBLISHABLE_KEY, "client_secret": secret, "success": success},
    )
