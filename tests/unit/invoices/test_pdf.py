"""The invoice's PDF, read back with a PDF library (pypdf) as an accountant's tool would: every
mention French law requires is in its text, for an invoice with French VAT, a reverse-charged
one, one outside the EU and a credit note; the same document always gives the same bytes."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from pypdf import PdfReader

from billing.domain.accounts import Party
from billing.domain.invoices import Document
from billing.domain.money import Currency, Money
from billing.domain.tax import LEGAL_MENTIONS, TaxRule
from billing.invoices.pdf import NBSP, amount, render, winansi, wrapped
from tests.support.documents import credit_note, invoice, outside_eu, reverse_charged

pytestmark = pytest.mark.unit


def text_of(pdf: bytes) -> str:
    """The page's text with its lines joined and its no-break spaces as plain ones, so that a
    mention wrapped over two lines still reads whole."""
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    return " ".join(reader.pages[0].extract_text().replace(NBSP, " ").split())


def _seller_mentions(document: Document) -> list[str]:
    seller = document.seller
    return [
        seller.party.name,
        *seller.party.address,
        seller.legal_form,
        f"SIREN {seller.siren}",
        seller.rcs,
        f"N° TVA intracommunautaire : {seller.party.vat_id}",
        *seller.terms,
    ]


def _buyer_mentions(document: Document) -> list[str]:
    buyer = document.buyer
    return [buyer.name, *buyer.address, *([buyer.vat_id] if buyer.vat_id else [])]


def test_an_invoice_with_french_vat_carries_every_mandatory_mention() -> None:
    document = invoice(42, net=139_000)

    text = text_of(render(document))

    expected = [
        "FACTURE",
        "N° 00000042",
        "Date : 31/01/2026",
        *_seller_mentions(document),
        *_buyer_mentions(document),
        "Abonnement Pro, 1 mois",
        "du 31/01/2026 au 28/02/2026",
        "Total HT 1 390,00 €",
        "TVA 20 % sur 1 390,00 € 278,00 €",
        "Total TTC 1 668,00 €",
    ]
    assert [mention for mention in expected if mention not in text] == []
    assert "Autoliquidation" not in text
    assert "Avoir" not in text


def test_a_reverse_charged_invoice_names_both_vat_numbers_and_says_autoliquidation() -> None:
    document = reverse_charged(43)

    text = text_of(render(document))

    expected = [
        "FACTURE",
        "N° 00000043",
        *_seller_mentions(document),
        *_buyer_mentions(document),
        "N° TVA intracommunautaire : BE0123456749",
        "TVA 0 % sur 1 390,00 € 0,00 €",
        "Total TTC 1 390,00 €",
        LEGAL_MENTIONS[TaxRule.REVERSE_CHARGE],
    ]
    assert [mention for mention in expected if mention not in text] == []
    assert text.count("Autoliquidation") == 1


def test_an_invoice_outside_the_eu_says_why_no_vat_is_charged() -> None:
    text = text_of(render(outside_eu(44)))

    assert LEGAL_MENTIONS[TaxRule.OUTSIDE_EU] in text
    assert "Total TTC 49,00 $ US" in text


def test_a_credit_note_names_the_invoice_it_corrects_and_the_amounts_given_back() -> None:
    document = credit_note(45, corrects=42)

    text = text_of(render(document))

    expected = [
        "AVOIR",
        "N° 00000045",
        "Date : 03/02/2026",
        "Avoir sur la facture n° 00000042",
        *_seller_mentions(document),
        *_buyer_mentions(document),
        "Total HT 416,67 €",
        "TVA 20 % sur 416,67 € 83,33 €",
        "Total TTC 500,00 €",
    ]
    assert [mention for mention in expected if mention not in text] == []
    assert "FACTURE" not in text


def test_the_same_document_gives_the_same_bytes_dated_on_its_issue_date() -> None:
    first = render(invoice())

    assert render(invoice()) == first
    assert render(invoice(43)) != first
    metadata = PdfReader(io.BytesIO(first)).metadata
    assert metadata is not None
    assert str(metadata["/CreationDate"]) == "D:20260131093000Z"
    assert metadata.title == "Facture 00000042"


def test_a_name_outside_windows_1252_keeps_its_letters_without_their_accents() -> None:
    document = replace(invoice(), buyer=Party("Dvořák s.r.o. Łódź", ("Praha",), "CZ"))

    text = text_of(render(document))

    assert "Dvorák s.r.o. ?ódz" in text
    assert winansi("Ωmega") == b"?mega"


@pytest.mark.parametrize(
    ("minor_units", "currency", "written"),
    [
        (0, Currency.EUR, "0,00 €"),
        (5, Currency.EUR, "0,05 €"),
        (166_800, Currency.EUR, "1 668,00 €"),
        (123_456_789, Currency.EUR, "1 234 567,89 €"),
        (-2_500, Currency.EUR, "-25,00 €"),
        (4_900, Currency.USD, "49,00 $ US"),
    ],
)
def test_amounts_are_written_the_french_way_from_integer_minor_units(
    minor_units: int, currency: Currency, written: str
) -> None:
    assert amount(Money(minor_units, currency)).replace(NBSP, " ") == written


def test_long_lines_wrap_between_words_and_never_before_the_currency() -> None:
    lines = list(wrapped("frais de recouvrement de 40 € " * 6, 9, room=150))

    assert len(lines) > 1
    assert not any(line.startswith("€") for line in lines)
    assert (
        " ".join(lines).replace(NBSP, " ").split() == ("frais de recouvrement de 40 € " * 6).split()
    )
