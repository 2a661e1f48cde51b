"""What admins and partners do to accounts: create or update one, open a partner-managed
subscription on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from billing.domain.accounts import Account, Partner
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.locales import Locale
from billing.domain.pricing import Catalogue, default_catalogue
from billing.domain.state_machine import Actor, Audit, open_subscription
from billing.domain.subscription import Channel, Subscription
from billing.operations.subscriptions import Order
from billing.persistence.repository import BillingRepository, NotFound, SubscriptionChange


@dataclass(frozen=True, slots=True)
class AccountProfile:
    """What an admin sets on an account; the rest (billing info, payment method, open
    subscription) belongs to the customer and the billing operations."""

    email: str
    locale: Locale
    domain_zone: str
    channel: Channel
    partner: Partner | None


class AccountAdmin:
    def __init__(
        self,
        repository: BillingRepository,
        *,
        clock: Callable[[], datetime],
        catalogue: Callable[[], Catalogue] = default_catalogue,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._catalogue = catalogue

    def put_account(self, account_id: str, profile: AccountProfile) -> tuple[Account, bool]:
        """Create or update; True when created. ConcurrentModification if it changed meanwhile."""
        if (profile.channel is Channel.PARTNER) != (profile.partner is not None):
            raise DomainError(
                ErrorCode.INVALID_FIELDS,
                details=[
                    {
                        "field": "partner",
                        "code": "partner_mismatch",
                        "message": "A partner account names its partner; a direct one does not.",
                    }
                ],
            )
        try:
            existing = self._repository.get_account(account_id)
        except NotFound:
            existing = Account(id=account_id, email=profile.email)
        if existing.open_subscription_id is not None and existing.channel is not profile.channel:
            raise DomainError(
                ErrorCode.SUBSCRIPTION_EXISTS,
                "The channel cannot change while the account has a subscription that is not "
                "cancelled.",
            )
        saved = self._repository.save_account(
            replace(
                existing,
                email=profile.email,
                locale=profile.locale,
                domain_zone=profile.domain_zone,
                channel=profile.channel,
                partner=profile.partner,
            )
        )
        return saved, existing.version == 0

    def open_partner_subscription(
        self, account_id: str, partner_id: str | None, order: Order, subscription_id: str
    ) -> Subscription:
        """A subscription the partner sells and bills: never charged by us. `partner_id` None
        is an admin acting for the partner; another partner's account is not found."""
        account = self._repository.get_account(account_id)
        if partner_id is not None and (account.partner is None or account.partner.id != partner_id):
            raise NotFound("Account")
        if account.channel is not Channel.PARTNER:
            raise DomainError(ErrorCode.NOT_PARTNER_MANAGED, "This account buys directly.")
        price = self._catalogue().plan(order.plan_id).price(order.cycle_months, order.currency)
        opened = open_subscription(
            subscription_id=subscription_id,
            account_id=account_id,
            plan_id=order.plan_id,
            cycle_months=order.cycle_months,
            price=price,
            discount=None,
            channel=Channel.PARTNER,
            actor=Actor.PARTNER,
            at=self._clock(),
        )
        return self._repository.commit(
            SubscriptionChange(None, opened.subscription, audit=opened.of_type(Audit))
        )
