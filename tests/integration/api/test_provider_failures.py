"""Stripe not answering, through the HTTP API: every route that calls it answers 503 (with
Retry-After), never 500, writes nothing half-done, and works when asked again.

The faults are real: localstripe holds a request past the functions' provider timeout."""

from __future__ import annotations

import pytest

from billing import composition
from billing.domain.charges import IN_FLIGHT, ChargeStatus
from devstack.api_gateway import GatewayResponse
from tests.support.api import Api, expect_error, fresh_account_id
from tests.support.localstripe import confirm_setup
from tests.support.stand_ins import StandIn, stripe_charges

PROVIDER_TIMEOUT = 1.0
"""The functions' provider timeout in these tests (PROVIDER_TIMEOUT_SECONDS)."""
LATE = 1.5
"""How long localstripe holds a faulted request: past the timeout."""

SETUP = "/account/payment-method/setup"
METHOD = "/account/payment-method"


@pytest.fixture
def impatient(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    """The API with a provider timeout short enough to keep the tests fast (the gateways are
    made again from the environment; `api` forgets them when the test ends)."""
    monkeypatch.setenv("PROVIDER_TIMEOUT_SECONDS", str(PROVIDER_TIMEOUT))
    composition.install()
    return api


def _retry_later(response: GatewayResponse, code: str) -> None:
    expect_error(response, 503, code)
    assert response.headers["Retry-After"]


@pytest.mark.parametrize(
    ("path", "customer_first"),
    [
        pytest.param("/v1/customers", False, id="customers.create"),
        pytest.param("/v1/setup_intents", True, id="setup_intents.create"),
    ],
)
def test_a_card_setup_stripe_does_not_answer_is_503_and_works_when_asked_again(
    impatient: Api, localstripe: StandIn, path: str, customer_first: bool
) -> None:
    account_id = fresh_account_id("setup-late")
    customer = impatient.open_account(account_id)
    if customer_first:
        assert customer.post(SETUP, {"method": "card"}).status == 200
    before = composition.root().repository.get_account(account_id)
    localstripe.inject("POST", path, delay=LATE)

    late = customer.post(SETUP, {"method": "card"})

    _retry_later(late, "provider_unavailable")
    assert composition.root().repository.get_account(account_id) == before
    again = customer.post(SETUP, {"method": "card"})
    assert again.status == 200, again.body
    assert again.json()["client_secret"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/v1/setup_intents/", id="setup_intents.retrieve"),
        pytest.param("POST", "/v1/payment_methods/", id="payment_methods.attach"),
        pytest.param("POST", "/v1/customers/", id="customers.update"),
    ],
)
def test_a_new_card_stripe_does_not_answer_on_is_503_and_the_saved_card_stays(
    impatient: Api, localstripe: StandIn, method: str, path: str
) -> None:
    account_id = fresh_account_id("card-late")
    customer = impatient.open_account(account_id)
    assert impatient.save_card(customer).status == 200
    setup = impatient.start_card_setup(customer)
    confirm_setup(localstripe, setup, "pm_card_visa")
    card = {"provider": "stripe", "setup_intent_id": setup}
    before = composition.root().repository.get_account(account_id)
    emails = impatient.outbox.emails_to(f"{account_id}@example.com")
    localstripe.inject(method, path, delay=LATE)

    late = customer.put(METHOD, card, key="new-card")

    _retry_later(late, "provider_unavailable")
    assert composition.root().repository.get_account(account_id) == before
    assert impatient.outbox.emails_to(f"{account_id}@example.com") == emails
    again = customer.put(METHOD, card, key="new-card")  # a 503 is not replayed: it runs again
    assert again.status == 200, again.body
    assert (
        composition.root().repository.get_account(account_id).payment_method
        != before.payment_method
    )


def test_a_retry_now_whose_abandoned_charge_stripe_cannot_look_up_is_payment_pending(
    impatient: Api, localstripe: StandIn
) -> None:
    account_id = fresh_account_id("lookup-late")
    customer, sub_id = impatient.past_due(account_id)
    abandoned = impatient.claim_next_attempt(sub_id, account_id)
    impatient.clock.advance(seconds=IN_FLIGHT.total_seconds())
    before = customer.get(f"/subscriptions/{sub_id}").json()
    charges = stripe_charges(localstripe, sub_id)
    localstripe.inject("GET", "/v1/payment_intents", delay=LATE)

    pressed = customer.post(f"/subscriptions/{sub_id}/retry", key="press")

    _retry_later(pressed, "payment_pending")
    repository = composition.root().repository
    still = repository.get_attempt(sub_id, abandoned.cycle, abandoned.attempt)
    assert still.status is ChargeStatus.PENDING
    assert customer.get(f"/subscriptions/{sub_id}").json() == before
    assert stripe_charges(localstripe, sub_id) == charges, "looked up, never charged again"
