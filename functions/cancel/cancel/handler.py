"""POST /subscriptions/{id}/cancel and /resume: auto-renewal off or back on."""

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
)
from billing.api.idempotency import once_per_key
from billing.api.views import SubscriptionView
from billing.composition import root
from billing.domain.errors import ErrorCode
from billing.domain.state_machine import Actor

router = api_router()


@router.post(
    "/subscriptions/<subscription_id>/cancel",
    summary="Turn auto-renewal off (active) or cancel now (past due); repeats change nothing",
    responses=documented(
        200, SubscriptionView, ErrorCode.NOT_FOUND, ErrorCode.MANAGED_BY_PARTNER, idempotent=True
    ),
)
@requires(ACCOUNT_ADMIN)
def cancel(subscription_id: ResourceId) -> Response[Any]:
    def cancelled(who: Caller) -> Response[Any]:
        result = root().subscription_actions.cancel(
            who.account_id, subscription_id, who.acting_as(Actor.CUSTOMER)
        )
        return ok(SubscriptionView.for_account(result.subscription, result.account))

    return once_per_key(router, cancelled)


@router.post(
    "/subscriptions/<subscription_id>/resume",
    summary="Turn auto-renewal back on before the period ends",
    responses=documented(
        200,
        SubscriptionView,
        ErrorCode.NOT_FOUND,
        ErrorCode.MANAGED_BY_PARTNER,
        ErrorCode.SUBSCRIPTION_CANCELLED,
        ErrorCode.PERIOD_ENDED,
        idempotent=True,
    ),
)
@requires(ACCOUNT_ADMIN)
def resume(subscription_id: ResourceId) -> Response[Any]:
    def resumed(who: Caller) -> Response[Any]:
        result = root().subscription_actions.resume(
            who.account_id, subscription_id, who.acting_as(Actor.CUSTOMER)
        )
        return ok(SubscriptionView.for_account(result.subscription, result.account))

    return once_per_key(router, resumed)


lambda_handler = entry_point(router)
