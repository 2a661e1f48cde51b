"""Reading an account's subscriptions, their payments and audit trail; what every operation
on a subscription answers a partner customer, and a charge still pending."""

from __future__ import annotations

from dataclasses import dataclass

from billing.changes import ChangeResult
from billing.domain.accounts import Account
from billing.domain.charges import ChargeAttempt, ChargeStatus
from billing.domain.contacts import partner_contact
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.money import Currency
from billing.domain.state_machine import Audit
from billing.domain.subscription import Subscription
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


def attempt_or_payment_pending(result: ChangeResult) -> ChargeAttempt | None:
    """The attempt of a charge whose outcome is known (None: nothing was charged); raises
    payment_pending while the provider has not said what became of it."""
    if result.attempt is not None and result.attempt.status is ChargeStatus.PENDING:
        raise DomainError(ErrorCode.PAYMENT_PENDING)
    return result.attempt


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
