"""What admins and partners do to accounts: create or update one, open a partner-managed
subscription on it; and the account's whole audit trail, for sales."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from billing.domain.accounts import Account, Partner
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.locales import Locale
from billing.domain.pricing import Catalogue, default_catalogue
from billing.domain.state_machine import Audit, Requester, account_audit, open_subscription
from billing.domain.subscription import Channel, Subscription
from billing.domain.values import frozen
from billing.operations.subscriptions import Order
from billing.persistence.repository import BillingRepository, NotFound, SubscriptionChange


@frozen
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

    def put_account(
        self, account_id: str, profile: AccountProfile, by: Requester
    ) -> tuple[Account, bool]:
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
        created = existing.version == 0
        changed = replace(
            existing,
            email=profile.email,
            locale=profile.locale,
            domain_zone=profile.domain_zone,
            channel=profile.channel,
            partner=profile.partner,
        )
        entry = account_audit(
            by,
            "account_created" if created else "account_updated",
            self._clock(),
            _profile_changes(existing, changed, created),
        )
        return self._repository.save_account(changed, [entry]), created

    def open_partner_subscription(
        self,
        account_id: str,
        partner_id: str | None,
        order: Order,
        subscription_id: str,
        by: Requester,
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
            by=by,
            at=self._clock(),
        )
        return self._repository.commit(
            SubscriptionChange(None, opened.subscription, audit=opened.of_type(Audit))
        ).subscription

    def account(self, account_id: str) -> Account:
        """The account as stored, with the addresses its mail no longer goes to."""
        return self._repository.get_account(account_id)

    def events(self, account_id: str) -> list[Audit]:
        """Everything recorded about the account, oldest first: its own changes, the charges
        requested, and every change to each of its subscriptions."""
        self._repository.get_account(account_id)
        entries = self._repository.account_trail(account_id)
        for sub in self._repository.subscriptions_of(account_id):
            entries.extend(self._repository.audit_trail(sub.id))
        return sorted(entries, key=lambda entry: entry.at)


_PROFILE_FIELDS = ("email", "locale", "domain_zone", "channel", "partner")


def _profile_changes(old: Account, new: Account, created: bool) -> dict[str, str]:
    """Which profile fields an admin set, by name, with the channel and partner as they are now
    (who bills the account matters to sales; the email address is personal data, not kept)."""
    changed = [
        name for name in _PROFILE_FIELDS if created or getattr(old, name) != getattr(new, name)
    ]
    details = {"fields": ",".join(changed), "channel": new.channel.value}
    if new.partner is not None:
        details["partner_id"] = new.partner.id
    return details
