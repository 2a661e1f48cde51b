"""Invoices and credit notes as issued, built straight from the domain's dataclasses: a French
consumer's invoice with French VAT, a Belgian business's reverse-charged one, a US customer's
outside the EU, and a credit note correcting the first."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from billing.domain.accounts import Party
from billing.domain.billing_calendar import Period
from billing.domain.invoices import Document, DocumentKind, default_seller
from billing.domain.money import Currency, Money
from billing.domain.tax import Tax, TaxRule, vat_on

ISSUED = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
PERIOD = Period(ISSUED, datetime(2026, 2, 28, 9, 30, tzinfo=UTC))


def _tax(rule: TaxRule, country: str, rate: int, net: int, currency: Currency) -> Tax:
    money = Money(net, currency)
    return Tax(rule, country, rate, money, vat_on(money, rate))


def invoice(number: int = 42, *, account_id: str = "acct-fr", net: int = 139_000) -> Document:
    """A French consumer's invoice: 20 % VAT on `net` euro cents."""
    return Document(
        number=number,
        kind=DocumentKind.INVOICE,
        issued_at=ISSUED,
        seller=default_seller(),
        buyer=Party("Jeanne Dupont", ("8 rue des Lilas", "69003 Lyon", "France"), "FR"),
        description="Abonnement Pro, 1 mois",
        period=PERIOD,
        tax=_tax(TaxRule.DOMESTIC, "FR", 2000, net, Currency.EUR),
        account_id=account_id,
        subscription_id="sub_fr",
        payment_id="pay_fr",
    )


def reverse_charged(number: int = 43) -> Document:
    """A Belgian business's invoice, its VAT ID confirmed: no VAT, "Autoliquidation"."""
    return replace(
        invoice(number, account_id="acct-be"),
        buyer=Party(
            "Brasserie Lambic SA",
            ("Rue Haute 12", "1000 Bruxelles", "Belgique"),
            "BE",
            "BE0123456749",
        ),
        tax=_tax(TaxRule.REVERSE_CHARGE, "BE", 0, 139_000, Currency.EUR),
        subscription_id="sub_be",
        payment_id="pay_be",
    )


def outside_eu(number: int = 44) -> Document:
    """A US customer's invoice in dollars: no EU VAT."""
    return replace(
        invoice(number, account_id="acct-us"),
        buyer=Party("Acme Inc.", ("1 Market St", "San Francisco, CA 94105", "United States"), "US"),
        tax=_tax(TaxRule.OUTSIDE_EU, "US", 0, 4900, Currency.USD),
        subscription_id="sub_us",
        payment_id="pay_us",
    )


def credit_note(number: int = 45, corrects: int = 42) -> Document:
    """Part of the French consumer's invoice `corrects` given back: 500.00 € gross."""
    original = invoice(corrects)
    return replace(
        original,
        number=number,
        kind=DocumentKind.CREDIT_NOTE,
        issued_at=datetime(2026, 2, 3, 14, 0, tzinfo=UTC),
        tax=original.tax.part(Money(50_000, Currency.EUR)),
        credits=corrects,
        refund_key="re_1",
    )
