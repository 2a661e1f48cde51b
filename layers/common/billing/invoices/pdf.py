"""An invoice or a credit note as the PDF its customer downloads: one A4 page in French (the
seller is French), with what French law requires of an invoice (Code de commerce, article
L441-9; CGI, annexe II, article 242 nonies A): number and date, both parties' identities,
addresses and VAT numbers, the seller's SIREN, RCS, legal form and capital, what was sold and
for which period, the net amount, the VAT rate and amount, the gross amount, why no VAT is
charged when none is, the payment terms and late-payment penalties, and on a credit note the
invoice it corrects.

`render` is pure and deterministic: the same document gives the same bytes (the PDF's dates
are the issue date, its identifier a hash of its content), so a document rendered twice is
the document archived once. The text is drawn with the PDF's standard Helvetica in
Windows-1252, which needs no font file in the layer; a character outside it (a buyer's name in
Greek, say) is written without its accent, or as ``?`` (`winansi`).
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pydyf

from billing.domain.invoices import Document, DocumentKind, reference
from billing.domain.money import Currency, Money
from billing.domain.tax import Tax

PAGE_WIDTH, PAGE_HEIGHT = 595, 842
"""A4 in points."""
MARGIN = 50
RIGHT = PAGE_WIDTH - MARGIN
TEXT_WIDTH = RIGHT - MARGIN

REGULAR, BOLD = "F1", "F2"
_FONTS = {REGULAR: "Helvetica", BOLD: "Helvetica-Bold"}

TITLES = {DocumentKind.INVOICE: "Facture", DocumentKind.CREDIT_NOTE: "Avoir"}

NBSP = "\u00a0"
"""Between thousands and before the currency, as French writes amounts; in Windows-1252."""

_CURRENCY_SIGNS = {Currency.EUR: "€", Currency.USD: "$" + NBSP + "US"}

# Helvetica's advance widths (thousandths of the font size) of the printable ASCII characters,
# from its Adobe font metrics; Helvetica-Bold's digits, spaces and signs are the same. Used to
# right-align amounts and to wrap long lines; a letter with an accent is as wide as without.
_WIDTHS = dict(
    zip(
        (chr(code) for code in range(32, 127)),
        (
            278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
            556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
            1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
            667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
            333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
            556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
        ),
        strict=True,
    )
) | {NBSP: 278, "€": 556, "°": 400, "«": 556, "»": 556, "·": 278}  # fmt: skip


def amount(money: Money) -> str:
    """`money` as French writes it, from its integer minor units: ``1 668,00 €``."""
    whole, minor = divmod(abs(money.amount), 10**money.currency.minor_units)
    digits = f"{whole:,}".replace(",", NBSP)
    sign = "-" if money.amount < 0 else ""
    decimals = f"{minor:0{money.currency.minor_units}d}"
    return f"{sign}{digits},{decimals}{NBSP}{_CURRENCY_SIGNS[money.currency]}"


def rate(tax: Tax) -> str:
    """The VAT rate as French writes it: ``20 %``, ``25,5 %``."""
    return f"{tax.percent().replace('.', ',')}{NBSP}%"


def day(at: datetime) -> str:
    return f"{at:%d/%m/%Y}"


def winansi(text: str) -> bytes:
    """`text` in Windows-1252, the standard fonts' encoding: a character outside it loses its
    accent (``ř`` → ``r``) or, with none to lose, is written ``?``."""
    encoded = bytearray()
    for character in text.replace("\u202f", NBSP):
        try:
            encoded += character.encode("cp1252")
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", character)[:1]
            encoded += base.encode("cp1252", errors="replace") if base.isascii() else b"?"
    return bytes(encoded)


def width(text: str, size: float) -> float:
    """How wide `text` is drawn at `size` points."""
    return sum(_WIDTHS.get(_base(c), 556) for c in text) * size / 1000


def _base(character: str) -> str:
    return unicodedata.normalize("NFKD", character)[:1] or character


def wrapped(text: str, size: float, room: float = TEXT_WIDTH) -> Iterator[str]:
    """`text` cut into lines no wider than `room` at `size`, between words (never before a
    currency sign)."""
    line = ""
    for word in text.replace(" €", NBSP + "€").split(" "):
        candidate = f"{line} {word}" if line else word
        if line and width(candidate, size) > room:
            yield line
            candidate = word
        line = candidate
    if line:
        yield line


@dataclass
class _Page:
    """The drawing operations of one page, from its top down."""

    content: pydyf.Stream = field(default_factory=lambda: pydyf.Stream(compress=True))

    def text(self, x: float, y: float, text: str, size: float = 9, font: str = REGULAR) -> None:
        self.content.begin_text()
        self.content.set_font_size(font, size)
        self.content.set_text_matrix(1, 0, 0, 1, x, y)
        self.content.show_text_string(winansi(text))
        self.content.end_text()

    def right(self, x: float, y: float, text: str, size: float = 9, font: str = REGULAR) -> None:
        """`text` ending at `x`."""
        self.text(x - width(text, size), y, text, size, font)

    def rule(self, y: float) -> None:
        self.content.set_line_width(0.5)
        self.content.move_to(MARGIN, y)
        self.content.line_to(RIGHT, y)
        self.content.stroke()


def _lines(page: _Page, x: float, y: float, lines: list[str], size: float = 9) -> float:
    """Draw `lines` down from `y`; the baseline after the last."""
    for line in lines:
        page.text(x, y, line, size)
        y -= size + 3
    return y


def _seller(page: _Page, document: Document, y: float) -> None:
    seller = document.seller
    page.text(MARGIN, y, seller.party.name, 14, BOLD)
    lines = [
        *seller.party.address,
        seller.legal_form,
        f"SIREN {seller.siren} · {seller.rcs}",
        f"N° TVA intracommunautaire : {seller.party.vat_id or '-'}",
    ]
    _lines(page, MARGIN, y - 16, lines)


def _heading(page: _Page, document: Document, y: float) -> None:
    page.right(RIGHT, y, TITLES[document.kind].upper(), 20, BOLD)
    lines = [f"N° {document.reference}", f"Date : {day(document.issued_at)}"]
    if document.credits is not None:
        lines.append(f"Avoir sur la facture n° {reference(document.credits)}")
    for i, line in enumerate(lines):
        page.right(RIGHT, y - 20 - 12 * i, line, 10)


def _buyer(page: _Page, document: Document, y: float) -> float:
    buyer, x = document.buyer, 320
    page.text(x, y, "Client", 10, BOLD)
    lines = [buyer.name, *buyer.address]
    if buyer.vat_id:
        lines.append(f"N° TVA intracommunautaire : {buyer.vat_id}")
    lines.append(f"Compte : {document.account_id}")
    return _lines(page, x, y - 14, lines)


def _lines_sold(page: _Page, document: Document, y: float) -> float:
    page.text(MARGIN, y, "Désignation", 9, BOLD)
    page.text(300, y, "Période", 9, BOLD)
    page.right(RIGHT, y, "Montant HT", 9, BOLD)
    page.rule(y - 5)
    y -= 18
    period = f"du {day(document.period.start)} au {day(document.period.end)}"
    page.text(MARGIN, y, document.description)
    page.text(300, y, period)
    page.right(RIGHT, y, amount(document.tax.net))
    page.text(MARGIN, y - 12, f"Abonnement {document.subscription_id}", 8)
    page.rule(y - 20)
    return y - 38


def _totals(page: _Page, document: Document, y: float) -> float:
    tax, x = document.tax, 330
    rows = [
        ("Total HT", amount(tax.net), REGULAR),
        (f"TVA {rate(tax)} sur {amount(tax.net)}", amount(tax.vat), REGULAR),
        ("Total TTC", amount(tax.gross), BOLD),
    ]
    for label, value, font in rows:
        page.text(x, y, label, 10, font)
        page.right(RIGHT, y, value, 10, font)
        y -= 15
    return y - 10


def _notes(page: _Page, document: Document, y: float) -> None:
    lines: list[str] = []
    if document.tax.legal_mention:
        lines += wrapped(document.tax.legal_mention, 9)
    if document.kind is DocumentKind.CREDIT_NOTE:
        lines += wrapped(
            f"Montants remboursés au titre de la facture n° {document.credits or 0:08d}.", 9
        )
    lines.append(f"Paiement : {document.payment_id}")
    y = _lines(page, MARGIN, y, lines) - 12
    page.text(MARGIN, y, "Conditions", 9, BOLD)
    _lines(
        page,
        MARGIN,
        y - 13,
        [line for term in document.seller.terms for line in wrapped(term, 8)],
        8,
    )


def _pdf_date(at: datetime) -> str:
    return f"D:{at:%Y%m%d%H%M%S}Z"


def render(document: Document) -> bytes:
    """The PDF of `document`: the same bytes whenever it is rendered."""
    page = _Page()
    top = PAGE_HEIGHT - MARGIN - 10
    _seller(page, document, top)
    _heading(page, document, top)
    y = _buyer(page, document, top - 120)
    y = _lines_sold(page, document, min(y, top - 230) - 20)
    y = _totals(page, document, y)
    _notes(page, document, y)

    pdf = pydyf.PDF()
    fonts = pydyf.Dictionary()
    for key, base in _FONTS.items():
        font = pydyf.Dictionary(
            {
                "Type": "/Font",
                "Subtype": "/Type1",
                "BaseFont": f"/{base}",
                "Encoding": "/WinAnsiEncoding",
            }
        )
        pdf.add_object(font)
        fonts[key] = font.reference
    pdf.add_object(page.content)
    pdf.add_page(
        pydyf.Dictionary(
            {
                "Type": "/Page",
                "Parent": pdf.pages.reference,
                "MediaBox": pydyf.Array([0, 0, PAGE_WIDTH, PAGE_HEIGHT]),
                "Contents": page.content.reference,
                "Resources": pydyf.Dictionary({"Font": fonts}),
            }
        )
    )
    issued = pydyf.String(_pdf_date(document.issued_at))
    title = f"{TITLES[document.kind]} {document.reference}"
    pdf.info.update(
        {
            "Title": pydyf.String(title),
            "Author": pydyf.String(document.seller.party.name),
            "CreationDate": issued,
            "ModDate": issued,
        }
    )
    output = io.BytesIO()
    pdf.write(output, identifier=True)
    return output.getvalue()
