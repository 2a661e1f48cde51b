"""What a gateway does with a card whose bank asks the customer to authenticate each payment
(3-D Secure): with the customer present the charge waits for them, without them it fails with
what confirming it takes; completed, refused and abandoned authentications read back as the
provider has them. Run against the fake playing Stripe and StripeGateway on localstripe (its
`pm_card_authenticationRequired` and `_authenticate`); PayPal never asks (`Traits`)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from billing.domain.charges import ChargeStatus
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.providers.gateway import ChargeOutcome, ChargeRequest, ProviderError
from tests.contract.conftest import FAKE, REAL
from tests.contract.providers import Method, ProviderUnderTest

pytestmark = [
    pytest.mark.contract,
    pytest.mark.parametrize(
        "provider",
        [pytest.param("fake-stripe", marks=FAKE), pytest.param("stripe", marks=REAL)],
        indirect=True,
    ),
]

PRICE = Money(4900, Currency.EUR)


def _request(provider: ProviderUnderTest, *, on_session: bool) -> ChargeRequest:
    assert provider.traits.asks_authentication
    return ChargeRequest(
        key=f"sub_{uuid4().hex[:8]}.c00001.a001",
        amount=PRICE,
        payment_method=provider.method(Method.AUTHENTICATES).token,
        customer=provider.customer,
        description="basic, 1 month(s), period 1",
        on_session=on_session,
    )


def _waiting(provider: ProviderUnderTest) -> tuple[ChargeRequest, ChargeOutcome, str]:
    request = _request(provider, on_session=True)
    outcome = provider.gateway.charge(request)
    assert outcome.reference is not None
    return request, outcome, outcome.reference


def test_with_the_customer_present_the_charge_waits_for_them(provider: ProviderUnderTest) -> None:
    request, outcome, _ = _waiting(provider)

    assert outcome.awaits_customer
    assert outcome.failure_reason is FailureReason.AUTHENTICATION_REQUIRED
    assert outcome.confirmation is not None
    assert outcome.confirmation.status == "requires_action"
    assert outcome.confirmation.client_secret
    assert outcome.confirmation.publishable_key.startswith("pk_test_")
    assert provider.taken(request.key) == 0
    # The same request again gets the same payment, still waiting.
    assert provider.gateway.charge(request) == outcome


def test_without_the_customer_the_charge_fails_with_how_to_confirm_it(
    provider: ProviderUnderTest,
) -> None:
    request = _request(provider, on_session=False)

    outcome = provider.gateway.charge(request)

    assert outcome.status is ChargeStatus.FAILED
    assert outcome.failure_reason is FailureReason.AUTHENTICATION_REQUIRED
    assert outcome.reference is not None
    assert outcome.confirmation is not None
    assert provider.taken(request.key) == 0


def test_an_authenticated_payment_reads_back_succeeded_and_is_taken_once(
    provider: ProviderUnderTest,
) -> None:
    request, _, reference = _waiting(provider)

    provider.authenticate(reference, success=True)

    now = provider.gateway.payment(reference)
    assert now.outcome == ChargeOutcome.succeeded(reference)
    assert now.charge_key == request.key
    assert provider.gateway.find_charge(request, since=datetime.now(UTC)) == now.outcome
    assert provider.taken(request.key) == 1


def test_a_refused_authentication_reads_back_failed_and_confirmable_again(
    provider: ProviderUnderTest,
) -> None:
    request, _, reference = _waiting(provider)

    provider.authenticate(reference, success=False)

    outcome = provider.gateway.payment(reference).outcome
    assert outcome.status is ChargeStatus.FAILED
    assert outcome.failure_reason is FailureReason.AUTHENTICATION_REQUIRED
    assert outcome.confirmation is not None
    assert outcome.confirmation.status == "requires_payment_method"
    assert provider.taken(request.key) == 0


def test_an_abandoned_payment_is_stopped_for_good(provider: ProviderUnderTest) -> None:
    request, _, reference = _waiting(provider)

    stopped = provider.gateway.abandon(reference)

    assert stopped.status is ChargeStatus.FAILED
    assert stopped.failure_reason is FailureReason.AUTHENTICATION_REQUIRED
    assert stopped.confirmation is None
    with pytest.raises(ProviderError):
        provider.authenticate(reference, success=True)
    assert provider.gateway.payment(reference).outcome.status is ChargeStatus.FAILED
    assert provider.taken(request.key) == 0


def test_abandoning_a_payment_the_customer_completed_first_reads_it_succeeded(
    provider: ProviderUnderTest,
) -> None:
    request, _, reference = _waiting(provider)
    provider.authenticate(reference, success=True)

    assert provider.gateway.abandon(reference) == ChargeOutcome.succeeded(reference)
    assert provider.taken(request.key) == 1
