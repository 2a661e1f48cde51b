"""Invoices and credit notes: the documents French law requires for every payment and refund.

Every succeeded payment gets an invoice, and every refund given back a credit note that refers
to the payment's invoice. Both are numbered in one sequence per legal entity (the seller),
continuous and without a gap: the number is allocated in the same DynamoDB transaction that
records the payment or the refund (`billing.persistence`), so a number exists exactly when its
document does. A document, once issued, never changes; a correction is a credit note and, if
need be, a new payment's invoice.

What a document says is decided here, from the payment as it was charged (its tax and its
buyer, both fixed when the charge was claimed) and the seller's identity (``billing/data/
seller.json``); `billing.invoices` renders it as PDF.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from functools import cache
from importlib import resources

from billing.domain.accounts import Party
from billing.domain.billing_calendar import Period, billing_period
from billing.domain.charges import ChargeAttempt, ChargeStatus, Refund, RefundStatus
from billing.domain.money import Money
from billing.domain.outbox import OutboxMessage
from billing.domain.pricing import default_catalogue
from billing.domain.state_machine import EmailCustomer, EmailTemplate
from billing.domain.subscription import Subscription
from billing.domain.tax import Tax
from billing.domain.values import frozen


def reference(number: int) -> str:
    """A document's number as printed: zero-padded, so that numbers sort as they were issued."""
    return f"{number:08d}"


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


@frozen
class Seller:
    """The legal entity that sells and invoices: its own sequence of numbers."""

    entity: str
    """Names the entity's sequence of document numbers."""
    party: Party
    legal_form: str
    """Its legal form and share capital, e.g. ``SAS au capital de 50 000 €``."""
    siren: str
    rcs: str
    terms: tuple[str, ...]
    """Payment terms and the late-payment penalties a French invoice states."""


@frozen
class Document:
    """An invoice or a credit note, as issued: never changed afterwards."""

    number: int
    kind: DocumentKind
    issued_at: datetime
    seller: Seller
    buyer: Party
    description: str
    period: Period
    tax: Tax
    """Net, rate, VAT and the rule that applied; a credit note's are the amounts given back."""
    account_id: str
    subscription_id: str
    payment_id: str
    credits: int | None = None
    """The invoice a credit note corrects; None for an invoice."""
    refund_key: str | None = None
    """The refund a credit note records (its key, or the provider's refund id)."""

    @property
    def reference(self) -> str:
        return reference(self.number)


@frozen
class Issued:
    """A payment with the documents it was owed now numbered, and those documents."""

    payment: ChargeAttempt
    documents: tuple[Document, ...]


def owes_documents(payment: ChargeAttempt) -> int:
    """How many documents `payment` is owed: its invoice once it succeeded, and a credit note
    for each refund given back. A payment charged without a tax (before VAT was computed at
    each charge) is owed none."""
    if payment.tax is None or payment.status is not ChargeStatus.SUCCEEDED:
        return 0
    return (payment.invoice is None) + sum(1 for r in payment.refunds if _owes_credit_note(r))


def _owes_credit_note(refund: Refund) -> bool:
    return refund.status is RefundStatus.SUCCEEDED and refund.credit_note is None


def issue(
    payment: ChargeAttempt,
    subscription: Subscription,
    numbers: Iterator[int],
    at: datetime,
    seller: Seller | None = None,
) -> Issued:
    """Number the documents `payment` is owed (`owes_documents`), taking `numbers` in turn."""
    seller = seller or default_seller()
    tax, buyer = payment.tax, payment.buyer
    if tax is None or buyer is None or not owes_documents(payment):
        return Issued(payment, ())
    period = billing_period(subscription.anchor, subscription.cycle_months, payment.cycle)
    plan = default_catalogue().plans.get(subscription.plan_id)
    name = subscription.plan_id if plan is None else plan.name
    months = subscription.cycle_months
    description = f"Abonnement {name}, {months} mois"

    def document(kind: DocumentKind, number: int, tax: Tax, **extra: object) -> Document:
        return Document(
            number=number,
            kind=kind,
            issued_at=at,
            seller=seller,
            buyer=buyer,
            description=description,
            period=period,
            tax=tax,
            account_id=payment.account_id,
            subscription_id=payment.subscription_id,
            payment_id=payment.id,
            **extra,  # type: ignore[arg-type]
        )

    documents: list[Document] = []
    invoice = payment.invoice
    if invoice is None:
        invoice = next(numbers)
        documents.append(document(DocumentKind.INVOICE, invoice, tax))
    refunds: list[Refund] = []
    for given, share in zip(payment.refunds, _shares(tax, payment.refunds), strict=True):
        refund = given
        if _owes_credit_note(refund):
            assert share is not None
            number = next(numbers)
            documents.append(
                document(
                    DocumentKind.CREDIT_NOTE,
                    number,
                    share,
                    credits=invoice,
                    refund_key=refund.key or refund.reference,
                )
            )
            refund = replace(refund, credit_note=number)
        refunds.append(refund)
    return Issued(replace(payment, invoice=invoice, refunds=tuple(refunds)), tuple(documents))


_NAMES_ITS_DOCUMENT: Mapping[EmailTemplate, DocumentKind] = {
    EmailTemplate.PURCHASE_RECEIPT: DocumentKind.INVOICE,
    EmailTemplate.RENEWAL_RECEIPT: DocumentKind.INVOICE,
    EmailTemplate.RETRY_NOW_RESULT: DocumentKind.INVOICE,
    EmailTemplate.PAYMENT_REFUNDED: DocumentKind.CREDIT_NOTE,
}
"""The customer emails that link to the document their change issued: a receipt to the payment's
invoice, a refund's confirmation to its credit note."""


def naming_documents(
    messages: Sequence[OutboxMessage], documents: Sequence[Document]
) -> tuple[OutboxMessage, ...]:
    """`messages` of a change that issued `documents`, each receipt and refund email naming the
    number of the document of its kind (``invoice``, ``credit_note`` in its details): the
    number is only known in the transaction that writes them both."""
    numbers: dict[DocumentKind, int] = {}
    for document in documents:
        numbers.setdefault(document.kind, document.number)
    named: list[OutboxMessage] = []
    for message in messages:
        effect = message.message
        if (
            isinstance(effect, EmailCustomer)
            and _NAMES_ITS_DOCUMENT.get(effect.template) in numbers
        ):
            kind = _NAMES_ITS_DOCUMENT[effect.template]
            details = {**effect.details, kind.value: str(numbers[kind])}
            named.append(replace(message, message=replace(effect, details=details)))
        else:
            named.append(message)
    return tuple(named)


def _shares(tax: Tax, refunds: tuple[Refund, ...]) -> list[Tax | None]:
    """Each refund given back as its share of the invoice's net and VAT (None for one not given
    back). Split at the invoice's rate; the refund that completes the whole takes what is left
    of the net, so that the credit notes of a payment refunded in full add up to its invoice
    to the cent."""
    shares: list[Tax | None] = []
    given, net = Money(0, tax.net.currency), Money(0, tax.net.currency)
    for refund in refunds:
        if refund.status is not RefundStatus.SUCCEEDED:
            shares.append(None)
            continue
        given += refund.amount
        share = tax.part(refund.amount)
        if given == tax.gross:
            rest = tax.net - net
            share = replace(share, net=rest, vat=refund.amount - rest)
        net += share.net
        shares.append(share)
    return shares


def parse_seller(raw: dict[str, object]) -> Seller:
    address = tuple(str(line) for line in raw["address"])  # type: ignore[attr-defined]
    return Seller(
        entity=str(raw["entity"]),
        party=Party(str(raw["name"]), address, str(raw["country"]), str(raw["vat_id"])),
        legal_form=str(raw["legal_form"]),
        siren=str(raw["siren"]),
        rcs=str(raw["rcs"]),
        terms=tuple(str(t) for t in raw["terms"]),  # type: ignore[attr-defined]
    )


@cache
def default_seller() -> Seller:
    """The seller shipped in the layer, read once per process."""
    text = resources.files("billing").joinpath("data/seller.json").read_text("utf-8")
    return parse_seller(json.loads(text))
