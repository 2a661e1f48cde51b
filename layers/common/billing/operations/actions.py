"""What customers, sales and partners do to one subscription without charging it: cancel,
resume, a partner's extension; and the follow-up list sales reads. The state machine decides
each change (`billing.changes`); nothing here loads payment code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from billing.changes import ChangeResult, EventFor, SubscriptionChanges
from billing.domain.accounts import Account
from billing.domain.errors import ErrorCode, TransitionRejected
from billing.domain.state_machine import (
    CustomerCancelled,
    CustomerResumed,
    DisputeCleared,
    Event,
    PartnerExtended,
    Requester,
)
from billing.domain.subscription import Subscription
from billing.operations.subscriptions import attempt_or_payment_pending, managed_by_partner
from billing.persistence.repository import BillingRepository, NotFound


class SubscriptionActions:
    def __init__(
        self,
        repository: BillingRepository,
        changes: SubscriptionChanges,
    ) -> None:
        self._repository = repository
        self._changes = changes

    def cancel(self, account_id: str, subscription_id: str, by: Requester) -> ChangeResult:
        """Auto-renewal off (active) or cancelled now (past due); a repeat changes nothing."""
        return self._change(
            subscription_id, account_id, lambda s, a, now: CustomerCancelled(at=now, by=by)
        )

    def resume(self, account_id: str, subscription_id: str, by: Requester) -> ChangeResult:
        return self._change(
            subscription_id, account_id, lambda s, a, now: CustomerResumed(at=now, by=by)
        )

    def extend(self, subscription_id: str, partner_id: str | None, by: Requester) -> ChangeResult:
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

    def clear_dispute(self, subscription_id: str, by: Requester) -> ChangeResult:
        """Sales lets automatic charges resume after a dispute (NO_ACTION_REQUIRED if none)."""
        sub = self._repository.get_subscription(subscription_id)
        return self._change(
            subscription_id, sub.account_id, lambda s, a, now: DisputeCleared(at=now, by=by)
        )

    def retry_requests(self) -> list[Subscription]:
        return self._repository.retry_requests()

    def _change(self, subscription_id: str, account_id: str, event_for: EventFor) -> ChangeResult:
        return carried_out(
            self._repository,
            account_id,
            lambda: self._changes.change(subscription_id, account_id, event_for),
        )


def carried_out(
    repository: BillingRepository,
    account_id: str,
    change: Callable[[], ChangeResult],
) -> ChangeResult:
    """Run a customer's or staff member's `change`: a partner customer is told whom to contact
    instead, and a charge whose outcome is not known yet answers payment_pending. The emails and
    notices it owes are in the outbox with it: the answer does not wait for them."""
    try:
        result = change()
    except TransitionRejected as refused:
        if refused.code is ErrorCode.MANAGED_BY_PARTNER:
            account = repository.get_account(account_id)
            raise managed_by_partner(repository, account) from None
        raise
    attempt_or_payment_pending(result)
    return result
