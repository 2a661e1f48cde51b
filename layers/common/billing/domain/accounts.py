"""Accounts: who the customer is, how they pay, and where invoices go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from billing.domain.locales import Locale
from billing.domain.money import Money
from billing.domain.pricing import Discount
from billing.domain.subscription import Channel


class PaymentProvider(StrEnum):
    STRIPE = "stripe"
    PAYPAL = "paypal"


class PaymentMethodKind(StrEnum):
    CARD = "card"
    PAYPAL = "paypal"


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    """A saved payment method: the provider's token and display data only, never a card number."""

    provider: PaymentProvider
    kind: PaymentMethodKind
    token: str
    """Stripe PaymentMethod id or PayPal vault payment token id."""
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    paypal_email: str | None = None
    saved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Partner:
    id: str
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class BillingInfo:
    """The billing form. Validated at the API edge before it gets here."""

    name: str
    email: str
    address_line1: str
    city: str
    country: str
    """ISO 3166-1 alpha-2."""
    company: str | None = None
    address_line2: str | None = None
    postal_code: str | None = None
    region: str | None = None
    vat_id: str | None = None


@dataclass(frozen=True, slots=True)
class PendingPurchase:
    """A purchase whose first charge is under way or not yet settled. It holds the account's one
    open slot from before the provider is called, so a concurrent purchase is refused without
    charging, and it keeps what is needed to open the subscription once the charge is known."""

    subscription_id: str
    plan_id: str
    cycle_months: int
    price: Money
    """Full price of one cycle."""
    discount: Discount | None
    at: datetime
    """The purchase instant: the subscription's anchor."""


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    email: str
    locale: Locale = Locale.EN
    domain_zone: str = "com"
    channel: Channel = Channel.DIRECT
    partner: Partner | None = None
    billing_info: BillingInfo | None = None
    payment_method: PaymentMethod | None = None
    stripe_customer_id: str | None = None
    open_subscription_id: str | None = None
    """The account's one subscription that is not cancelled, if any."""
    pending_purchase: PendingPurchase | None = None
    version: int = 0

    @property
    def payment_method_kind(self) -> PaymentMethodKind | None:
        return None if self.payment_method is None else self.payment_method.kind
