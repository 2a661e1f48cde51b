"""What the API answers with: the shapes of subscriptions, attempts, audit entries,
plans and billing information, built from domain objects."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Self

from pydantic import BaseModel, ConfigDict

from billing.changes import ChangeResult
from billing.domain.accounts import Account, Partner, PaymentMethod, SuppressedEmail, VatIdCheck
from billing.domain.billing_calendar import format_instant
from billing.domain.charges import ChargeAttempt, Refund
from billing.domain.contacts import Contact, SalesContact
from billing.domain.failures import explain
from billing.domain.invoices import reference
from billing.domain.locales import Locale
from billing.domain.money import Money
from billing.domain.payment_update import UpdateDecision
from billing.domain.pricing import Catalogue
from billing.domain.state_machine import Audit
from billing.domain.subscription import Failure, Subscription
from billing.domain.tax import Tax, TaxRule, default_rates, rule_for

if TYPE_CHECKING:
    from billing.operations.billing_profile import SavedMethod
    from billing.operations.confirmations import PaymentConfirmation
    from billing.operations.invoices import DownloadLink
    from billing.providers.gateway import UpdateStart


class View(BaseModel):
    """A response shape. Its validator is built on first use, not at import: each function
    answers with a few of these, and building them all would lengthen every cold start."""

    model_config = ConfigDict(defer_build=True)

    @classmethod
    def _copied(cls, value: object, **computed: object) -> Self:
        """The view of `value`: each field named in `computed` is given there; every other is
        `value`'s attribute of the same name as `_shown` writes it, so declaring a field in the
        view is all it takes to show one."""
        copied = {
            name: _shown(getattr(value, name)) for name in cls.model_fields if name not in computed
        }
        return cls.model_validate(copied | computed)


def _instant(value: Any) -> str | None:
    return None if value is None else format_instant(value)


def _shown(value: object) -> object:
    """A domain value as the API shows it: enums by value, instants formatted, amounts in minor
    units (the currency is a field of its own), dataclasses as objects of their fields."""
    match value:
        case Enum():
            return value.value
        case datetime():
            return format_instant(value)
        case Money():
            return value.amount
        case _ if is_dataclass(value) and not isinstance(value, type):
            return {field.name: _shown(getattr(value, field.name)) for field in fields(value)}
        case _:
            return value


class FailureView(View):
    reason: str
    message: str
    action: str
    action_text: str
    at: str

    @classmethod
    def of(cls, failure: Failure | None, locale: Locale) -> FailureView | None:
        explained = None if failure is None else explain(failure.reason, locale)
        if failure is None or explained is None:
            return None
        return cls(
            reason=failure.reason.value,
            message=explained.message,
            action=explained.action.value,
            action_text=explained.action_text,
            at=format_instant(failure.at),
        )


class DiscountView(View):
    coupon: str
    amount_off: int
    cycles: int


class TaxView(View):
    """How a payment splits into net and VAT, and why (the rule of the customer's country and
    status when it was charged)."""

    rule: str
    country: str | None
    rate: str
    """A percentage, e.g. ``20`` or ``25.5``."""
    net: int
    vat: int
    gross: int
    legal_mention: str | None
    """What the invoice says of VAT not charged (reverse charge, outside the EU)."""

    @classmethod
    def of(cls, tax: Tax | None) -> Self | None:
        if tax is None:
            return None
        return cls._copied(tax, rate=tax.percent(), gross=tax.gross.amount)


class SubscriptionView(View):
    id: str
    account_id: str
    plan_id: str
    cycle_months: int
    currency: str
    price: int
    status: str
    auto_renew: bool
    channel: str
    access: bool
    current_period_start: str
    current_period_end: str
    next_charge_at: str | None
    next_charge_amount: int | None
    failed_attempts: int
    retries_left: int
    last_failure: FailureView | None
    cancelled_at: str | None
    cancel_reason: str | None
    discount: DiscountView | None
    disputed_payment_id: str | None
    """A disputed payment holding automatic charges until sales clears it."""
    next_charge_tax: TaxView | None
    """``next_charge_amount`` (net) with the VAT the account would pay on it today (its billing
    country and VAT ID as they are now): what the next charge takes. None when nothing is due,
    or in a list read without the accounts (sales' follow-ups)."""

    @classmethod
    def of(cls, sub: Subscription, locale: Locale, account: Account | None = None) -> Self:
        """The view of `sub`: the period, the explained last failure and the next charge's tax
        (with the `account`'s billing information) computed, every other field copied from the
        subscription by name."""
        period = sub.period
        due, amount = sub.next_charge_at, sub.next_charge_amount
        tax = (
            None
            if account is None or due is None or amount is None
            else account.tax_on(amount, due)
        )
        return cls._copied(
            sub,
            current_period_start=format_instant(period.start),
            current_period_end=format_instant(period.end),
            last_failure=FailureView.of(sub.last_failure, locale),
            next_charge_tax=TaxView.of(tax),
        )

    @classmethod
    def for_account(cls, sub: Subscription, account: Account) -> Self:
        """The view of `sub` as its `account` reads it: in its locale, with the VAT it pays."""
        return cls.of(sub, account.locale, account)


class DocumentView(View):
    """An invoice or credit note issued for a payment: its number and where to download it."""

    number: int
    reference: str
    """The number as printed on the document."""
    download: str
    """The API's path that answers with a short-lived link to its PDF."""

    @classmethod
    def of(cls, number: int | None) -> Self | None:
        if number is None:
            return None
        return cls(number=number, reference=reference(number), download=f"/invoices/{number}")


class RefundView(View):
    amount: int
    at: str
    by: str
    """Who gave it back: a sales user's id, or the provider (a refund made in its dashboard)."""
    by_actor: str
    status: str
    reference: str | None
    credit_note: DocumentView | None

    @classmethod
    def of(cls, refund: Refund) -> Self:
        return cls._copied(
            refund,
            by=refund.by.id,
            by_actor=refund.by.actor.value,
            credit_note=DocumentView.of(refund.credit_note),
        )


class DisputeView(View):
    status: str
    reason: str
    amount: int
    opened_at: str
    closed_at: str | None


class AttemptView(View):
    id: str
    subscription_id: str
    kind: str
    amount: int
    currency: str
    status: str
    failure_reason: str | None
    provider: str | None
    provider_reference: str | None
    created_at: str
    refunded: int
    """Given back so far (succeeded and pending refunds), in minor units."""
    refunds: list[RefundView]
    dispute: DisputeView | None
    tax: TaxView | None
    """``amount`` as net and VAT; None for a payment charged before VAT was computed."""
    invoice: DocumentView | None

    @classmethod
    def of(cls, attempt: ChargeAttempt) -> Self:
        """The view of `attempt`: its amount's currency, tax, invoice and refunds given, every
        other field copied from the attempt by name (its ``id`` too, the provider's idempotency
        key)."""
        return cls._copied(
            attempt,
            currency=attempt.amount.currency.value,
            refunds=[RefundView.of(refund) for refund in attempt.refunds],
            tax=TaxView.of(attempt.tax),
            invoice=DocumentView.of(attempt.invoice),
        )


class ConfirmationView(View):
    """A payment and, while its customer can confirm it with their bank (3-D Secure), what
    their page runs Stripe.js with: ``stripe.confirmCardPayment(client_secret, {payment_method})``
    or ``stripe.handleNextAction({clientSecret})`` for ``requires_action``."""

    payment: AttemptView
    status: str | None
    """The provider's status of the payment (Stripe's ``requires_action``,
    ``requires_payment_method``…); None when there is nothing to confirm."""
    client_secret: str | None
    publishable_key: str | None
    payment_method: str | None
    """The saved method the payment was made with."""

    @classmethod
    def of(cls, found: PaymentConfirmation) -> Self:
        confirmation = found.confirmation
        return cls(
            payment=AttemptView.of(found.payment),
            status=None if confirmation is None else confirmation.status,
            client_secret=None if confirmation is None else confirmation.client_secret,
            publishable_key=None if confirmation is None else confirmation.publishable_key,
            payment_method=None if confirmation is None else found.payment.payment_method_id,
        )


class AttemptOutcome(View):
    """The outcome of the attempt a Retry Now or a sales recharge made."""

    status: str
    failure_reason: str | None
    message: str | None
    action: str | None


class ChargedSubscriptionView(SubscriptionView):
    """The subscription after Retry Now or a sales recharge, with the attempt it made."""

    attempt: AttemptOutcome | None

    @classmethod
    def of_result(cls, result: ChangeResult) -> ChargedSubscriptionView:
        view = SubscriptionView.for_account(result.subscription, result.account)
        attempt = result.attempt
        outcome = None
        if attempt is not None:
            reason = attempt.failure_reason
            explained = None if reason is None else explain(reason, result.account.locale)
            outcome = AttemptOutcome(
                status=attempt.status.value,
                failure_reason=None if reason is None else reason.value,
                message=None if explained is None else explained.message,
                action=None if explained is None else explained.action_text,
            )
        return cls(**view.model_dump(), attempt=outcome)


class AuditView(View):
    actor: str
    requested_by: str | None
    """Who asked: a user id, a partner id or ``scheduler``."""
    action: str
    from_status: str | None
    to_status: str | None
    """None for entries about the account rather than a subscription's status."""
    at: str
    details: dict[str, str]

    @classmethod
    def of(cls, entry: Audit) -> AuditView:
        return cls(
            actor=entry.actor.value,
            requested_by=entry.by,
            action=entry.action,
            from_status=None if entry.from_status is None else entry.from_status.value,
            to_status=None if entry.to_status is None else entry.to_status.value,
            at=format_instant(entry.at),
            details=dict(entry.details),
        )


class PlanView(View):
    id: str
    name: str
    prices: dict[str, dict[str, int]]
    """Currency → cycle length in months → price of one cycle in minor units."""


class CatalogueView(View):
    version: str
    items: list[PlanView]

    @classmethod
    def of(cls, catalogue: Catalogue) -> CatalogueView:
        return cls(
            version=catalogue.version,
            items=[
                PlanView(
                    id=plan.id,
                    name=plan.name,
                    prices={
                        currency.value: {str(months): price.amount for months, price in by.items()}
                        for currency, by in plan.prices.items()
                    },
                )
                for plan in catalogue.plans.values()
            ],
        )


class PaymentMethodView(View):
    """Display data only: the provider's token stays on our side."""

    provider: str
    kind: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    paypal_email: str | None

    @classmethod
    def of(cls, method: PaymentMethod | None) -> PaymentMethodView | None:
        if method is None:
            return None
        return cls(
            provider=method.provider.value,
            kind=method.kind.value,
            brand=method.brand,
            last4=method.last4,
            exp_month=method.exp_month,
            exp_year=method.exp_year,
            paypal_email=method.paypal_email,
        )


class VatIdCheckView(View):
    """What VIES last said of the VAT ID (docs/tax.md)."""

    status: str
    """``valid``, ``invalid``, or ``unchecked``: VIES did not answer, asked again later."""
    checked_at: str
    next_check_at: str | None
    """When an unchecked VAT ID is asked about again (at the next charge from then on)."""

    @classmethod
    def of(cls, check: VatIdCheck | None) -> VatIdCheckView | None:
        return None if check is None else cls._copied(check)


def _reverse_charged(account: Account, country: str) -> bool:
    confirmed = account.confirmed_vat_id is not None
    rule = rule_for(country, confirmed_vat_id=confirmed, rates=default_rates())
    return rule is TaxRule.REVERSE_CHARGE


class BillingInfoView(View):
    name: str
    company: str | None
    email: str
    address_line1: str
    address_line2: str | None
    city: str
    postal_code: str | None
    region: str | None
    country: str
    vat_id: str | None
    vat_id_check: VatIdCheckView | None
    """None when VIES is not asked about the VAT ID: none given, French, or outside the EU."""
    reverse_charged: bool
    """Whether charges bear no VAT, the customer accounting for it (an EU business outside
    France whose VAT ID VIES confirmed)."""

    @classmethod
    def of(cls, account: Account) -> BillingInfoView | None:
        info = account.billing_info
        if info is None:
            return None
        return cls(
            name=info.name,
            company=info.company,
            email=info.email,
            address_line1=info.address_line1,
            address_line2=info.address_line2,
            city=info.city,
            postal_code=info.postal_code,
            region=info.region,
            country=info.country,
            vat_id=info.vat_id,
            vat_id_check=VatIdCheckView.of(account.vat_id_check),
            reverse_charged=_reverse_charged(account, info.country),
        )


class UpdateFlowView(View):
    flow: str
    rule: str
    why: str

    @classmethod
    def of(cls, decision: UpdateDecision) -> UpdateFlowView:
        return cls(flow=decision.flow.value, rule=decision.rule_id, why=decision.why)


class PartnerContactView(View):
    id: str
    name: str
    email: str

    @classmethod
    def of(cls, partner: Partner | None) -> PartnerContactView | None:
        if partner is None:
            return None
        return cls(id=partner.id, name=partner.name, email=partner.email)


class SalesContactView(View):
    email: str
    chat_url: str | None

    @classmethod
    def of(cls, sales: SalesContact | None) -> SalesContactView | None:
        return None if sales is None else cls(email=sales.email, chat_url=sales.chat_url)


class ContactView(View):
    """Whom to contact when the change is not self-service: sales, or the partner (with the
    last day to tell them a running subscription should not be renewed)."""

    sales: SalesContactView | None
    partner: PartnerContactView | None
    tell_partner_by: str | None

    @classmethod
    def of(cls, contact: Contact | None) -> ContactView | None:
        if contact is None:
            return None
        return cls(
            sales=SalesContactView.of(contact.sales),
            partner=PartnerContactView.of(contact.partner),
            tell_partner_by=_instant(contact.tell_partner_by),
        )


class BillingView(View):
    billing_info: BillingInfoView | None
    payment_method: PaymentMethodView | None
    update_flow: UpdateFlowView
    contact: ContactView | None
    locale: str
    """The account's language (``en``, ``fr``): the customer's page starts in it."""

    @classmethod
    def of(cls, account: Account, decision: UpdateDecision, contact: Contact | None) -> BillingView:
        return cls(
            billing_info=BillingInfoView.of(account),
            payment_method=PaymentMethodView.of(account.payment_method),
            update_flow=UpdateFlowView.of(decision),
            contact=ContactView.of(contact),
            locale=account.locale.value,
        )


class MethodUpdateView(View):
    """How to go on with a payment-method update: complete it on the frontend with the client
    secret or the approval URL, or contact the partner or sales."""

    flow: str
    why: str
    provider: str | None
    reference: str | None
    client_secret: str | None
    approval_url: str | None
    partner: PartnerContactView | None
    contact: ContactView | None

    @classmethod
    def of(
        cls,
        decision: UpdateDecision,
        account: Account,
        start: UpdateStart | None,
        contact: Contact | None,
    ) -> MethodUpdateView:
        return cls(
            flow=decision.flow.value,
            why=decision.why,
            provider=None if start is None else start.provider.value,
            reference=None if start is None else start.reference,
            client_secret=None if start is None else start.client_secret,
            approval_url=None if start is None else start.approval_url,
            partner=PartnerContactView.of(account.partner),
            contact=ContactView.of(contact),
        )


class SavedMethodView(View):
    payment_method: PaymentMethodView | None
    retried: ChargedSubscriptionView | None
    """The past-due subscription retried at once with the new method, if any."""
    retry_refused: str | None
    """Why that retry did not run, as an error code (e.g. retry_in_progress)."""

    @classmethod
    def of(cls, saved: SavedMethod) -> SavedMethodView:
        refused = saved.retry_refused
        return cls(
            payment_method=PaymentMethodView.of(saved.account.payment_method),
            retried=None
            if saved.retried is None
            else ChargedSubscriptionView.of_result(saved.retried),
            retry_refused=None if refused is None else refused.code.value,
        )


class SuppressedEmailView(View):
    """An address no longer emailed, for staff: why, and when it was reported."""

    address: str
    reason: str
    """``bounce`` (a permanent bounce) or ``complaint`` (reported as spam)."""
    detail: str | None
    """SES's bounce subtype or complaint feedback type, e.g. ``NoEmail``, ``abuse``."""
    at: str

    @classmethod
    def of(cls, suppressed: SuppressedEmail) -> SuppressedEmailView:
        return cls._copied(suppressed)


class AccountView(View):
    """An account as staff see it (admin routes only: customers never get this view)."""

    id: str
    email: str
    locale: str
    domain_zone: str
    channel: str
    partner: PartnerContactView | None
    open_subscription_id: str | None
    suppressed_emails: list[SuppressedEmailView]
    """Addresses of the account's mail that bounced for good or complained, oldest first."""

    @classmethod
    def of(cls, account: Account) -> AccountView:
        return cls(
            id=account.id,
            email=account.email,
            locale=account.locale.value,
            domain_zone=account.domain_zone,
            channel=account.channel.value,
            partner=PartnerContactView.of(account.partner),
            open_subscription_id=account.open_subscription_id,
            suppressed_emails=[SuppressedEmailView.of(s) for s in account.suppressed_emails],
        )


class DocumentLinkView(View):
    """Where to download an invoice or a credit note as PDF, until `expires_at`."""

    number: int
    reference: str
    """The number as printed on the document: ``00000042``."""
    kind: str
    """``invoice`` or ``credit_note``."""
    url: str
    expires_at: str

    @classmethod
    def of(cls, link: DownloadLink) -> Self:
        document = link.document
        return cls(
            number=document.number,
            reference=document.reference,
            kind=document.kind.value,
            url=link.url,
            expires_at=format_instant(link.expires_at),
        )


class Page[T](View):
    items: list[T]
