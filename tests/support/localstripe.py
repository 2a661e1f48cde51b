"""localstripe through the official SDK, as the adapter reads Stripe: what a test checks
localstripe holds, beyond the requests it received, and what the customer's card form does there
(a SetupIntent confirmed, 3-D Secure passed or failed)."""

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


def confirm_setup(
    localstripe: StandIn, setup_intent: str, payment_method: str, *, authenticate: bool = False
) -> stripe.SetupIntent:
    """What the card form does (Stripe.js `confirmCardSetup`): SetupIntent `setup_intent`
    confirmed with `payment_method`, and the bank's 3-D Secure check passed when the card asks
    for one and the customer does (`authenticate`). A card the bank declines leaves the setup
    unfinished (localstripe cancels it); the form shows the customer the decline."""
    client = stripe_client(localstripe)
    try:
        intent = client.v1.setup_intents.confirm(
            setup_intent, params={"payment_method": payment_method}
        )
    except stripe.CardError:
        return client.v1.setup_intents.retrieve(setup_intent)
    if authenticate and intent.status == "requires_action":
        return authenticate_setup(localstripe, setup_intent)
    return intent


def authenticate_setup(
    localstripe: StandIn, setup_intent: str, *, success: bool = True
) -> stripe.SetupIntent:
    """The customer passes (or fails) the bank's 3-D Secure check of SetupIntent
    `setup_intent`."""
    client = stripe_client(localstripe)
    intent = client.v1.setup_intents.retrieve(setup_intent)
    answer = client.raw_request(
        "post",
        f"/v1/setup_intents/{intent.id}/_authenticate",
        client_secret=intent.client_secret,
        success=success,
    )
    authenticated = client.deserialize(answer, api_mode="V1")
    assert isinstance(authenticated, stripe.SetupIntent)
    return authenticated
