"""What only the Stripe adapter does, through the official SDK against localstripe on loopback:
cards' display data, a card Stripe attached as its setup succeeded, the key sent as Stripe's
Idempotency-Key, look-ups that ignore our clock, Retry-After, a call without an answer, decline
codes. What every gateway does is the gateway contract's (tests/contract/test_gateway_contract.py),
run against this adapter too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from billing.domain.accounts import Account, PaymentMethodKind
from billing.domain.charges import ChargeStatus
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.providers.gateway import (
    ChargeRequest,
    OutcomeUnknown,
    ProviderUnavailable,
)
from billing.providers.retry import RetryPolicy
from billing.providers.stripe_gateway import StripeGateway, failure_reason
from devstack.processes import free_port
from tests.support.localstripe import card_setup, stripe_client
from tests.support.sleeps import Sleeps
from tests.support.stand_ins import STRIPE_PUBLISHABLE_KEY, StandIn

PRICE = Money(4900, Currency.EUR)


def _customer(gateway: StripeGateway) -> str:
    return gateway.create_customer(Account(id=f"acct_{uuid4().hex[:8]}", email="ada@example.com"))


def _request(customer: str, method: str) -> ChargeRequest:
    return ChargeRequest(
        key=f"sub_{uuid4().hex[:8]}.c00001.a001",
        amount=PRICE,
        payment_method=method,
        customer=customer,
        description="basic, 1 month(s), period 1",
    )


def _saved(gateway: StripeGateway, localstripe: StandIn, test_method: str) -> ChargeRequest:
    customer = _customer(gateway)
    method = gateway.save_payment_method(customer, card_setup(localstripe, customer, test_method))
    return _request(customer, method.token)


def test_saving_a_card_keeps_display_data_only(
    stripe_gateway: StripeGateway, localstripe: StandIn
) -> None:
    customer = _customer(stripe_gateway)
    setup = card_setup(localstripe, customer, "pm_card_visa")

    method = stripe_gateway.save_payment_method(customer, setup)

    assert method.kind is PaymentMethodKind.CARD
    assert method.token.startswith("pm_")
    assert method.token != "pm_card_visa"
    assert (method.brand, method.last4, method.exp_month) == ("visa", "4242", 12)
    client = stripe_client(localstripe)
    assert client.v1.payment_methods.retrieve(method.token).customer == customer
    default = client.v1.customers.retrieve(customer).invoice_settings
    assert default is not None
    assert default.default_payment_method == method.token


def test_a_card_stripe_attached_as_its_setup_succeeded_is_not_attached_again(
    stripe_gateway: StripeGateway, localstripe: StandIn
) -> None:
    customer = _customer(stripe_gateway)
    client = stripe_client(localstripe)
    setup = client.v1.setup_intents.retrieve(card_setup(localstripe, customer, "pm_card_visa"))
    assert isinstance(setup.payment_method, str)
    client.v1.payment_methods.attach(setup.payment_method, params={"customer": customer})
    attached = len(localstripe.requests("POST", "/v1/payment_methods/"))

    method = stripe_gateway.save_payment_method(customer, setup.id)

    assert method.token == setup.payment_method
    assert len(localstripe.requests("POST", "/v1/payment_methods/")) == attached


def test_the_key_reaches_stripe_as_its_idempotency_key(
    stripe_gateway: StripeGateway, localstripe: StandIn
) -> None:
    request = _saved(stripe_gateway, localstripe, "pm_card_visa")

    stripe_gateway.charge(request)
    stripe_gateway.charge(request)

    sent = localstripe.requests("POST", "/v1/payment_intents")
    assert [r["idempotency_key"] for r in sent] == [request.key, request.key]


def test_a_charge_is_found_however_long_before_the_claim_it_was_made(
    stripe_gateway: StripeGateway, localstripe: StandIn
) -> None:
    request = _saved(stripe_gateway, localstripe, "pm_card_visa")
    made = stripe_gateway.charge(request)
    # Our clock ran weeks ahead of Stripe's: the claim looks long after the charge.
    claimed = datetime.now(UTC) + timedelta(weeks=6)

    assert stripe_gateway.find_charge(request, claimed) == made


def test_rate_limits_are_retried_after_the_time_stripe_asks(
    stripe_gateway: StripeGateway, localstripe: StandIn, sleeps: Sleeps
) -> None:
    request = _saved(stripe_gateway, localstripe, "pm_card_visa")
    localstripe.inject("POST", "/v1/payment_intents", status=429, retry_after="3", times=2)

    outcome = stripe_gateway.charge(request)

    assert outcome.status is ChargeStatus.SUCCEEDED
    assert sleeps == [3.0, 3.0]
    assert len(localstripe.requests("POST", "/v1/payment_intents")) == 3


SHORT_TIMEOUT = 0.25
"""The client timeout of a gateway meeting an injected delay (twice as long) or a closed port."""


def _impatient(sleeps: Sleeps, api_base: str) -> StripeGateway:
    return StripeGateway(
        "sk_test_local",
        publishable_key=STRIPE_PUBLISHABLE_KEY,
        api_base=api_base,
        timeout=SHORT_TIMEOUT,
        retry=RetryPolicy(sleep=sleeps),
    )


def _closed_port() -> str:
    return f"http://127.0.0.1:{free_port()}"


Call = Callable[[StripeGateway, ChargeRequest, str], object]
"""A gateway method, called for the customer (and charge) of a saved card's charge request, and
a setup of that customer confirmed with another card."""


def _create_customer(gateway: StripeGateway, saved: ChargeRequest, setup: str) -> object:
    return gateway.create_customer(Account(id=f"acct_{uuid4().hex[:8]}", email="ada@example.com"))


def _start_update(gateway: StripeGateway, saved: ChargeRequest, setup: str) -> object:
    return gateway.start_update(Account(id="acct_update", email="ada@example.com"), saved.customer)


def _save_card(gateway: StripeGateway, saved: ChargeRequest, setup: str) -> object:
    return gateway.save_payment_method(saved.customer, setup)


def _find_charge(gateway: StripeGateway, saved: ChargeRequest, setup: str) -> object:
    return gateway.find_charge(saved, datetime.now(UTC))


def _saved_with_a_setup(gateway: StripeGateway, localstripe: StandIn) -> tuple[ChargeRequest, str]:
    saved = _saved(gateway, localstripe, "pm_card_visa")
    assert saved.customer is not None
    return saved, card_setup(localstripe, saved.customer, "pm_card_visa")


@pytest.mark.parametrize(
    ("method", "path", "call"),
    [
        pytest.param("POST", "/v1/customers", _create_customer, id="customers.create"),
        pytest.param("POST", "/v1/setup_intents", _start_update, id="setup_intents.create"),
        pytest.param("GET", "/v1/setup_intents/", _save_card, id="setup_intents.retrieve"),
        pytest.param("POST", "/v1/payment_methods/", _save_card, id="payment_methods.attach"),
        # The attach succeeds; making the card the customer's default gets no answer.
        pytest.param("POST", "/v1/customers/", _save_card, id="customers.update"),
        pytest.param("GET", "/v1/payment_intents", _find_charge, id="payment_intents.list"),
    ],
)
def test_no_answer_in_time_to_a_call_other_than_a_charge_makes_stripe_unavailable(
    stripe_gateway: StripeGateway,
    localstripe: StandIn,
    sleeps: Sleeps,
    method: str,
    path: str,
    call: Call,
) -> None:
    saved, setup = _saved_with_a_setup(stripe_gateway, localstripe)
    localstripe.inject(method, path, delay=2 * SHORT_TIMEOUT)

    with pytest.raises(ProviderUnavailable) as unavailable:
        call(_impatient(sleeps, localstripe.url), saved, setup)

    assert unavailable.value.maybe_processed, "Stripe may have acted on it"
    assert sleeps == [], "not retried: the caller answers 503 and may try again"


@pytest.mark.parametrize("call", [_create_customer, _start_update, _save_card, _find_charge])
def test_a_call_other_than_a_charge_to_a_closed_port_makes_stripe_unavailable(
    stripe_gateway: StripeGateway, localstripe: StandIn, sleeps: Sleeps, call: Call
) -> None:
    saved, setup = _saved_with_a_setup(stripe_gateway, localstripe)

    with pytest.raises(ProviderUnavailable):
        call(_impatient(sleeps, _closed_port()), saved, setup)


def test_a_charge_to_a_closed_port_is_an_unknown_outcome(
    stripe_gateway: StripeGateway, localstripe: StandIn, sleeps: Sleeps
) -> None:
    saved = _saved(stripe_gateway, localstripe, "pm_card_visa")

    with pytest.raises(OutcomeUnknown):
        _impatient(sleeps, _closed_port()).charge(saved)


def test_a_card_update_starts_with_a_setup_intent(stripe_gateway: StripeGateway) -> None:
    account = Account(id="acct_update", email="ada@example.com")
    start = stripe_gateway.start_update(account, stripe_gateway.create_customer(account))

    assert start.reference.startswith("seti_")
    assert start.client_secret is not None
    assert start.client_secret.startswith(start.reference)


@pytest.mark.parametrize(
    ("code", "decline_code", "reason"),
    [
        ("card_declined", "insufficient_funds", FailureReason.INSUFFICIENT_FUNDS),
        ("card_declined", "lost_card", FailureReason.PAYMENT_METHOD_INVALID),
        ("expired_card", None, FailureReason.PAYMENT_METHOD_INVALID),
        ("card_declined", "generic_decline", FailureReason.CARD_DECLINED),
        ("processing_error", None, FailureReason.PROVIDER_ERROR),
        ("card_declined", "card_velocity_exceeded", FailureReason.INSUFFICIENT_FUNDS),
        (
            "authentication_required",
            "authentication_required",
            FailureReason.AUTHENTICATION_REQUIRED,
        ),
        ("payment_intent_authentication_failure", None, FailureReason.AUTHENTICATION_REQUIRED),
        (None, None, FailureReason.CARD_DECLINED),
    ],
)
def test_decline_codes_map_to_reasons(
    code: str | None, decline_code: str | None, reason: FailureReason
) -> None:
    assert failure_reason(code, decline_code) is reason
