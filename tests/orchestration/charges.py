"""What the charge operation's tests build, on any repository and gateway: the fakes here, the
real adapters in tests/integration/test_charge_operation.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from uuid import uuid4

from billing.domain.accounts import Account, PendingPurchase
from billing.domain.charges import ChargeAttempt
from billing.domain.money import Currency, Money
from billing.domain.pricing import Discount
from billing.domain.subscription import ChargeKind, Subscription
from billing.persistence.repository import BillingRepository
from billing.providers.gateway import PaymentGateway
from tests.support.subscriptions import ANCHOR, PRICE, active, store


def opened(
    repository: BillingRepository, account: Account, anchor: datetime = ANCHOR
) -> Subscription:
    """A monthly subscription bought at `anchor` by `account`, which is saved first."""
    repository.save_account(account)
    sub = replace(active(), id=f"sub_{uuid4().hex[:10]}", account_id=account.id, anchor=anchor)
    return store(repository, sub)


def charged_after_purchase(
    repository: BillingRepository, subscription_id: str
) -> list[ChargeAttempt]:
    """The subscription's attempts, newest first, leaving out the purchase that opened it."""
    return [
        attempt
        for attempt in repository.charge_attempts(subscription_id)
        if attempt.kind is not ChargeKind.PURCHASE
    ]


def card_holder(stripe: PaymentGateway, set_up: Callable[[str], str]) -> Account:
    """A new account with a Stripe customer and a card saved as its payment method: the card
    of the setup `set_up(customer)` confirmed for it."""
    account = Account(id=f"acct_{uuid4().hex[:10]}", email="ada@example.com")
    customer = stripe.create_customer(account)
    method = stripe.save_payment_method(customer, set_up(customer))
    return replace(account, stripe_customer_id=customer, payment_method=method)


def yearly_purchase(at: datetime) -> PendingPurchase:
    """A purchase of a yearly plan at `at`, its first cycle discounted (39.20 EUR to pay)."""
    return PendingPurchase(
        subscription_id=f"sub_{uuid4().hex[:10]}",
        plan_id="standard",
        cycle_months=12,
        price=PRICE,
        discount=Discount("WELCOME20", Money(980, Currency.EUR), 1),
        at=at,
    )
