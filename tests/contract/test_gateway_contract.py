"""What any `PaymentGateway` does: one charge per idempotency key, declines as outcomes with the
product's reasons, charges found again by key and never invented, 429s and 5xx retried and then
reported as the provider being unavailable (and whether it may have acted), no answer as an
unknown outcome, and cards saved only from a setup of their customer that succeeded (3-D Secure
passed when the bank asks). Run against the fake playing each provider, StripeGateway on
localstripe and PayPalGateway on the PayPal stand-in; what only one provider does is in its own
integration file (tests/integration/test_stripe_gateway.py, test_paypal_gateway.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from billing.domain.accounts import PaymentMethodKind, PaymentProvider
from billing.domain.charges import ChargeStatus
from billing.domain.money import Currency, Money
from billing.providers.gateway import (
    ChargeRequest,
    OutcomeUnknown,
    PaymentMethodRejected,
    ProviderError,
    ProviderUnavailable,
    SetupIncomplete,
    SetupNotFound,
)
from tests.contract.providers import (
    REASONS,
    CardProviderUnderTest,
    Method,
    ProviderUnderTest,
    new_account,
)

pytestmark = pytest.mark.contract

PRICE = Money(4900, Currency.EUR)


def _request(provider: ProviderUnderTest, method: str) -> ChargeRequest:
    return ChargeRequest(
        key=f"sub_{uuid4().hex[:8]}.c00001.a001",
        amount=PRICE,
        payment_method=method,
        customer=provider.customer,
        description="basic, 1 month(s), period 1",
    )


def _saved(provider: ProviderUnderTest, kind: Method = Method.PAYS) -> ChargeRequest:
    return _request(provider, provider.method(kind).token)


def _now() -> datetime:
    return datetime.now(UTC)


# --- charges ---


def test_a_saved_method_is_charged(provider: ProviderUnderTest) -> None:
    request = _saved(provider)

    outcome = provider.gateway.charge(request)

    assert outcome.status is ChargeStatus.SUCCEEDED
    assert outcome.reference
    assert (outcome.failure_reason, outcome.provider_code) == (None, None)
    assert provider.taken(request.key) == 1


def test_a_repeated_key_gets_the_first_answer_and_takes_no_more_money(
    provider: ProviderUnderTest,
) -> None:
    request = _saved(provider)

    first = provider.gateway.charge(request)
    second = provider.gateway.charge(request)

    assert first == second
    assert provider.taken(request.key) == 1
    assert provider.gateway.find_charge(request, _now()) == first


@pytest.mark.parametrize("kind", [Method.DECLINED, Method.INVALID])
def test_declines_are_outcomes_with_their_reason(provider: ProviderUnderTest, kind: Method) -> None:
    request = _saved(provider, kind)

    outcome = provider.gateway.charge(request)

    assert outcome.status is ChargeStatus.FAILED
    assert (outcome.failure_reason, outcome.provider_code) == (
        REASONS[kind],
        provider.traits.codes[kind],
    )
    assert provider.taken(request.key) == 0
    again = provider.gateway.charge(request)
    assert (again.status, again.failure_reason) == (ChargeStatus.FAILED, REASONS[kind])


def test_a_key_used_again_with_other_parameters_is_a_provider_error(
    provider: ProviderUnderTest,
) -> None:
    charge = _saved(provider)
    provider.gateway.charge(charge)

    with pytest.raises(ProviderError):
        provider.gateway.charge(replace(charge, amount=Money(100, Currency.EUR)))
    assert provider.taken(charge.key) == 1


# --- looking a charge up ---


def test_a_charge_never_made_is_not_found(provider: ProviderUnderTest) -> None:
    assert provider.gateway.find_charge(_saved(provider), _now()) is None


def test_the_charge_with_the_key_is_found_among_the_customers_others(
    provider: ProviderUnderTest,
) -> None:
    request = _saved(provider)
    made = provider.gateway.charge(request)
    for _ in range(3):
        provider.gateway.charge(_request(provider, request.payment_method))

    assert provider.gateway.find_charge(request, _now()) == made


def test_a_declined_charge_is_never_found_as_money_taken(provider: ProviderUnderTest) -> None:
    request = _saved(provider, Method.DECLINED)
    declined = provider.gateway.charge(request)

    found = provider.gateway.find_charge(request, _now())

    if provider.traits.finds_declines:
        assert found is not None
        assert (found.status, found.failure_reason, found.provider_code) == (
            declined.status,
            declined.failure_reason,
            declined.provider_code,
        )
    else:
        assert found is None


def test_a_look_up_long_after_the_claim_is_answered_while_the_provider_remembers(
    provider: ProviderUnderTest,
) -> None:
    request = _saved(provider)
    made = provider.gateway.charge(request)
    window = provider.traits.lookup_window
    claimed = _now() - (window * 1.2 if window is not None else timedelta(weeks=6))

    if window is None:
        assert provider.gateway.find_charge(request, claimed) == made
    else:
        with pytest.raises(OutcomeUnknown):
            provider.gateway.find_charge(request, claimed)
        assert provider.gateway.find_charge(request, _now() - window * 0.8) == made


def test_a_look_up_the_provider_cannot_answer_raises(provider: ProviderUnderTest) -> None:
    request = _saved(provider)
    provider.gateway.charge(request)
    provider.fail(503, times=3, operation="find_charge")

    with pytest.raises(ProviderError):
        provider.gateway.find_charge(request, _now())


# --- a provider failing ---


@pytest.mark.parametrize("status", [429, 500])
def test_failures_the_retries_outlast_end_in_one_charge(
    provider: ProviderUnderTest, status: int
) -> None:
    request = _saved(provider)
    provider.fail(status, times=2)

    outcome = provider.gateway.charge(request)

    assert outcome.status is ChargeStatus.SUCCEEDED
    assert provider.taken(request.key) == 1


def test_server_errors_that_persist_make_the_provider_unavailable(
    provider: ProviderUnderTest,
) -> None:
    request = _saved(provider)
    provider.fail(503, times=3)

    with pytest.raises(ProviderUnavailable) as unavailable:
        provider.gateway.charge(request)

    assert unavailable.value.maybe_processed, "a 5xx may hide a charge: look it up"
    assert unavailable.value.code == "503"
    assert provider.gateway.find_charge(request, _now()) is None
    assert provider.taken(request.key) == 0


def test_persistent_rate_limits_cannot_have_charged(provider: ProviderUnderTest) -> None:
    request = _saved(provider)
    provider.fail(429, times=3)

    with pytest.raises(ProviderUnavailable) as unavailable:
        provider.gateway.charge(request)

    assert not unavailable.value.maybe_processed
    assert provider.taken(request.key) == 0


def test_no_answer_after_charging_is_unknown_and_the_charge_is_found(
    provider: ProviderUnderTest,
) -> None:
    request = _saved(provider)
    provider.unanswered(after_charging=True)

    with pytest.raises(OutcomeUnknown):
        provider.gateway.charge(request)

    found = provider.gateway.find_charge(request, _now())
    assert found is not None
    assert found.status is ChargeStatus.SUCCEEDED
    assert provider.gateway.charge(request) == found, "charging again answers the first charge"
    assert provider.taken(request.key) == 1


def test_no_answer_before_charging_is_unknown_and_nothing_is_found(
    provider: ProviderUnderTest,
) -> None:
    request = _saved(provider)
    provider.unanswered(after_charging=False)

    with pytest.raises(OutcomeUnknown):
        provider.gateway.charge(request)

    assert provider.gateway.find_charge(request, _now()) is None
    assert provider.taken(request.key) == 0


# --- customers and payment methods ---


def test_an_account_has_one_customer_at_the_provider(provider: ProviderUnderTest) -> None:
    account = new_account()

    first = provider.gateway.create_customer(account)

    assert first
    assert provider.gateway.create_customer(account) == first


def test_a_method_update_starts_at_the_provider(provider: ProviderUnderTest) -> None:
    start = provider.gateway.start_update(new_account(), provider.customer)

    assert start.provider is provider.gateway.provider
    assert start.reference
    if start.provider is PaymentProvider.STRIPE:
        assert (bool(start.client_secret), start.approval_url) == (True, None)
    else:
        assert (start.client_secret, bool(start.approval_url)) == (None, True)


def test_a_saved_method_keeps_the_providers_token(provider: ProviderUnderTest) -> None:
    method = provider.method()

    assert method.provider is provider.gateway.provider
    card = provider.gateway.provider is PaymentProvider.STRIPE
    assert method.kind is (PaymentMethodKind.CARD if card else PaymentMethodKind.PAYPAL)
    assert method.token


def test_a_method_the_provider_refuses_is_rejected_with_its_reason(
    provider: ProviderUnderTest,
) -> None:
    with pytest.raises(PaymentMethodRejected) as rejected:
        provider.gateway.save_payment_method(provider.customer, provider.refused())

    assert rejected.value.reason is provider.traits.refusal


# --- cards saved from a setup (Stripe's SetupIntents) ---


def test_a_card_is_saved_from_a_setup_the_customer_completed(
    card_provider: CardProviderUnderTest,
) -> None:
    gateway = card_provider.gateway
    start = gateway.start_update(card_provider.account, card_provider.customer)
    card_provider.confirm_setup(start.reference)

    method = gateway.save_payment_method(card_provider.customer, start.reference)

    assert (method.provider, method.kind) == (PaymentProvider.STRIPE, PaymentMethodKind.CARD)
    assert method.token != start.reference
    assert (method.brand, method.last4) == ("visa", "4242")
    outcome = gateway.charge(_request(card_provider, method.token))
    assert outcome.status is ChargeStatus.SUCCEEDED


def test_a_setup_that_has_not_succeeded_saves_nothing(
    card_provider: CardProviderUnderTest,
) -> None:
    start = card_provider.gateway.start_update(card_provider.account, card_provider.customer)

    with pytest.raises(SetupIncomplete) as unconfirmed:
        card_provider.gateway.save_payment_method(card_provider.customer, start.reference)

    assert unconfirmed.value.code == "requires_payment_method"


def test_another_customers_setup_is_not_found(card_provider: CardProviderUnderTest) -> None:
    gateway = card_provider.gateway
    other = new_account()
    start = gateway.start_update(other, gateway.create_customer(other))
    card_provider.confirm_setup(start.reference)

    for customer, setup in (
        (card_provider.customer, start.reference),
        (None, start.reference),
        (card_provider.customer, "seti_unknown0000"),
    ):
        with pytest.raises(SetupNotFound):
            gateway.save_payment_method(customer, setup)


def test_a_card_asking_for_3d_secure_is_saved_once_the_customer_passes_it(
    card_provider: CardProviderUnderTest,
) -> None:
    gateway, customer = card_provider.gateway, card_provider.customer
    start = gateway.start_update(card_provider.account, customer)
    card_provider.confirm_setup(start.reference, three_d_secure=True)
    with pytest.raises(SetupIncomplete) as waiting:
        gateway.save_payment_method(customer, start.reference)
    card_provider.authenticate_setup(start.reference, success=False)
    with pytest.raises(SetupIncomplete) as failed:
        gateway.save_payment_method(customer, start.reference)
    card_provider.confirm_setup(start.reference, three_d_secure=True)
    card_provider.authenticate_setup(start.reference)

    method = gateway.save_payment_method(customer, start.reference)

    assert (waiting.value.code, failed.value.code) == ("requires_action", "requires_payment_method")
    assert method.kind is PaymentMethodKind.CARD
