"""Buying a plan: the first cycle (discounted by the coupon) is charged with the saved method
before the subscription opens; a decline opens nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from billing.changes import ChangeResult
from billing.charging import ChargeOperation
from billing.domain.accounts import PendingPurchase
from billing.domain.charges import ChargeStatus
from billing.domain.pricing import Catalogue, default_catalogue
from billing.domain.state_machine import Requester
from billing.domain.subscription import Channel
from billing.operations.subscriptions import (
    Order,
    attempt_or_payment_pending,
    declined,
    managed_by_partner,
)
from billing.persistence.repository import BillingRepository


class Purchases:
    """Buying a plan: the first cycle (discounted by the coupon) is charged with the saved
    method before the subscription opens; a decline opens nothing."""

    def __init__(
        self,
        repository: BillingRepository,
        charging: ChargeOperation,
        *,
        clock: Callable[[], datetime],
        catalogue: Callable[[], Catalogue] = default_catalogue,
    ) -> None:
        self._repository = repository
        self._charging = charging
        self._clock = clock
        self._catalogue = catalogue

    def purchase(
        self, account_id: str, order: Order, subscription_id: str, by: Requester
    ) -> ChangeResult:
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
        attempt = attempt_or_payment_pending(result)
        if attempt is not None and attempt.status is ChargeStatus.FAILED:
            assert attempt.failure_reason is not None
            raise declined(attempt.failure_reason, result.account)
        return result
