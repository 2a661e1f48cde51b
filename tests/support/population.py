"""Many due subscriptions at once, written as the repository writes them but in batches: the
renewal run's tests and the renewal benchmarks start from them."""

from __future__ import annotations

import uuid
from dataclasses import replace

from billing import composition
from billing.domain.accounts import Account, PaymentMethod, PaymentProvider
from billing.domain.money import Currency, Money
from billing.domain.state_machine import Actor, Requester, open_subscription
from billing.domain.subscription import Channel
from billing.persistence.dynamodb import _account_record, _subscription_record
from billing.persistence.models import AccountRecord, SubscriptionRecord
from billing.persistence.repository import BillingRepository
from billing.providers.gateway import PaymentGateway
from tests.support.api import START
from tests.support.localstripe import card_setup
from tests.support.stand_ins import StandIn

PRICE = Money(4900, Currency.EUR)


def _card(gateway: PaymentGateway, localstripe: StandIn, token: str) -> tuple[str, PaymentMethod]:
    """A Stripe customer at localstripe with `token` saved, shared by the seeded accounts."""
    customer = gateway.create_customer(Account(id=f"seed-{uuid.uuid4().hex[:8]}", email="s@x.io"))
    return customer, gateway.save_payment_method(customer, card_setup(localstripe, customer, token))


def seed(
    repository: BillingRepository, localstripe: StandIn, count: int, token: str = "pm_card_visa"
) -> list[str]:
    """`count` accounts, each with a monthly subscription bought at START (due at FIRST_END),
    stored as the repository stores them, in batches of 25 items (a purchase writes each
    subscription in its own transaction; thousands of those would only slow the run)."""
    stripe = composition.root().gateways[PaymentProvider.STRIPE]
    customer, method = _card(stripe, localstripe, token)
    run = uuid.uuid4().hex[:8]
    shards = len(repository.shards())
    subscriptions = []
    with AccountRecord.batch_write() as accounts, SubscriptionRecord.batch_write() as subs:
        for n in range(count):
            account_id = f"acct-{run}-{n}"
            sub = open_subscription(
                subscription_id=f"sub-{run}-{n:05d}",
                account_id=account_id,
                plan_id="basic",
                cycle_months=1,
                price=PRICE,
                discount=None,
                channel=Channel.DIRECT,
                by=Requester(Actor.CUSTOMER, f"user-{n}"),
                at=START,
            ).subscription
            account = Account(
                id=account_id,
                email=f"c{n}@example.com",
                payment_method=method,
                stripe_customer_id=customer,
                open_subscription_id=sub.id,
                version=1,
            )
            accounts.save(_account_record(account))
            subs.save(_subscription_record(replace(sub, version=1), shards))
            subscriptions.append(sub.id)
    return subscriptions
