"""Charge attempts, pending purchases and accounts, with their items exactly as the hand-written
converters of commit ce610a4 wrote them: deployed tables hold items like these, which must keep
reading back to the same values and be written the same way."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

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
from billing.domain.state_machine import SCHEDULER, Actor, Requester
from billing.domain.subscription import Channel, ChargeKind
from tests.support.subscriptions import (
    ANCHOR,
    FIRST_END,
    active,
    discounted,
    first_attempt,
    purchase_of,
)

ATTEMPTS: dict[str, ChargeAttempt] = {
    "pending": first_attempt(discounted(cycles=2)),
    "succeeded": replace(
        first_attempt(active(), ChargeStatus.SUCCEEDED),
        cycle=1,
        attempt=2,
        kind=ChargeKind.RETRY_NOW,
        created_at=FIRST_END + timedelta(hours=2),
    ),
    "failed": ChargeAttempt(
        subscription_id="sub_p",
        account_id="acct_p",
        cycle=3,
        attempt=1,
        kind=ChargeKind.RENEWAL,
        amount=Money(9900, Currency.USD),
        status=ChargeStatus.FAILED,
        created_at=FIRST_END,
        requested_by=SCHEDULER,
        provider=PaymentProvider.PAYPAL,
        payment_method_id="pp_token_1",
        provider_reference="PAYID-1",
        failure_reason=FailureReason.INSUFFICIENT_FUNDS,
    ),
    "without_method": ChargeAttempt(
        subscription_id="sub_1",
        account_id="acct_1",
        cycle=1,
        attempt=3,
        kind=ChargeKind.SALES,
        amount=Money(4900, Currency.EUR),
        status=ChargeStatus.FAILED,
        created_at=FIRST_END + timedelta(days=3),
        requested_by=Requester(Actor.SALES, "staff_1"),
        failure_reason=FailureReason.PAYMENT_METHOD_INVALID,
    ),
}
"""Between them every field in more than one state, every optional one both ways; only the
pending one is in the pending index."""

PURCHASES: dict[str, PendingPurchase] = {
    "discounted": purchase_of(discounted(cycles=2)),
    "yearly": PendingPurchase("sub_2", "pro", 12, Money(49900, Currency.USD), None, ANCHOR),
}

ACCOUNTS: dict[str, Account] = {
    "new": Account(id="acct_new", email="new@example.com", version=1),
    "customer": Account(
        id="acct_1",
        email="ada@example.com",
        locale=Locale.FR,
        domain_zone="fr",
        billing_info=BillingInfo(
            name="Ada Lovelace",
            email="billing@example.com",
            address_line1="1 rue de la Paix",
            city="Paris",
            country="FR",
            company="Analytical SARL",
            address_line2="Bâtiment B",
            postal_code="75002",
            region="Île-de-France",
            vat_id="FR40303265045",
        ),
        payment_method=PaymentMethod(
            PaymentProvider.STRIPE,
            PaymentMethodKind.CARD,
            "pm_card_1",
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2030,
            saved_at=ANCHOR,
        ),
        stripe_customer_id="cus_1",
        open_subscription_id="sub_1",
        version=1,
    ),
    "purchasing": Account(
        id="acct_2",
        email="grace@example.com",
        billing_info=BillingInfo(
            "Grace Hopper", "grace@example.com", "1 Main St", "Arlington", "US"
        ),
        payment_method=PaymentMethod(PaymentProvider.STRIPE, PaymentMethodKind.CARD, "pm_card_2"),
        stripe_customer_id="cus_2",
        pending_purchase=PURCHASES["discounted"],
        version=1,
    ),
    "partner": Account(
        id="acct_p",
        email="it@client.example",
        channel=Channel.PARTNER,
        partner=Partner("prt_1", "Reseller Ltd", "billing@reseller.example"),
        payment_method=PaymentMethod(
            PaymentProvider.PAYPAL,
            PaymentMethodKind.PAYPAL,
            "pp_token_1",
            paypal_email="it@client.example",
            saved_at=FIRST_END,
        ),
        open_subscription_id="sub_p",
        version=1,
    ),
}
"""Between them every field in a state other than its default, every optional one both ways."""

SHARDS = 8
"""The pending index's shard count the items were written with (the integration tests')."""

type Item = dict[str, dict[str, Any]]

_STORED: dict[str, dict[str, Item]] = json.loads(
    Path(__file__).with_suffix(".json").read_text(encoding="utf-8")
)
ATTEMPT_ITEMS: dict[str, Item] = _STORED["attempts"]
"""The item of each of `ATTEMPTS` (``serialize()`` of its record, captured by running the
converters of ce610a4): DynamoDB's own JSON, each attribute a line."""
PURCHASE_MAPS: dict[str, Item] = _STORED["pending_purchases"]
"""The map each of `PURCHASES` is stored as, in its account's ``pending_purchase`` attribute."""
ACCOUNT_ITEMS: dict[str, Item] = _STORED["accounts"]
"""The item of each of `ACCOUNTS`."""
