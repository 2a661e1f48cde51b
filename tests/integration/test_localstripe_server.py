"""What localstripe_server adds to localstripe answers as Stripe documents it, read through the
official SDK: the charge lookup relies on listing every PaymentIntent of a customer; a card set up
with 3-D Secure waits for the customer's check, passed or failed; refunds, disputes and card
updates behave as Stripe's and send Stripe's events, signed as Stripe signs them (checked by the
SDK) and at the stand-in's clock, to a receiver on loopback."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
import stripe

from billing.domain.accounts import Account
from billing.providers.stripe_gateway import StripeGateway
from devstack.clock import StackClock
from tests.support.localstripe import authenticate_setup, card_setup, stripe_client
from tests.support.stand_ins import STRIPE_PUBLISHABLE_KEY, StandIn, listening
from tests.support.webhooks import Delivery, Receiver, of_type, receiving, stripe_endpoint
from tests.unit.devstack.test_clock import START


def _charged(gateway: StripeGateway, localstripe: StandIn, charges: int) -> tuple[str, list[str]]:
    """A new customer charged `charges` times in a row: its id and its PaymentIntents' ids,
    oldest first. They come within a second or two: several share their `created` second."""
    customer = gateway.create_customer(Account(id=f"acct_{uuid4().hex[:8]}", email="a@example.com"))
    method = gateway.save_payment_method(
        customer, card_setup(localstripe, customer, "pm_card_visa")
    )
    return customer, [
        stripe_client(localstripe)
        .v1.payment_intents.create(
            params={
                "amount": 4900,
                "currency": "eur",
                "customer": customer,
                "payment_method": method.token,
                "off_session": True,
                "confirm": True,
            }
        )
        .id
        for _ in range(charges)
    ]


def test_a_customers_payment_intents_are_listed_newest_first_page_by_page(
    stripe_gateway: StripeGateway, localstripe: StandIn
) -> None:
    client = stripe_client(localstripe)
    customer, made = _charged(stripe_gateway, localstripe, 5)
    _charged(stripe_gateway, localstripe, 1)  # another customer's: never listed

    listing = client.v1.payment_intents.list(params={"customer": customer, "limit": 2})

    assert [intent.id for intent in listing.data] == made[::-1][:2]
    assert listing.has_more
    assert [intent.id for intent in listing.auto_paging_iter()] == made[::-1]
    assert len(localstripe.requests("GET", "/v1/payment_intents")) == 3  # pages of 2, 2 and 1


# --- 3-D Secure when a card is set up ---


def _setup(localstripe: StandIn, card: str) -> stripe.SetupIntent:
    """A SetupIntent confirmed with `card`, as the card form confirms it."""
    client = stripe_client(localstripe)
    intent = client.v1.setup_intents.create()
    return client.v1.setup_intents.confirm(intent.id, params={"payment_method": card})


def _authenticate(localstripe: StandIn, intent: stripe.SetupIntent, **params: object) -> object:
    return stripe_client(localstripe).raw_request(
        "post", f"/v1/setup_intents/{intent.id}/_authenticate", **params
    )


def test_a_setup_asking_for_3d_secure_succeeds_once_the_customer_passes_it(
    localstripe: StandIn,
) -> None:
    waiting = _setup(localstripe, "pm_card_authenticationRequired")

    passed = authenticate_setup(localstripe, waiting.id)

    assert (waiting.status, waiting.next_action is not None) == ("requires_action", True)
    assert (passed.status, passed.next_action) == ("succeeded", None)
    assert passed.payment_method == waiting.payment_method
    assert _setup(localstripe, "pm_card_visa").status == "succeeded", "no check asked"


def test_a_failed_3d_secure_check_leaves_the_setup_waiting_for_another_card(
    localstripe: StandIn,
) -> None:
    waiting = _setup(localstripe, "pm_card_authenticationRequired")

    failed = authenticate_setup(localstripe, waiting.id, success=False)

    assert (failed.status, failed.payment_method) == ("requires_payment_method", None)
    error = failed.last_setup_error
    assert error is not None
    assert (error.code, error.type) == (
        "setup_intent_authentication_failure",
        "invalid_request_error",
    )
    assert error.payment_method is not None
    assert error.payment_method.id == waiting.payment_method
    again = stripe_client(localstripe).v1.setup_intents.confirm(
        failed.id, params={"payment_method": "pm_card_visa"}
    )
    assert again.status == "succeeded"


def test_only_a_setup_waiting_for_3d_secure_is_authenticated_and_with_its_secret(
    localstripe: StandIn,
) -> None:
    waiting = _setup(localstripe, "pm_card_authenticationRequired")
    done = _setup(localstripe, "pm_card_visa")

    with pytest.raises(stripe.AuthenticationError):
        _authenticate(localstripe, waiting, client_secret=done.client_secret, success=True)
    with pytest.raises(stripe.InvalidRequestError):
        _authenticate(localstripe, done, client_secret=done.client_secret, success=True)
    with pytest.raises(stripe.InvalidRequestError):
        _authenticate(localstripe, waiting, client_secret=waiting.client_secret, amount=1)

    assert stripe_client(localstripe).v1.setup_intents.retrieve(waiting.id).status == (
        "requires_action"
    )


# --- refunds, disputes, cards and their webhook events ---

SECRET = "whsec_localstripe_test"


@pytest.fixture
def receiver(localstripe: StandIn) -> Iterator[Receiver]:
    """An endpoint registered at localstripe for every event, for the test."""
    with receiving() as endpoint, stripe_endpoint(localstripe, endpoint, SECRET):
        yield endpoint


def _paid(
    gateway: StripeGateway, localstripe: StandIn, method: str = "pm_card_visa"
) -> stripe.PaymentIntent:
    customer = gateway.create_customer(Account(id=f"acct_{uuid4().hex[:8]}", email="a@example.com"))
    saved = gateway.save_payment_method(customer, card_setup(localstripe, customer, method))
    return stripe_client(localstripe).v1.payment_intents.create(
        params={
            "amount": 4900,
            "currency": "eur",
            "customer": customer,
            "payment_method": saved.token,
            "off_session": True,
            "confirm": True,
        }
    )


def _signed(delivery: Delivery) -> bool:
    """Stripe's SDK accepts the signature, whose timestamp is the event's `created`."""
    header = delivery.headers["Stripe-Signature"]
    stripe.WebhookSignature.verify_header(delivery.body, header, SECRET, tolerance=300)
    return header.startswith(f"t={delivery.event['created']},")


def test_a_refund_sends_refund_created_and_charge_refunded_signed(
    stripe_gateway: StripeGateway, localstripe: StandIn, receiver: Receiver
) -> None:
    client = stripe_client(localstripe)
    intent = _paid(stripe_gateway, localstripe)

    refund = client.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 1000, "metadata": {"refund_key": "k1"}}
    )

    [created] = receiver.wait_for(of_type("refund.created", id=refund.id))
    [refunded] = receiver.wait_for(of_type("charge.refunded", payment_intent=intent.id))
    assert created.event["data"]["object"]["payment_intent"] == intent.id
    charge = refunded.event["data"]["object"]
    assert (charge["amount_refunded"], charge["refunded"]) == (1000, False)
    assert [r["id"] for r in charge["refunds"]["data"]] == [refund.id]
    for delivery in (created, refunded):
        assert _signed(delivery)
        assert re.fullmatch(r"20\d\d-\d\d-\d\d", delivery.event["api_version"])
        assert delivery.event["livemode"] is False


def test_a_refund_is_never_more_than_what_is_left_of_the_charge(
    stripe_gateway: StripeGateway, localstripe: StandIn
) -> None:
    client = stripe_client(localstripe)
    intent = _paid(stripe_gateway, localstripe)
    client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 4000})

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 901})
    client.v1.refunds.create(params={"payment_intent": intent.id})  # the rest, 9.00

    assert refused.value.http_status == 400
    assert refused.value.error is not None
    assert refused.value.error.type == "invalid_request_error"
    assert "(€9.01) is greater than" in str(refused.value.user_message)
    refunds = client.v1.refunds.list(params={"payment_intent": intent.id}).data
    assert sorted(r.amount for r in refunds) == [900, 4000]
    with pytest.raises(stripe.InvalidRequestError, match="already been refunded"):
        client.v1.refunds.create(params={"payment_intent": intent.id})


def test_a_refund_repeated_with_its_idempotency_key_is_made_once(
    stripe_gateway: StripeGateway, localstripe: StandIn
) -> None:
    client = stripe_client(localstripe)
    intent = _paid(stripe_gateway, localstripe)
    params: dict[str, object] = {"payment_intent": intent.id, "amount": 500}

    first = client.v1.refunds.create(params=params, options={"idempotency_key": "r-1"})  # type: ignore[arg-type]
    again = client.v1.refunds.create(params=params, options={"idempotency_key": "r-1"})  # type: ignore[arg-type]

    assert again.id == first.id
    assert len(client.v1.refunds.list(params={"payment_intent": intent.id}).data) == 1


def test_the_dispute_test_card_is_charged_then_disputed_and_evidence_closes_it(
    stripe_gateway: StripeGateway, localstripe: StandIn, receiver: Receiver
) -> None:
    client = stripe_client(localstripe)

    intent = _paid(stripe_gateway, localstripe, "pm_card_createDispute")

    assert intent.status == "succeeded"
    [created] = receiver.wait_for(of_type("charge.dispute.created", payment_intent=intent.id))
    dispute = created.event["data"]["object"]
    assert (dispute["status"], dispute["reason"], dispute["amount"], dispute["currency"]) == (
        "needs_response",
        "fraudulent",
        4900,
        "eur",
    )
    assert dispute["id"].startswith("dp_")
    assert dispute["created"] == created.event["created"]
    listed = client.v1.disputes.list(params={"payment_intent": intent.id}).data
    by_charge = client.v1.disputes.list(params={"charge": dispute["charge"]}).data
    assert [d.id for d in listed] == [d.id for d in by_charge] == [dispute["id"]]
    with pytest.raises(stripe.InvalidRequestError, match="charged back"):
        client.v1.refunds.create(params={"payment_intent": intent.id})

    won = client.v1.disputes.update(
        dispute["id"], params={"evidence": {"uncategorized_text": "winning_evidence"}}
    )

    assert won.status == "won"
    assert client.v1.disputes.retrieve(dispute["id"]).status == "won"
    [closed] = receiver.wait_for(of_type("charge.dispute.closed", id=dispute["id"]))
    assert closed.event["data"]["object"]["status"] == "won"
    assert _signed(closed)


def test_a_dispute_opened_on_a_charge_already_made_can_be_lost(
    stripe_gateway: StripeGateway, localstripe: StandIn, receiver: Receiver
) -> None:
    client = stripe_client(localstripe)
    intent = _paid(stripe_gateway, localstripe)

    opened = localstripe.post("/_config/disputes", {"payment_intent": intent.id})
    lost = client.v1.disputes.update(
        opened["id"], params={"evidence": {"uncategorized_text": "losing_evidence"}}
    )

    assert (opened["status"], lost.status) == ("needs_response", "lost")
    receiver.wait_for(of_type("charge.dispute.created", id=opened["id"]))
    receiver.wait_for(of_type("charge.dispute.closed", id=opened["id"], status="lost"))


def test_the_attached_card_is_updated_by_the_merchant_and_by_the_card_network(
    stripe_gateway: StripeGateway, localstripe: StandIn, receiver: Receiver
) -> None:
    client = stripe_client(localstripe)
    customer = stripe_gateway.create_customer(Account(id="acct_cards", email="a@example.com"))
    saved = stripe_gateway.save_payment_method(
        customer, card_setup(localstripe, customer, "pm_card_visa")
    )

    client.v1.payment_methods.update(
        saved.token, params={"card": {"exp_month": 3, "exp_year": 2031}}
    )
    localstripe.post(
        f"/_config/payment_methods/{saved.token}/automatic_update",
        {"last4": "1881", "exp_month": 9, "exp_year": 2033},
    )

    [updated] = receiver.wait_for(of_type("payment_method.updated", id=saved.token))
    [renewed] = receiver.wait_for(of_type("payment_method.automatically_updated", id=saved.token))
    assert updated.event["data"]["object"]["card"]["exp_year"] == 2031
    card = client.v1.payment_methods.retrieve(saved.token).card
    assert card is not None
    assert (card.last4, card.exp_month, card.exp_year) == ("1881", 9, 2033)
    assert renewed.event["data"]["object"]["card"]["last4"] == "1881"
    assert _signed(renewed)


def test_a_removed_endpoint_gets_no_more_events(
    stripe_gateway: StripeGateway, localstripe: StandIn
) -> None:
    with receiving() as kept, receiving() as removed:
        with (
            stripe_endpoint(localstripe, kept, SECRET),
            stripe_endpoint(localstripe, removed, SECRET),
        ):
            pass
        with stripe_endpoint(localstripe, kept, SECRET):
            intent = _paid(stripe_gateway, localstripe)
            kept.wait_for(of_type("payment_intent.succeeded", id=intent.id))

    assert not [d for d in removed.deliveries if d.event["type"] == "payment_intent.succeeded"]


def test_events_are_signed_at_the_stacks_instant(
    stripe_gateway: StripeGateway, tmp_path: Path
) -> None:
    clock = StackClock(START, file=tmp_path / "clock")
    command = [
        sys.executable,
        "-m",
        "devstack.localstripe_server",
        "--clock-file",
        str(tmp_path / "clock"),
    ]
    with (
        listening(lambda port: [*command, "--port", str(port)]) as port,
        receiving() as receiver,
    ):
        stand_in = StandIn(f"http://127.0.0.1:{port}", "/_config")
        stand_in.post("/_config/webhooks/we_clock", {"url": receiver.url, "secret": SECRET})
        clock.advance(timedelta(days=40))
        gateway = StripeGateway(
            "sk_test_local",
            publishable_key=STRIPE_PUBLISHABLE_KEY,
            api_base=stand_in.url,
            timeout=2.0,
        )

        intent = _paid(gateway, stand_in)

        [delivery] = receiver.wait_for(of_type("payment_intent.succeeded", id=intent.id))
    signed_at = START + timedelta(days=40)
    assert delivery.headers["Stripe-Signature"].startswith(f"t={int(signed_at.timestamp())},")
    assert delivery.event["created"] == intent.created == int(signed_at.timestamp())
