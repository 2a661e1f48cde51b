"""Charges a person asks for on a past-due subscription: Retry Now (the customer) and a manual
recharge (sales). One immediate attempt through the charge operation, under the same lock as a
renewal."""

from __future__ import annotations

from datetime import datetime

from billing.changes import ChangeResult, EventFor
from billing.charging import ChargeOperation
from billing.domain.accounts import Account
from billing.domain.retry_now import check_retry_now_allowed
from billing.domain.state_machine import Event, Requester, RetryNowRequested, SalesChargeRequested
from billing.domain.subscription import Channel, Status, Subscription
from billing.operations.actions import carried_out
from billing.persistence.repository import BillingRepository


class ImmediateCharges:
    def __init__(
        self,
        repository: BillingRepository,
        charging: ChargeOperation,
    ) -> None:
        self._repository = repository
        self._charging = charging

    def retry_now(self, account_id: str, subscription_id: str, by: Requester) -> ChangeResult:
        """One immediate attempt while past due, at most 3 per 24 hours."""

        def pressed(sub: Subscription, account: Account, now: datetime) -> Event:
            if sub.status is Status.PAST_DUE and sub.channel is Channel.DIRECT:
                check_retry_now_allowed(self._repository.charge_attempts(sub.id), now)
            return RetryNowRequested(at=now, by=by)

        return self._charge(subscription_id, account_id, pressed)

    def sales_charge(self, subscription_id: str, by: Requester) -> ChangeResult:
        """A manual recharge by sales: the same lock and state rules as Retry Now."""
        sub = self._repository.get_subscription(subscription_id)
        return self._charge(
            subscription_id, sub.account_id, lambda s, a, now: SalesChargeRequested(at=now, by=by)
        )

    def _charge(self, subscription_id: str, account_id: str, event_for: EventFor) -> ChangeResult:
        return carried_out(
            self._repository,
            account_id,
            lambda: self._charging.change(subscription_id, account_id, event_for),
        )
