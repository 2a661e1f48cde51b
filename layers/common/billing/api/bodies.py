"""Request bodies of the mutating routes, validated before any operation runs (the billing
form has its own module)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from billing.api.billing_form import Email
from billing.domain.accounts import PaymentMethodKind, PaymentProvider
from billing.domain.locales import Locale
from billing.domain.money import Currency
from billing.domain.subscription import Channel

# Validators are built on first use: a function uses a few of these models, and building
# them all at import would lengthen every cold start (docs/performance.md).
_STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True)

Token = Annotated[str, Field(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_\-]+$")]
PlanId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


class PurchaseBody(BaseModel):
    """Buy a plan: the first cycle is charged with the saved payment method."""

    model_config = _STRICT

    plan_id: PlanId
    cycle_months: Literal[1, 3, 12]
    currency: Currency
    coupon: Code | None = None


class PartnerSubscriptionBody(BaseModel):
    """A subscription sold and billed by the account's partner."""

    model_config = _STRICT

    plan_id: PlanId
    cycle_months: Literal[1, 3, 12]
    currency: Currency


class SetupBody(BaseModel):
    """Which kind of method the customer wants to save; the current kind when omitted."""

    model_config = _STRICT

    method: PaymentMethodKind | None = None


class StripeMethodBody(BaseModel):
    model_config = _STRICT

    provider: Literal[PaymentProvider.STRIPE]
    payment_method_id: Token
    """The PaymentMethod the card form (SetupIntent) produced."""


class PayPalMethodBody(BaseModel):
    model_config = _STRICT

    provider: Literal[PaymentProvider.PAYPAL]
    setup_token_id: Token
    """The setup token the customer approved on PayPal."""


PaymentMethodBody = Annotated[StripeMethodBody | PayPalMethodBody, Field(discriminator="provider")]


class PartnerBody(BaseModel):
    model_config = _STRICT

    id: Token
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
    email: Email


class AccountBody(BaseModel):
    """What an admin sets on an account."""

    model_config = _STRICT

    email: Email
    locale: Locale = Locale.EN
    domain_zone: Annotated[str, Field(min_length=2, max_length=24, pattern=r"^[a-z0-9\-]+$")] = (
        "com"
    )
    channel: Channel = Channel.DIRECT
    partner: PartnerBody | None = None
