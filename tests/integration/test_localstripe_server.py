"""What localstripe_server adds to localstripe answers as Stripe documents it, read through the
official SDK: the charge lookup relies on listing every PaymentIntent of a customer."""

from __future__ import annotations

from uuid import uuid4

import stripe

from billing.domain.accounts import Account
from billing.providers.stripe_gateway import StripeGateway
from tests.support.localstripe import stripe_client
from tests.support.stand_ins import StandIn


def _charged(
    gateway: StripeGateway, client: stripe.StripeClient, charges: int
) -> tuple[str, list[str]]:
    """A new customer charged `charges` times in a row: its id and its PaymentIntents' ids,
    oldest first. They come within a second or two: several share their `created` second."""
    customer = gateway.create_customer(Account(id=f"acct_{uuid4().hex[:8]}", email="a@example.com"))
    method = gateway.save_payment_method(customer, "pm_card_visa")
    return customer, [
        client.v1.payment_intents.create(
            params={
                "amount": 4900,
                "currency": "eur",
                "customer": customer,
                "payment_method": method.token,
                "off_session": True,
                "confirm": True,
            }
        ).id
        for _ in range(charges)
    ]


def test_a_customers_payment_intents_are_listed_newest_first_page_by_page(
    stripe_gateway: StripeGateway, localstripe: StandIn
) -> None:
    client = stripe_client(localstripe)
    customer, made = _charged(stripe_gateway, client, 5)
    _charged(stripe_gateway, client, 1)  # another customer's: never listed

    listing = client.v1.payment_intents.list(params={"customer": customer, "limit": 2})

    assert [intent.id for intent in listing.data] == made[::-1][:2]
    assert listing.has_more
    assert [intent.id for intent in listing.auto_paging_iter()] == made[::-1]
    assert len(localstripe.requests("GET", "/v1/payment_intents")) == 3  # pages of 2, 2 and 1
