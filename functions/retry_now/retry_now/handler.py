"""POST /subscriptions/{id}/retry (Retry Now) and POST /admin/subscriptions/{id}/charge (a
sales recharge): one immediate charge attempt on a past-due subscription."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from billing import runtime
from billing.api import wiring
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
from billing.api.views import ChargedSubscriptionView
from billing.domain.errors import ErrorCode
from billing.domain.state_machine import Actor
from billing.operations.actions import SubscriptionActions
from billing.providers.configured import configured_gateways

router = api_router()

_REFUSALS = (
    ErrorCode.NOT_FOUND,
    ErrorCode.NO_ACTION_REQUIRED,
    ErrorCode.SUBSCRIPTION_CANCELLED,
    ErrorCode.MANAGED_BY_PARTNER,
    ErrorCode.RETRY_IN_PROGRESS,
    ErrorCode.PAYMENT_PENDING,
)


def _actions() -> SubscriptionActions:
    return SubscriptionActions(
        runtime.repository(), runtime.charge_operation(configured_gateways()), runtime.notifier()
    )


@router.post(
    "/subscriptions/<subscription_id>/retry",
    summary="Retry Now: one immediate charge attempt while past due (3 per 24 hours)",
    responses=documented(200, ChargedSubscriptionView, *_REFUSALS, ErrorCode.TOO_MANY_RETRIES),
)
@requires(ACCOUNT_ADMIN)
def retry_now(subscription_id: ResourceId) -> Response[Any]:
    def retried(who: Caller) -> Response[Any]:
        return ok(
            ChargedSubscriptionView.of_result(
                _actions().retry_now(who.account_id, subscription_id, who.acting_as(Actor.CUSTOMER))
            )
        )

    return wiring.respond(router, retried)


@router.post(
    "/admin/subscriptions/<subscription_id>/charge",
    summary="Sales: recharge a past-due subscription now (the same lock and rules as Retry Now)",
    responses=documented(200, ChargedSubscriptionView, *_REFUSALS, ErrorCode.FORBIDDEN),
)
@requires(staff("sales"))
def sales_charge(subscription_id: ResourceId) -> Response[Any]:
    def recharged(who: Caller) -> Response[Any]:
        result = _actions().sales_charge(subscription_id, who.acting_as(Actor.SALES))
        return ok(ChargedSubscriptionView.of_result(result))

    return wiring.respond(router, recharged)


lambda_handler = entry_point(router)
