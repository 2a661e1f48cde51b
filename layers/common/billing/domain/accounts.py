"""Accounts: who the customer is, how they pay, and where invoices go."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from email.utils import parseaddr
from enum import StrEnum

from billing.domain.locales import Locale
from billing.domain.money import Money
from billing.domain.pricing import Discount
from billing.domain.subscription import Channel
from billing.domain.values import frozen


class PaymentProvider(StrEnum):
    STRIPE = "stripe"
    PAYPAL = "paypal"


class PaymentMethodKind(StrEnum):
    CARD = "card"
    PAYPAL = "paypal"


@frozen
class PaymentMethod:
    """A saved payment method: the provider's token and display data only, never a card number."""

    provider: PaymentProvider
    kind: PaymentMethodKind
    token: str
    """Stripe PaymentMethod id or PayPal vault payment token id."""
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    paypal_email: str | None = None
    saved_at: datetime | None = None
    updated_at: datetime | None = None
    """When the provider last changed the card's details (the card network's updater, a new
    expiry): a hard decline recorded before then was against the old details."""


@frozen
class Partner:
    id: str
    name: str
    email: str


@frozen
class BillingInfo:
    """The billing form. Validated at the API edge before it gets here."""

    name: str
    email: str
    address_line1: str
    city: str
    country: str
    """ISO 3166-1 alpha-2."""
    company: str | None = None
    address_line2: str | None = None
    postal_code: str | None = None
    region: str | None = None
    vat_id: str | None = None


@frozen
class PendingPurchase:
    """A purchase whose first charge is under way or not yet settled. It holds the account's one
    open slot from before the provider is called, so a concurrent purchase is refused without
    charging, and it keeps what is needed to open the subscription once the charge is known."""

    subscription_id: str
    plan_id: str
    cycle_months: int
    price: Money
    """Full price of one cycle."""
    discount: Discount | None
    at: datetime
    """The purchase instant: the subscription's anchor."""


class SuppressionReason(StrEnum):
    """Why an address must no longer receive our mail."""

    BOUNCE = "bounce"
    """A permanent (hard) bounce: the receiving server said the address does not exist or will
    never accept our mail."""
    COMPLAINT = "complaint"
    """The recipient reported one of our emails as spam (a feedback report from their mailbox
    provider)."""


def normalised_email(address: str) -> str:
    """`address` as suppressions compare it: the bare address (without a display name or angle
    brackets), stripped and in lower case.

    Lower case also for the local part: strictly it is the receiving server's to interpret, but
    mailbox providers treat it case-insensitively, and a suppression that misses ``Ada@x`` after
    ``ada@x`` bounced would send to an address known to be dead.
    """
    _, bare = parseaddr(address)
    return (bare or address).strip().lower()


@frozen
class SuppressedEmail:
    """An address of the account's mail that must no longer receive any, and why."""

    address: str
    """Normalised (`normalised_email`)."""
    reason: SuppressionReason
    at: datetime
    """When the mailbox provider reported it (UTC, to the second)."""
    detail: str | None = None
    """What SES said: the bounce subtype (``General``, ``NoEmail``, ``Suppressed``,
    ``OnAccountSuppressionList``…) or the complaint's feedback type (``abuse``, ``fraud``…)."""


@frozen
class Account:
    id: str
    email: str
    locale: Locale = Locale.EN
    domain_zone: str = "com"
    channel: Channel = Channel.DIRECT
    partner: Partner | None = None
    billing_info: BillingInfo | None = None
    payment_method: PaymentMethod | None = None
    stripe_customer_id: str | None = None
    open_subscription_id: str | None = None
    """The account's one subscription that is not cancelled, if any."""
    pending_purchase: PendingPurchase | None = None
    suppressed_emails: tuple[SuppressedEmail, ...] = ()
    """Addresses that bounced for good or complained, oldest first: not to be emailed again,
    save for the emails the law requires (docs/notifications.md)."""
    version: int = 0

    @property
    def payment_method_kind(self) -> PaymentMethodKind | None:
        return None if self.payment_method is None else self.payment_method.kind

    def suppression(self, address: str) -> SuppressedEmail | None:
        """The first record that `address` (in any case or form) must no longer be emailed,
        or None when it may be."""
        wanted = normalised_email(address)
        return next((s for s in self.suppressed_emails if s.address == wanted), None)

    def is_suppressed(self, address: str) -> bool:
        """Whether `address` (in any case or form) must no longer be emailed."""
        return self.suppression(address) is not None

    def suppressing(self, *entries: SuppressedEmail) -> tuple[Account, tuple[SuppressedEmail, ...]]:
        """The account with `entries` added, and those of them that were new: an address is
        recorded once per reason, so a bounce or complaint reported again changes nothing, and
        a complaint about an address that had bounced is kept beside the bounce."""
        known = {(s.address, s.reason) for s in self.suppressed_emails}
        added: list[SuppressedEmail] = []
        for given in entries:
            entry = replace(given, address=normalised_email(given.address))
            if (entry.address, entry.reason) not in known:
                known.add((entry.address, entry.reason))
                added.append(entry)
        if not added:
            return self, ()
        return replace(self, suppressed_emails=(*self.suppressed_emails, *added)), tuple(added)
