"""Whom a customer turns to when a change is not theirs to make: the sales team (a new billing
country, a zone without self-service) or the partner who resells their subscription."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing.domain.accounts import Account, Partner
from billing.domain.billing_calendar import format_instant
from billing.domain.subscription import PARTNER_REMINDER_LEAD, Status, Subscription
from billing.domain.values import frozen


@frozen
class SalesContact:
    """How to reach the sales team: by email, and in the support chat."""

    email: str
    chat_url: str | None = None


@frozen
class Contact:
    """Who to contact instead, and for a partner, the date by which to tell them."""

    sales: SalesContact | None = None
    partner: Partner | None = None
    tell_partner_by: datetime | None = None
    """A partner customer who will not renew says so a week before the period ends."""

    def details(self) -> dict[str, Any]:
        """The contact as it goes into an error's details."""
        sales, partner = self.sales, self.partner
        return {
            "sales": None if sales is None else {"email": sales.email, "chat_url": sales.chat_url},
            "partner": None
            if partner is None
            else {"id": partner.id, "name": partner.name, "email": partner.email},
            "tell_partner_by": None
            if self.tell_partner_by is None
            else format_instant(self.tell_partner_by),
        }


def partner_contact(account: Account, subscription: Subscription | None) -> Contact:
    """The account's partner, and while `subscription` runs, the last day to tell the partner
    it should not be renewed."""
    if subscription is None or subscription.status is Status.CANCELLED:
        return Contact(partner=account.partner)
    return Contact(
        partner=account.partner, tell_partner_by=subscription.period.end - PARTNER_REMINDER_LEAD
    )
