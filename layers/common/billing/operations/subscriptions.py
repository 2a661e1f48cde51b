"""Reading an account's subscriptions, their payments and audit trail; what every operation
on a subscription answers a partner customer, and a charge still pending."""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.changes import ChangeResult
from billing.domain.accounts import Account
from billing.domain.charges import ChargeAttempt, ChargeStatus
from billing.domain.contacts import partner_contact
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.failures import FailureReason, explain
from billing.domain.locales import Locale
from billing.domain.money import Currency
from billing.domain.state_machine import Audit
from billing.domain.subscription import Subscription
from billing.domain.values import frozen
from billing.persistence.repository import BillingRepository

if TYPE_CHECKING:
    from billing.providers.gateway import Confirmation


@frozen
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
    authentication_required while the customer's bank waits for them to confirm it, and
    payment_pending while the provider has not said what became of it."""
    if result.attempt is not None and result.confirmation is not None:
        raise authentication_required(result.attempt, result.confirmation, result.account.locale)
    if result.attempt is not None and result.attempt.status is ChargeStatus.PENDING:
        raise DomainError(ErrorCode.PAYMENT_PENDING)
    return result.attempt


def authentication_required(
    payment: ChargeAttempt, confirmation: Confirmation, locale: Locale
) -> DomainError:
    """402: the customer's bank asks them to confirm `payment` (3-D Secure); how their page
    does it with Stripe.js."""
    reason = FailureReason.AUTHENTICATION_REQUIRED
    return DomainError(
        ErrorCode.AUTHENTICATION_REQUIRED,
        explain(reason, locale).message,
        {
            "payment_id": payment.id,
            "subscription_id": payment.subscription_id,
            "client_secret": confirmation.client_secret,
            "publishable_key": confirmation.publishable_key,
            "status": confirmation.status,
            **_explained(reason, locale),
        },
    )


def declined(reason: FailureReason, account: Account) -> DomainError:
    """402: a payment made with the customer present did not go through, explained."""
    return DomainError(
        ErrorCode.PAYMENT_DECLINED,
        explain(reason, account.locale).message,
        _explained(reason, account.locale),
    )


def _explained(reason: FailureReason, locale: Locale) -> dict[str, str]:
    explanation = explain(reason, locale)
    return {
        "reason": reason.value,
        "message": explanation.message,
        "action": explanation.action.value,
        "action_text": explanation.action_text,
    }


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
