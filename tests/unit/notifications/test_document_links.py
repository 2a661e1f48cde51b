"""The receipts link to the payment's invoice, and a refund's email to its credit note, when the
message names its number (the persistence adds it in the transaction that issues the document):
a page of the billing page that makes a fresh download link, since the link itself lasts
minutes and an email is read days later. Without a number, nothing is said of it."""

from __future__ import annotations

import pytest

from billing.domain.locales import Locale
from billing.domain.state_machine import EmailTemplate
from billing.notifications.emails import render
from tests.unit.notifications.test_emails import CUSTOMER, LINKS

pytestmark = pytest.mark.unit

PAID = {
    "purchase": "invoice",
    "renewal paid: renewal_receipt": "invoice",
    "scheduled retry paid: renewal_receipt": "invoice",
    "retry now paid: retry_now_result": "invoice",
    "refunded": "credit_note",
    "refunded and cancelled": "credit_note",
}
"""The emails of a payment or a refund, and the document each one names."""

WORDS = {
    ("invoice", Locale.EN): "Your invoice 00000042: ",
    ("invoice", Locale.FR): "Votre facture 00000042 : ",
    ("credit_note", Locale.EN): "Your credit note 00000042: ",
    ("credit_note", Locale.FR): "Votre avoir 00000042 : ",
}

PAGE = "https://app.example.com/billing/#/invoices/00000042"


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize("name", list(PAID))
def test_an_email_of_a_payment_links_to_its_document(name: str, locale: Locale) -> None:
    email, document = CUSTOMER[name], PAID[name]

    text = render(email.template, locale, {**email.details, document: "42"}, LINKS).text

    assert f"{WORDS[document, locale]}{PAGE}" in text


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize("name", list(CUSTOMER))
def test_an_email_without_a_document_says_nothing_of_one(name: str, locale: Locale) -> None:
    email = CUSTOMER[name]

    text = render(email.template, locale, email.details, LINKS).text

    assert "#/invoices/" not in text


def test_every_email_of_a_payment_or_a_refund_is_covered() -> None:
    paying = {
        EmailTemplate.PURCHASE_RECEIPT,
        EmailTemplate.RENEWAL_RECEIPT,
        EmailTemplate.RETRY_NOW_RESULT,
        EmailTemplate.PAYMENT_REFUNDED,
    }

    assert {CUSTOMER[name].template for name in PAID} == paying
