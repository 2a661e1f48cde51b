"""Hypothesis strategies for domain values in any state they can be stored in, not only the
states the state machine reaches from a purchase (tests/property_based walks those)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, get_args, get_type_hints

from hypothesis import strategies as st

from billing.domain.accounts import (
    Account,
    BillingInfo,
    Partner,
    PaymentMethod,
    PaymentMethodKind,
    PaymentProvider,
    PendingPurchase,
)
from billing.domain.charges import ChargeAttempt, ChargeStatus
from billing.domain.failures import FailureReason
from billing.domain.locales import Locale
from billing.domain.money import Currency, Money
from billing.domain.pricing import CYCLE_LENGTHS, Discount
from billing.domain.state_machine import Actor, Requester
from billing.domain.subscription import (
    CancelReason,
    Channel,
    ChargeKind,
    Failure,
    Status,
    Subscription,
)

instants = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda moment: moment.replace(microsecond=0)
)
"""Billing instants: aware, UTC, whole seconds (what the stored format keeps)."""

identifiers = st.text(min_size=1, max_size=40)
"""Non-empty: ids are table and index keys, which DynamoDB refuses empty."""

counts = st.integers(0, 10_000)

texts = st.text(max_size=40)
"""Attributes that are no key: DynamoDB stores them empty too."""
optional_texts = st.none() | texts

prices = st.builds(Money, st.integers(1, 10_000_000), st.sampled_from(Currency))


@st.composite
def _discounts(draw: st.DrawFn, price: Money) -> Discount:
    off = Money(draw(st.integers(0, price.amount)), price.currency)
    return Discount(draw(st.text(max_size=20)), off, draw(st.integers(1, 36)))


failures = st.builds(
    Failure,
    reason=st.sampled_from(FailureReason),
    at=instants,
    payment_method_id=st.none() | st.text(max_size=40),
)


def _values(hint: Any) -> st.SearchStrategy[Any]:
    """Values of a field added to Subscription that `subscriptions` does not name: inferred
    from its type, with instants as billing keeps them."""
    arguments = get_args(hint)
    if type(None) in arguments:
        [kind] = [argument for argument in arguments if argument is not type(None)]
        return st.none() | _values(kind)
    return instants if hint is datetime else st.from_type(hint)


@st.composite
def subscriptions[S: Subscription](draw: st.DrawFn, kind: type[S]) -> S:
    """Any `kind` of subscription (Subscription, or a subclass with fields added): every field
    drawn on its own, within what the domain allows."""
    price = draw(prices)
    values: dict[str, Any] = {
        "id": draw(identifiers),
        "account_id": draw(identifiers),
        "plan_id": draw(st.text(max_size=20)),
        "cycle_months": draw(st.sampled_from(CYCLE_LENGTHS)),
        "price": price,
        "channel": draw(st.sampled_from(Channel)),
        "anchor": draw(instants),
        "status": draw(st.sampled_from(Status)),
        "auto_renew": draw(st.booleans()),
        "cycle": draw(st.integers(0, 120)),
        "discount": draw(st.none() | _discounts(price)),
        "charge_attempts": draw(counts),
        "failed_attempts": draw(counts),
        "retries_left": draw(counts),
        "first_failed_at": draw(st.none() | instants),
        "next_retry_at": draw(st.none() | instants),
        "provider_errors": draw(counts),
        "provider_retry_at": draw(st.none() | instants),
        "last_failure": draw(st.none() | failures),
        "retry_now_requested_at": draw(st.none() | instants),
        "partner_reminded": draw(st.booleans()),
        "partner_prepaid_cycles": draw(counts),
        "cancelled_at": draw(st.none() | instants),
        "cancel_reason": draw(st.none() | st.sampled_from(CancelReason)),
        "version": draw(st.integers(0, 1_000_000)),
    }
    hints = get_type_hints(kind)
    for field in fields(kind):
        if field.name not in values:
            values[field.name] = draw(_values(hints[field.name]))
    return kind(**values)


def attempts() -> st.SearchStrategy[ChargeAttempt]:
    """Any charge attempt, in any status, with or without its provider's details."""
    return st.builds(
        ChargeAttempt,
        subscription_id=identifiers,
        account_id=identifiers,
        cycle=st.integers(0, 120),
        attempt=st.integers(1, 999),
        kind=st.sampled_from(ChargeKind),
        amount=prices,
        status=st.sampled_from(ChargeStatus),
        created_at=instants,
        requested_by=st.builds(Requester, st.sampled_from(Actor), texts),
        provider=st.none() | st.sampled_from(PaymentProvider),
        payment_method_id=optional_texts,
        provider_reference=optional_texts,
        failure_reason=st.none() | st.sampled_from(FailureReason),
    )


@st.composite
def pending_purchases(draw: st.DrawFn) -> PendingPurchase:
    """Any purchase holding an account's open slot, discounted or not."""
    price = draw(prices)
    return PendingPurchase(
        subscription_id=draw(identifiers),
        plan_id=draw(st.text(max_size=20)),
        cycle_months=draw(st.sampled_from(CYCLE_LENGTHS)),
        price=price,
        discount=draw(st.none() | _discounts(price)),
        at=draw(instants),
    )


_billing_infos = st.builds(
    BillingInfo,
    name=texts,
    email=texts,
    address_line1=texts,
    city=texts,
    country=texts,
    company=optional_texts,
    address_line2=optional_texts,
    postal_code=optional_texts,
    region=optional_texts,
    vat_id=optional_texts,
)

_payment_methods = st.builds(
    PaymentMethod,
    provider=st.sampled_from(PaymentProvider),
    kind=st.sampled_from(PaymentMethodKind),
    token=texts,
    brand=optional_texts,
    last4=optional_texts,
    exp_month=st.none() | st.integers(1, 12),
    exp_year=st.none() | st.integers(2000, 2100),
    paypal_email=optional_texts,
    saved_at=st.none() | instants,
)


def accounts() -> st.SearchStrategy[Account]:
    """Any account: every field drawn on its own, each optional one present or not."""
    return st.builds(
        Account,
        id=identifiers,
        email=texts,
        locale=st.sampled_from(Locale),
        domain_zone=texts,
        channel=st.sampled_from(Channel),
        partner=st.none() | st.builds(Partner, texts, texts, texts),
        billing_info=st.none() | _billing_infos,
        payment_method=st.none() | _payment_methods,
        stripe_customer_id=optional_texts,
        open_subscription_id=st.none() | identifiers,
        pending_purchase=st.none() | pending_purchases(),
        version=st.integers(0, 1_000_000),
    )
