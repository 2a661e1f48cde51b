"""Reading an account's subscriptions, their payments and audit trail; buying a plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from billing.charging import ChargeOperation, ChargeResult
from billing.domain.accounts import Account, PendingPurchase
from billing.domain.charges import ChargeAttempt, ChargeStatus
from billing.domain.contacts import partner_contact
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.failures import explain
from billing.domain.money import Currency
from billing.domain.pricing import Catalogue, default_catalogue
from billing.domain.state_machine import Audit, Requester
from billing.domain.subscription import Channel, Subscription
from billing.operations import Notifications
from billing.persistence.repository import BillingRepository


@dataclass(frozen=True, slots=True)
class Order:
    plan_id: str
    cycle_months: int
    currency: Currency
    coupon: str | None = None


class SubscriptionReads:
    """What a customer may read about their own subscriptions; another account's is not found."""

    def __init__(self, repository: BillingRepository) -> None:
        self._repository = repository

    def history(self, account_id: str) -> tuple[Account, list[Subscription]]:
        return self._repository.get_account(account_id), self._repository.subscriptions_of(
            account_id
        )

    def one(self, account_id: str, subscription_id: str) -> tuple[Subscription, Account]:
        return self._repository.load(subscription_id, account_id)

    def payments(self, account_id: str, subscription_id: str) -> list[ChargeAttempt]:
        self._repository.load(subscription_id, account_id)
        return self._repository.charge_attempts(subscription_id)

    def events(self, account_id: str, subscription_id: str) -> list[Audit]:
        self._repository.load(subscription_id, account_id)
        return self._repository.audit_trail(subscription_id)


class Purchases:
    """Buying a plan: the first cycle (discounted by the coupon) is charged with the saved
    method before the subscription opens; a decline opens nothing."""

    def __init__(
        self,
        repository: BillingRepository,
        charging: ChargeOperation,
        notifications: Notifications,
        *,
        clock: Callable[[], datetime],
        catalogue: Callable[[], Catalogue] = default_catalogue,
    ) -> None:
        self._repository = repository
        self._charging = charging
        self._notifications = notifications
        self._clock = clock
        self._catalogue = catalogue

    def purchase(
        self, account_id: str, order: Order, subscription_id: str, by: Requester
    ) -> ChargeResult:
        """Raises DomainError: payment_declined (402), payment_method_required,
        subscription_exists, managed_by_partner, unknown_plan/unknown_coupon, payment_pending."""
        account = self._repository.get_account(account_id)
        if account.channel is Channel.PARTNER:
            raise managed_by_partner(self._repository, account)
        now = self._clock()
        catalogue = self._catalogue()
        price = catalogue.plan(order.plan_id).price(order.cycle_months, order.currency)
        discount = (
            None
            if order.coupon is None
            else catalogue.coupon(order.coupon).discount(
                order.plan_id, order.cycle_months, price, now
            )
        )
        result = self._charging.purchase(
            account_id,
            PendingPurchase(
                subscription_id=subscription_id,
                plan_id=order.plan_id,
                cycle_months=order.cycle_months,
                price=price,
                discount=discount,
                at=now,
            ),
            by,
        )
        attempt = settled(result)
        if attempt is not None and attempt.status is ChargeStatus.FAILED:
            raise _declined(attempt, result.account)
        self._notifications.deliver(result.account, result.effects)
        return result


def settled(result: ChargeResult) -> ChargeAttempt | None:
    """The attempt of a charge whose outcome is known; payment_pending while it is not."""
    if result.attempt is not None and result.attempt.status is ChargeStatus.PENDING:
        raise DomainError(ErrorCode.PAYMENT_PENDING)
    return result.attempt


def _declined(attempt: ChargeAttempt, account: Account) -> DomainError:
    assert attempt.failure_reason is not None
    explanation = explain(attempt.failure_reason, account.locale)
    return DomainError(
        ErrorCode.PAYMENT_DECLINED,
        explanation.message,
        {
            "reason": attempt.failure_reason.value,
            "message": explanation.message,
            "action": explanation.action.value,
            "action_text": explanation.action_text,
        },
    )


def managed_by_partner(repository: BillingRepository, account: Account) -> DomainError:
    """What a partner customer is told instead: their partner's contact, and the date by which
    to tell the partner if their running subscription should not be renewed."""
    running = (
        None
        if account.open_subscription_id is None
        else repository.get_subscription(account.open_subscription_id)
    )
    return DomainError(
        ErrorCode.MANAGED_BY_PARTNER, details=partner_contact(account, running).details()
    )
