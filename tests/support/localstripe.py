"""localstripe read through the official SDK, as the adapter reads Stripe: what a test checks
localstripe holds, beyond the requests it received."""

from __future__ import annotations

import stripe

from tests.support.stand_ins import StandIn


def stripe_client(localstripe: StandIn) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_local", base_addresses={"api": localstripe.url}, max_network_retries=0
    )


def payment_intents(localstripe: StandIn, customer: str) -> list[stripe.PaymentIntent]:
    """Every PaymentIntent localstripe holds for `customer`, newest first."""
    listing = stripe_client(localstripe).v1.payment_intents.list(params={"customer": customer})
    return list(listing.auto_paging_iter())
