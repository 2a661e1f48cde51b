"""POST /subscriptions/{id}/retry (Retry Now) and POST /admin/subscriptions/{id}/charge (a
sales recharge): one immediate charge attempt on a past-due subscription;
POST /admin/payments/{id}/refund: sales gives money back; and a payment the customer's bank asks
them to confirm (3-D Secure): GET …/payments/{id}/authentication, what their page confirms it
with, and POST …/authentication/complete once they did. The routes that move money with a
person waiting."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel

from billing.api.bodies import RefundBody
from billing.api.http import (
    ACCOUNT_ADMIN,
    Caller,
    ResourceId,
    api_router,
    current_caller,
    documented,
    entry_point,
    ok,
    requires,
    staff,
)
from billing.api.idempotency import once_per_key
from billing.api.views import (
    AttemptView,
    ChargedSubscriptionView,
    ConfirmationView,
    SubscriptionView,
)
from billing.composition import root
from billing.domain.errors import ErrorCode
from billing.domain.state_machine import Actor

router = api_router()

_REFUSALS = (
    ErrorCode.NOT_FOUND,
    ErrorCode.NO_ACTION_REQUIRED,
    ErrorCode.SUBSCRIPTION_CANCELLED,
    ErrorCode.MANAGED_BY_PARTNER,
    ErrorCode.RETRY_IN_PROGRESS,
    ErrorCode.PAYMENT_PENDING,
    ErrorCode.PROVIDER_UNAVAILABLE,
    ErrorCode.AUTHENTICATION_REQUIRED,
)


@router.post(
    "/subscriptions/<subscription_id>/retry",
    summary="Retry Now: one immediate charge attempt while past due (3 per 24 hours)",
    responses=documented(
        200, ChargedSubscriptionView, *_REFUSALS, ErrorCode.TOO_MANY_RETRIES, idempotent=True
    ),
)
@requires(ACCOUNT_ADMIN)
def retry_now(subscription_id: ResourceId) -> Response[Any]:
    def retried(who: Caller) -> Response[Any]:
        return ok(
            ChargedSubscriptionView.of_result(
                root().immediate_charges.retry_now(
                    who.account_id, subscription_id, who.acting_as(Actor.CUSTOMER)
                )
            )
        )

    return once_per_key(router, retried)


@router.post(
    "/admin/subscriptions/<subscription_id>/charge",
    summary="Sales: recharge a past-due subscription now (the same lock and rules as Retry Now)",
    responses=documented(
        200, ChargedSubscriptionView, *_REFUSALS, ErrorCode.FORBIDDEN, idempotent=True
    ),
)
@requires(staff("sales"))
def sales_charge(subscription_id: ResourceId) -> Response[Any]:
    def recharged(who: Caller) -> Response[Any]:
        result = root().immediate_charges.sales_charge(subscription_id, who.acting_as(Actor.SALES))
        return ok(ChargedSubscriptionView.of_result(result))

    return once_per_key(router, recharged)


class RefundedView(BaseModel):
    payment: AttemptView
    """The payment with its refunds."""
    subscription: SubscriptionView


@router.post(
    "/admin/payments/<payment_id>/refund",
    summary="Sales: give back all or part of a payment (its id is the charge attempt's), "
    "optionally cancelling the subscription at once",
    responses=documented(
        200,
        RefundedView,
        ErrorCode.FORBIDDEN,
        ErrorCode.NOT_FOUND,
        ErrorCode.PAYMENT_NOT_REFUNDABLE,
        ErrorCode.REFUND_TOO_LARGE,
        ErrorCode.REFUND_IN_PROGRESS,
        ErrorCode.REFUND_REFUSED,
        ErrorCode.CONCURRENT_MODIFICATION,
        ErrorCode.PROVIDER_UNAVAILABLE,
        idempotent=True,
    ),
)
@requires(staff("sales"))
def refund(payment_id: ResourceId, body: Annotated[RefundBody, Body()]) -> Response[Any]:
    def refunded(who: Caller) -> Response[Any]:
        result = root().refunds.refund(
            payment_id, body.amount, cancel=body.cancel, by=who.acting_as(Actor.SALES)
        )
        account = root().repository.get_account(result.subscription.account_id)
        return ok(
            RefundedView(
                payment=AttemptView.of(result.payment),
                subscription=SubscriptionView.for_account(result.subscription, account),
            )
        )

    return once_per_key(router, refunded)


@router.get(
    "/subscriptions/<subscription_id>/payments/<payment_id>/authentication",
    summary="A payment the customer's bank asks them to confirm (3-D Secure): what the page "
    "runs Stripe.js with",
    responses=documented(
        200, ConfirmationView, ErrorCode.NOT_FOUND, ErrorCode.PROVIDER_UNAVAILABLE
    ),
)
@requires(ACCOUNT_ADMIN)
def authentication(subscription_id: ResourceId, payment_id: ResourceId) -> Response[Any]:
    found = root().confirmations.confirmation(
        current_caller(router).account_id, subscription_id, payment_id
    )
    return ok(ConfirmationView.of(found))


@router.post(
    "/subscriptions/<subscription_id>/payments/<payment_id>/authentication/complete",
    summary="The customer confirmed the payment with their bank: it is read from the provider "
    "and recorded (once, whoever comes first: this or the provider's webhook)",
    responses=documented(
        200,
        ChargedSubscriptionView,
        ErrorCode.NOT_FOUND,
        ErrorCode.AUTHENTICATION_REQUIRED,
        ErrorCode.PAYMENT_DECLINED,
        ErrorCode.PAYMENT_PENDING,
        ErrorCode.NO_ACTION_REQUIRED,
        ErrorCode.PROVIDER_UNAVAILABLE,
        idempotent=True,
    ),
)
@requires(ACCOUNT_ADMIN)
def authentication_complete(subscription_id: ResourceId, payment_id: ResourceId) -> Response[Any]:
    def completed(who: Caller) -> Response[Any]:
        result = root().confirmations.complete(who.account_id, subscription_id, payment_id)
        return ok(ChargedSubscriptionView.of_result(result))

    return once_per_key(router, completed)


lambda_handler = entry_point(router, charges=True)
