"""What any `PaymentGateway` says after a charge: the payment read again (outcome, our key, the
amount), refunds by key (a repeated key is the same refund; never more than what is left), a
refund made at the provider, a dispute opened and decided, and a saved method read again (a card
replaced by the card network's updater, a method removed). Run against the fake playing each
provider, StripeGateway on localstripe and PayPalGateway on the PayPal stand-in."""

from __future__ import annotations

from uuid import uuid4

import pytest

from billing.domain.accounts import PaymentMethodKind
from billing.domain.charges import ChargeStatus, DisputeStatus
from billing.domain.money import Currency, Money
from billing.providers.gateway import (
    ChargeRequest,
    ProviderPayment,
    RefundRefused,
)
from tests.contract.providers import ProviderUnderTest

pytestmark = pytest.mark.contract

PRICE = Money(4900, Currency.EUR)


def _paid(provider: ProviderUnderTest) -> tuple[ChargeRequest, str]:
    """A charge that took `PRICE`: its request and its payment's reference."""
    request = ChargeRequest(
        key=f"sub_{uuid4().hex[:8]}.c00001.a001",
        amount=PRICE,
        payment_method=provider.method().token,
        customer=provider.customer,
        description="basic, 1 month(s), period 1",
    )
    outcome = provider.gateway.charge(request)
    assert outcome.status is ChargeStatus.SUCCEEDED
    assert outcome.reference
    return request, outcome.reference


def _key() -> str:
    return f"refund.{uuid4().hex[:12]}"


def _refunded(payment: ProviderPayment) -> int:
    return sum(refund.amount.amount for refund in payment.refunds)


# --- the payment read again ---


def test_a_charge_reads_back_as_the_provider_has_it(provider: ProviderUnderTest) -> None:
    request, reference = _paid(provider)

    payment = provider.gateway.payment(reference)

    assert payment.reference == reference
    assert payment.charge_key == request.key
    assert payment.outcome.status is ChargeStatus.SUCCEEDED
    assert payment.outcome.reference == reference
    assert payment.amount == PRICE
    assert (payment.refunds, payment.dispute) == ((), None)


# --- refunds ---


def test_a_refund_is_made_once_per_key(provider: ProviderUnderTest) -> None:
    _, reference = _paid(provider)
    key = _key()

    first = provider.gateway.refund(reference, Money(1000, Currency.EUR), key)
    again = provider.gateway.refund(reference, Money(1000, Currency.EUR), key)

    assert again == first
    assert (first.amount, first.key) == (Money(1000, Currency.EUR), key)
    payment = provider.gateway.payment(reference)
    assert [(r.reference, r.amount.amount, r.key) for r in payment.refunds] == [
        (first.reference, 1000, key)
    ]
    assert payment.outcome.status is ChargeStatus.SUCCEEDED, "a refund is reported beside it"


def test_a_partial_refund_then_the_rest_and_nothing_more(provider: ProviderUnderTest) -> None:
    _, reference = _paid(provider)

    provider.gateway.refund(reference, Money(900, Currency.EUR), _key())
    provider.gateway.refund(reference, Money(4000, Currency.EUR), _key())

    with pytest.raises(RefundRefused):
        provider.gateway.refund(reference, Money(1, Currency.EUR), _key())
    payment = provider.gateway.payment(reference)
    assert sorted(r.amount.amount for r in payment.refunds) == [900, 4000]
    assert _refunded(payment) == PRICE.amount


def test_more_than_what_is_left_is_refused(provider: ProviderUnderTest) -> None:
    _, reference = _paid(provider)
    provider.gateway.refund(reference, Money(4000, Currency.EUR), _key())

    with pytest.raises(RefundRefused):
        provider.gateway.refund(reference, Money(901, Currency.EUR), _key())

    assert _refunded(provider.gateway.payment(reference)) == 4000


def test_a_refund_in_another_currency_is_refused(provider: ProviderUnderTest) -> None:
    _, reference = _paid(provider)

    with pytest.raises(RefundRefused):
        provider.gateway.refund(reference, Money(100, Currency.USD), _key())

    assert provider.gateway.payment(reference).refunds == ()


def test_a_refund_made_at_the_provider_shows_without_our_key(
    provider: ProviderUnderTest,
) -> None:
    _, reference = _paid(provider)

    provider.refund_at_provider(reference, Money(1500, Currency.EUR))

    [refund] = provider.gateway.payment(reference).refunds
    assert (refund.amount, refund.key) == (Money(1500, Currency.EUR), None)
    assert refund.reference


# --- disputes ---


@pytest.mark.parametrize("won", [True, False], ids=["won", "lost"])
def test_a_dispute_shows_open_then_decided(provider: ProviderUnderTest, won: bool) -> None:
    _, reference = _paid(provider)

    provider.open_dispute(reference)
    opened = provider.gateway.payment(reference).dispute
    provider.close_dispute(reference, won=won)
    decided = provider.gateway.payment(reference)

    assert opened is not None
    assert opened.status is DisputeStatus.OPEN
    assert opened.amount == PRICE
    assert opened.reason
    assert decided.dispute is not None
    assert decided.dispute.reference == opened.reference
    assert decided.dispute.status is (DisputeStatus.WON if won else DisputeStatus.LOST)
    assert decided.outcome.status is ChargeStatus.SUCCEEDED, "the dispute is reported beside it"


def test_a_payment_lost_to_a_dispute_cannot_be_refunded(provider: ProviderUnderTest) -> None:
    _, reference = _paid(provider)
    provider.open_dispute(reference)
    provider.close_dispute(reference, won=False)

    with pytest.raises(RefundRefused):
        provider.gateway.refund(reference, Money(100, Currency.EUR), _key())


# --- saved methods ---


def test_a_saved_method_reads_back_with_its_account(provider: ProviderUnderTest) -> None:
    saved = provider.method()

    now = provider.gateway.payment_method(saved.token)

    assert now.account_id == provider.account.id
    assert now.method is not None
    assert (now.method.token, now.method.kind) == (saved.token, saved.kind)
    assert now.method.paypal_email == saved.paypal_email
    assert now.method.last4 == saved.last4


def test_a_card_replaced_by_the_updater_reads_back_anew(provider: ProviderUnderTest) -> None:
    if not provider.traits.updates_cards:
        pytest.skip("PayPal wallets have no card for the updater to replace")
    saved = provider.method()

    provider.update_card(saved.token, "1881", 7, 2031)

    now = provider.gateway.payment_method(saved.token)
    assert now.account_id == provider.account.id
    assert now.method is not None
    assert now.method.kind is PaymentMethodKind.CARD
    assert (now.method.last4, now.method.exp_month, now.method.exp_year) == ("1881", 7, 2031)


def test_a_removed_method_reads_back_as_gone(provider: ProviderUnderTest) -> None:
    saved = provider.method()

    provider.remove_method(saved.token)

    assert provider.gateway.payment_method(saved.token).method is None
