"""What customers, sales and partners do to one subscription: cancel, resume, Retry Now, a
sales recharge, a partner extension. Every change goes through the charge operation, so the
state machine decides it and one attempt at most is in flight."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from billing.charging import ChargeOperation, ChargeResult
from billing.domain.accounts import Account
from billing.domain.errors import ErrorCode, TransitionRejected
from billing.domain.retry_now import check_retry_now_allowed
from billing.domain.state_machine import (
    CustomerCancelled,
    CustomerResumed,
    Event,
    PartnerExtended,
    Requester,
    RetryNowRequested,
    SalesChargeRequested,
)
from billing.domain.subscription import Channel, Status, Subscription
from billing.operations import Notifications
from billing.operations.subscriptions import managed_by_partner, settled
from billing.persistence.repository import BillingRepository, NotFound


class SubscriptionActions:
    def __init__(
        self,
        repository: BillingRepository,
        charging: ChargeOperation,
        notifications: Notifications,
    ) -> None:
        self._repository = repository
        self._charging = charging
        self._notifications = notifications

    def cancel(self, account_id: str, subscription_id: str, by: Requester) -> ChargeResult:
        """Auto-renewal off (active) or cancelled now (past due); a repeat changes nothing."""
        return self._change(
            subscription_id, account_id, lambda s, a, now: CustomerCancelled(at=now, by=by)
        )

    def resume(self, account_id: str, subscription_id: str, by: Requester) -> ChargeResult:
        return self._change(
            subscription_id, account_id, lambda s, a, now: CustomerResumed(at=now, by=by)
        )

    def retry_now(self, account_id: str, subscription_id: str, by: Requester) -> ChargeResult:
        """One immediate attempt while past due, at most 3 per 24 hours."""

        def pressed(sub: Subscription, account: Account, now: datetime) -> Event:
            if sub.status is Status.PAST_DUE and sub.channel is Channel.DIRECT:
                check_retry_now_allowed(self._repository.charge_attempts(sub.id), now)
            return RetryNowRequested(at=now, by=by)

        return self._change(subscription_id, account_id, pressed)

    def sales_charge(self, subscription_id: str, by: Requester) -> ChargeResult:
        """A manual recharge by sales: the same lock and state rules as Retry Now."""
        sub = self._repository.get_subscription(subscription_id)
        return self._change(
            subscription_id, sub.account_id, lambda s, a, now: SalesChargeRequested(at=now, by=by)
        )

    def extend(self, subscription_id: str, partner_id: str | None, by: Requester) -> ChargeResult:
        """A partner pays one more cycle. `partner_id` None: an admin acting for any partner;
        otherwise another partner's subscription is not found."""
        sub = self._repository.get_subscription(subscription_id)

        def extended(sub: Subscription, account: Account, now: datetime) -> Event:
            if partner_id is not None and (
                account.partner is None or account.partner.id != partner_id
            ):
                raise NotFound("Subscription")
            return PartnerExtended(at=now, by=by)

        return self._change(subscription_id, sub.account_id, extended)

    def retry_requests(self) -> list[Subscription]:
        return self._repository.retry_requests()

    def _change(
        self,
        subscription_id: str,
        account_id: str,
        event_for: Callable[[Subscription, Account, datetime], Event],
    ) -> ChargeResult:
        try:
            result = self._charging.run(subscription_id, account_id, event_for)
        except TransitionRejected as refused:
            if refused.code is ErrorCode.MANAGED_BY_PARTNER:
                account = self._repository.get_account(account_id)
                raise managed_by_partner(self._repository, account) from None
            raise
        self._notifications.deliver(result.account, result.effects)
        settled(result)
        return result
