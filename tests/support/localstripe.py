"""localstripe through the official SDK, as the adapter reads Stripe: what a test checks
localstripe holds, beyond the requests it received, and what the customer's card form does there
(a SetupIntent confirmed, 3-D Secure passed or failed)."""

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


def card_setup(
    localstripe: StandIn, customer: str, payment_method: str, *, authenticate: bool = False
) -> str:
    """A SetupIntent of `customer` confirmed with `payment_method` (`confirm_setup`): what a
    card is saved from."""
    intent = stripe_client(localstripe).v1.setup_intents.create(
        params={"customer": customer, "usage": "off_session"}
    )
    return confirm_setup(localstripe, intent.id, payment_method, authenticate=authenticate).id


def declined_on_attach(localstripe: StandIn, setup_intent: str) -> None:
    """SetupIntent `setup_intent` succeeded with a card the issuer declines when it is attached.
    Stripe attaches the card as the setup succeeds, where a decline fails the setup; localstripe
    does not, and marks a declined setup succeeded when it is confirmed again without a card:
    how a test reaches the adapter's attach of a card the issuer declines."""
    confirm_setup(localstripe, setup_intent, "pm_card_visa_chargeDeclined")
    stripe_client(localstripe).v1.setup_intents.confirm(setup_intent)
