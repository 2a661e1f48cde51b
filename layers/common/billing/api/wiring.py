"""The parts API functions are built from, made once per Lambda process from the environment
and on first use: a boto3 client made at import time would escape moto in tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from billing.api.http import Caller, caller
from billing.api.idempotency import IdempotentRequests
from billing.charging import ChargeOperation
from billing.domain.accounts import PaymentProvider
from billing.notifications.sender import Notifier
from billing.persistence.dynamodb import DynamoDBRepository
from billing.providers.gateway import PaymentGateway
from billing.settings import IdempotencySettings, NotificationSettings, StorageSettings

clock: Callable[[], datetime] = lambda: datetime.now(UTC)
"""Where this process reads the time; the local stack points it at its shared clock."""


def now() -> datetime:
    return clock()


@cache
def repository() -> DynamoDBRepository:
    return DynamoDBRepository(StorageSettings.from_environment())


@cache
def notifier() -> Notifier:
    return Notifier(NotificationSettings.from_environment())


@cache
def idempotent_requests() -> IdempotentRequests:
    settings = IdempotencySettings.from_environment()
    return IdempotentRequests(DynamoDBPersistenceLayer(table_name=settings.idempotency_table))


def charge_operation(gateways: Mapping[PaymentProvider, PaymentGateway]) -> ChargeOperation:
    return ChargeOperation(repository(), gateways, clock=now)


def reset() -> None:
    """Forget every part made so far (tests change the environment between cases)."""
    for factory in (repository, notifier, idempotent_requests):
        factory.cache_clear()


def current_caller(router: APIGatewayRouter, *roles: str) -> Caller:
    """The caller of the route being run; forbidden unless in one of `roles` (when given)."""
    event = router.current_event
    assert isinstance(event, APIGatewayProxyEvent)
    who = caller(event)
    if roles:
        who.require(*roles)
    return who


def respond(
    router: APIGatewayRouter, produce: Callable[[Caller], Response[Any]], *roles: str
) -> Response[Any]:
    """Run a mutating route for its caller once per Idempotency-Key."""
    who = current_caller(router, *roles)
    event = router.current_event
    assert isinstance(event, APIGatewayProxyEvent)
    return idempotent_requests().respond(
        event, who.account_id, router.lambda_context, lambda: produce(who)
    )
