"""Billing information and payment methods: the overview, the billing form,
starting and completing a payment-method update, and the retry of a past-due subscription."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from billing.api.billing_form import BillingForm
from billing.api.bodies import PaymentMethodBody, SetupBody, StripeMethodBody
from billing.api.http import (
    ACCOUNT_ADMIN,
    Caller,
    api_router,
    current_caller,
    documented,
    entry_point,
    ok,
    requires,
)
from billing.api.idempotency import once_per_key
from billing.api.views import (
    BillingInfoView,
    BillingView,
    MethodUpdateView,
    SavedMethodView,
)
from billing.composition import root
from billing.domain.errors import ErrorCode
from billing.domain.state_machine import Actor

router = api_router()


@router.get(
    "/account/billing",
    summary="Billing information, the payment method on file and how to update it",
    responses=documented(200, BillingView, ErrorCode.NOT_FOUND),
)
@requires(ACCOUNT_ADMIN)
def billing() -> Response[Any]:
    overview = root().billing_profile.overview(current_caller(router).account_id)
    return ok(BillingView.of(overview.account, overview.update, overview.contact))


@router.put(
    "/account/billing-info",
    summary="The billing form; a new country or VAT ID goes through sales",
    responses=documented(
        200,
        BillingInfoView,
        ErrorCode.NOT_FOUND,
        ErrorCode.CONTACT_SALES,
        ErrorCode.MANAGED_BY_PARTNER,
        ErrorCode.PROVIDER_UNAVAILABLE,
        idempotent=True,
    ),
)
@requires(ACCOUNT_ADMIN)
def billing_info(form: Annotated[BillingForm, Body()]) -> Response[Any]:
    def saved(who: Caller) -> Response[Any]:
        account = root().billing_profile.update_info(
            who.account_id, form.to_billing_info(), who.acting_as(Actor.CUSTOMER)
        )
        view = BillingInfoView.of(account)
        assert view is not None
        return ok(view)

    return once_per_key(router, saved)


@router.post(
    "/account/payment-method/setup",
    summary="Start a payment-method update: a card-form client secret, a PayPal approval URL, "
    "or whom to contact",
    responses=documented(
        200,
        MethodUpdateView,
        ErrorCode.NOT_FOUND,
        ErrorCode.PROVIDER_UNAVAILABLE,
        idempotent=True,
    ),
)
@requires(ACCOUNT_ADMIN)
def setup(choice: Annotated[SetupBody | None, Body()] = None) -> Response[Any]:
    def started(who: Caller) -> Response[Any]:
        method = None if choice is None else choice.method
        start = root().payment_methods.start_update(
            who.account_id, method, who.acting_as(Actor.CUSTOMER)
        )
        return ok(MethodUpdateView.of(start.update, start.account, start.start, start.contact))

    return once_per_key(router, started)


@router.put(
    "/account/payment-method",
    summary="Save the card or PayPal account the customer approved; a past-due subscription "
    "is retried with it at once",
    responses=documented(
        200,
        SavedMethodView,
        ErrorCode.NOT_FOUND,
        ErrorCode.PAYMENT_METHOD_REJECTED,
        ErrorCode.AUTHENTICATION_REQUIRED,
        ErrorCode.SETUP_INCOMPLETE,
        ErrorCode.CONTACT_SALES,
        ErrorCode.MANAGED_BY_PARTNER,
        ErrorCode.PROVIDER_UNAVAILABLE,
        idempotent=True,
    ),
)
@requires(ACCOUNT_ADMIN)
def payment_method(method: Annotated[PaymentMethodBody, Body()]) -> Response[Any]:
    def saved(who: Caller) -> Response[Any]:
        token = (
            method.setup_intent_id
            if isinstance(method, StripeMethodBody)
            else method.setup_token_id
        )
        saved = root().payment_methods.save_method(
            who.account_id, method.provider, token, who.acting_as(Actor.CUSTOMER)
        )
        return ok(SavedMethodView.of(saved))

    return once_per_key(router, saved)


lambda_handler = entry_point(router, charges=True)
