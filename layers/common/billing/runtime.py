"""The parts every function is built from, made once per Lambda process from the environment
and on first use (a boto3 client made at import time would escape moto in tests), and the clock
they all read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache

from billing.charging import ChargeOperation
from billing.domain.accounts import PaymentProvider
from billing.domain.contacts import SalesContact
from billing.domain.dunning import DunningSchedule
from billing.notifications.sender import Notifier
from billing.persistence.dynamodb import DynamoDBRepository
from billing.providers.gateway import PaymentGateway
from billing.renewal_queue import SqsRenewalQueue
from billing.settings import (
    ContactSettings,
    DunningSettings,
    NotificationSettings,
    RenewalSettings,
    StorageSettings,
)

clock: Callable[[], datetime] = lambda: datetime.now(UTC)
"""Where this process reads the time; tests and the local stack point it at their own clock."""


def now() -> datetime:
    return clock()


@cache
def repository() -> DynamoDBRepository:
    return DynamoDBRepository(StorageSettings.from_environment())


@cache
def contacts() -> ContactSettings:
    return ContactSettings.from_environment()


def sales_contact() -> SalesContact:
    return contacts().sales


@cache
def dunning_schedule() -> DunningSchedule:
    """The configured schedule. Functions that change subscriptions read it when they start,
    so a schedule that cannot work fails the deployment's first invocation, not a renewal."""
    return DunningSettings.from_environment().schedule()


@cache
def notifier() -> Notifier:
    return Notifier(NotificationSettings.from_environment(), contacts())


@cache
def renewal_queue() -> SqsRenewalQueue:
    return SqsRenewalQueue(RenewalSettings.from_environment())


def charge_operation(gateways: Mapping[PaymentProvider, PaymentGateway]) -> ChargeOperation:
    return ChargeOperation(repository(), gateways, clock=now, schedule=dunning_schedule())


def reset() -> None:
    """Forget every part made so far (tests change the environment between cases)."""
    for factory in (repository, notifier, renewal_queue, contacts, dunning_schedule):
        factory.cache_clear()
