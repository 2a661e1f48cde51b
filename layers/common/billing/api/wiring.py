"""What API functions add to the runtime's parts: Idempotency-Key handling and the caller."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from billing import runtime
from billing.api.http import Caller, caller
from billing.api.idempotency import IdempotentRequests
from billing.settings import IdempotencySettings


@cache
def idempotent_requests() -> IdempotentRequests:
    settings = IdempotencySettings.from_environment()
    return IdempotentRequests(DynamoDBPersistenceLayer(table_name=settings.idempotency_table))


def reset() -> None:
    """Forget every part made so far, the API's and the runtime's."""
    runtime.reset()
    idempotent_requests.cache_clear()


def current_caller(router: APIGatewayRouter) -> Caller:
    """The caller of the route being run, already admitted by the route's requirement."""
    event = router.current_event
    assert isinstance(event, APIGatewayProxyEvent)
    return caller(event)


def respond(router: APIGatewayRouter, produce: Callable[[Caller], Response[Any]]) -> Response[Any]:
    """Run a mutating route for its caller once per Idempotency-Key."""
    who = current_caller(router)
    event = router.current_event
    assert isinstance(event, APIGatewayProxyEvent)
    return idempotent_requests().respond(
        event, who.account_id, router.lambda_context, lambda: produce(who)
    )
