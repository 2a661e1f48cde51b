"""Accounts: who the customer is, how they pay, and where invoices go."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from email.utils import parseaddr
from enum import StrEnum

from billing.domain.addresses import countries
from billing.domain.locales import Locale
from billing.domain.money import Money
from billing.domain.pricing import Discount
from billing.domain.subscription import Channel
from billing.domain.tax import Tax, taxed
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
class Party:
    """Someone named on an invoice: the seller, or the buyer as their billing information said
    when they were charged."""

    name: str
    address: tuple[str, ...]
    """Postal address lines, the country's name last."""
    country: str | None
    vat_id: str | None = None


class VatIdStatus(StrEnum):
    VALID = "valid"
    """VIES confirmed it: an EU business elsewhere than France is reverse-charged."""
    INVALID = "invalid"
    """VIES said it is not a valid VAT number: taxed as a consumer."""
    UNCHECKED = "unchecked"
    """VIES did not answer: taxed as a consumer meanwhile, checked again at `next_check_at`."""


@frozen
class VatIdCheck:
    """What the EU's VIES service last said of the account's VAT ID."""

    vat_id: str
    """The VAT ID checked, normalised (country prefix and digits, no separators)."""
    status: VatIdStatus
    checked_at: datetime
    next_check_at: datetime | None = None
    """When an unchecked VAT ID is to be checked again; None once VIES answered."""
    consultation: str | None = None
    """VIES's consultation number for a confirmed ID: the seller's proof that it checked."""


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
    vat_id_check: VatIdCheck | None = None
    version: int = 0

    @property
    def confirmed_vat_id(self) -> str | None:
        """The billing information's VAT ID if VIES confirmed it, as last checked."""
        check, info = self.vat_id_check, self.billing_info
        if check is None or info is None or info.vat_id is None:
            return None
        if check.status is not VatIdStatus.VALID or check.vat_id != info.vat_id:
            return None
        return check.vat_id

    def party(self) -> Party:
        """The buyer as an invoice names them: the company (or the person) and the billing
        address; only the email when no billing information was given."""
        info = self.billing_info
        if info is None:
            return Party(self.email, (), None)
        country = countries().get(info.country)
        lines = (
            *([info.name] if info.company else []),
            info.address_line1,
            *([info.address_line2] if info.address_line2 else []),
            " ".join(p for p in (info.postal_code, info.city, info.region) if p),
            info.country if country is None else country.name,
        )
        return Party(info.company or info.name, lines, info.country, info.vat_id)

    def tax_on(self, net: Money, at: datetime) -> Tax:
        """The VAT this account pays on `net` charged at `at`."""
        country = None if self.billing_info is None else self.billing_info.country
        return taxed(net, country, confirmed_vat_id=self.confirmed_vat_id is not None, at=at)

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
