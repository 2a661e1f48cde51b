"""POST /subscriptions/{id}/retry (Retry Now) and POST /admin/subscriptions/{id}/charge (a
sales recharge): one immediate charge attempt on a past-due subscription."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from billing.api.http import (
    ACCOUNT_ADMIN,
    Caller,
    ResourceId,
    api_router,
    documented,
    entry_point,
    ok,
    requires,
    staff,
)
from billing.api.idempotency import once_per_key
from billing.api.views import ChargedSubscriptionView
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


lambda_handler = entry_point(router, charges=True)
