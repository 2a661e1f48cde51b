"""Request bodies of the mutating routes, validated before any operation runs (the billing
form has its own module)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError

from billing.api.billing_form import Email, Line
from billing.domain.accounts import PaymentMethodKind, PaymentProvider
from billing.domain.locales import Locale
from billing.domain.money import Currency
from billing.domain.subscription import Channel

# Strict: a JSON value of another type is refused, not converted (true or 1.0 for an integer,
# 12 for a string). Validators are built on first use: a function uses a few of these models,
# and building them all at import would lengthen every cold start (docs/performance.md).
_STRICT = ConfigDict(
    extra="forbid", frozen=True, strict=True, str_strip_whitespace=True, defer_build=True
)

Token = Annotated[str, Field(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_\-]+$")]
PlanId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]

# An enum's value arrives as a JSON string; strict validation of Python values (how Powertools
# validates the parsed body) would take only the enum member itself.
FromJson = Strict(False)


def _integer(value: object) -> object:
    """Literal values are matched by equality, which strict mode leaves alone: true and 1.0
    would be the 1 of Literal[1, 3, 12]."""
    if type(value) is not int:
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


CycleMonths = Annotated[Literal[1, 3, 12], BeforeValidator(_integer)]


class PurchaseBody(BaseModel):
    """Buy a plan: the first cycle is charged with the saved payment method."""

    model_config = _STRICT

    plan_id: PlanId
    cycle_months: CycleMonths
    currency: Annotated[Currency, FromJson]
    coupon: Code | None = None


class PartnerSubscriptionBody(BaseModel):
    """A subscription sold and billed by the account's partner."""

    model_config = _STRICT

    plan_id: PlanId
    cycle_months: CycleMonths
    currency: Annotated[Currency, FromJson]


class SetupBody(BaseModel):
    """Which kind of method the customer wants to save; the current kind when omitted."""

    model_config = _STRICT

    method: Annotated[PaymentMethodKind, FromJson] | None = None


class StripeMethodBody(BaseModel):
    model_config = _STRICT

    provider: Literal[PaymentProvider.STRIPE]
    setup_intent_id: Token
    """The SetupIntent `POST /account/payment-method/setup` started, which the customer's card
    form confirmed: its card is saved once it has succeeded."""


class PayPalMethodBody(BaseModel):
    model_config = _STRICT

    provider: Literal[PaymentProvider.PAYPAL]
    setup_token_id: Token
    """The setup token the customer approved on PayPal."""


PaymentMethodBody = Annotated[StripeMethodBody | PayPalMethodBody, Field(discriminator="provider")]


class PartnerBody(BaseModel):
    model_config = _STRICT

    id: Token
    name: Line
    email: Email


class AccountBody(BaseModel):
    """What an admin sets on an account."""

    model_config = _STRICT

    email: Email
    locale: Annotated[Locale, FromJson] = Locale.EN
    domain_zone: Annotated[str, Field(min_length=2, max_length=24, pattern=r"^[a-z0-9\-]+$")] = (
        "com"
    )
    channel: Annotated[Channel, FromJson] = Channel.DIRECT
    partner: PartnerBody | None = None


class RefundBody(BaseModel):
    """Sales gives back all or part of a payment; the body may be empty (all that is left)."""

    model_config = _STRICT

    amount: Annotated[int, Field(gt=0, le=100_000_000)] | None = None
    """In the payment's currency's minor units; all that is left of the payment when absent."""
    cancel: bool = False
    """Also cancel the subscription at once (no further charge, access ends)."""
