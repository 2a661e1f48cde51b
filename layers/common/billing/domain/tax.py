"""VAT: which rule applies to a customer, at what rate, and how much it adds to a net price.

Catalogue prices are net. The seller is established in France and sells an electronically
supplied service, so the place of supply is the customer's (docs/tax.md):

- a customer billed in France pays French VAT, business or not;
- a consumer elsewhere in the EU pays their own country's rate (the One-Stop Shop);
- a business elsewhere in the EU whose VAT ID the EU's VIES service confirmed is reverse-charged:
  no VAT on the invoice, which says "Autoliquidation" and carries both VAT numbers;
- a customer outside the EU pays none.

A VAT ID that VIES has not confirmed (refused, or not checked yet because VIES did not answer)
is taxed as a consumer's: the charge never waits for VIES.

Rates come from the data file ``billing/data/vat_rates.json``: per country, each standard rate
with the day it took effect, so a charge is taxed at the rate in force on its day.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from billing.domain.money import Money
from billing.domain.values import frozen

SELLER_COUNTRY = "FR"
"""Where the seller is established: its customers there pay its VAT whatever their status."""

BASIS_POINTS = 10_000
"""A rate is stored in hundredths of a percent (2000 = 20 %, 2550 = 25.5 %): integers only."""


class TaxRule(StrEnum):
    """Why a charge bears the VAT it does; stored with the payment and printed on its invoice."""

    DOMESTIC = "domestic"
    """Billed in the seller's country: its VAT, business or consumer."""
    EU_CONSUMER = "eu_consumer"
    """Billed elsewhere in the EU without a confirmed VAT ID: that country's VAT."""
    REVERSE_CHARGE = "reverse_charge"
    """An EU business with a VAT ID confirmed by VIES: no VAT, the buyer accounts for it."""
    OUTSIDE_EU = "outside_eu"
    """Billed outside the EU: no EU VAT."""


LEGAL_MENTIONS: Mapping[TaxRule, str] = {
    TaxRule.REVERSE_CHARGE: (
        "Autoliquidation : TVA due par le preneur, article 283-2 du CGI, "
        "article 196 de la directive 2006/112/CE"
    ),
    TaxRule.OUTSIDE_EU: "TVA non applicable, articles 259-1 et 259 B du CGI",
}
"""What an invoice must say about VAT it does not charge (French law)."""


class VatRateError(ValueError):
    """The VAT rates data file is malformed."""


@frozen
class VatRate:
    since: datetime
    basis_points: int


@frozen
class VatRates:
    """The standard rate of every EU member over time, as of `version`, from `source`."""

    version: str
    source: str
    rates: Mapping[str, tuple[VatRate, ...]]
    """Per ISO 3166-1 country code (GR for Greece), newest first."""

    def is_member(self, country: str) -> bool:
        return country in self.rates

    def rate(self, country: str, at: datetime) -> int:
        """The standard rate in `country` on `at`, in basis points."""
        for rate in self.rates[country]:
            if rate.since <= at:
                return rate.basis_points
        raise VatRateError(f"no VAT rate known for {country} on {at:%Y-%m-%d}")


@frozen
class Tax:
    """The VAT of one amount: what was charged net, the rate, the VAT and why."""

    rule: TaxRule
    country: str | None
    """The customer's billing country the rule was decided on; None when they gave none."""
    rate: int
    """Basis points (2000 = 20 %)."""
    net: Money
    vat: Money

    @property
    def gross(self) -> Money:
        return self.net + self.vat

    @property
    def legal_mention(self) -> str | None:
        return LEGAL_MENTIONS.get(self.rule)

    def percent(self) -> str:
        """The rate as a percentage for people: ``20``, ``25.5``."""
        whole, rest = divmod(self.rate, 100)
        return str(whole) if rest == 0 else f"{whole}.{rest:02d}".rstrip("0")

    def part(self, gross: Money) -> Tax:
        """The share of this tax in `gross` given back of its gross (a refund): net and VAT
        split at the same rate. All of the gross gives back exactly this tax's net and VAT."""
        net = _rounded(gross.amount * BASIS_POINTS, BASIS_POINTS + self.rate)
        return Tax(
            self.rule,
            self.country,
            self.rate,
            Money(net, gross.currency),
            gross - Money(net, gross.currency),
        )


def vat_on(net: Money, rate: int) -> Money:
    """The VAT at `rate` basis points on `net`, rounded half away from zero to the minor unit."""
    return Money(_rounded(net.amount * rate, BASIS_POINTS), net.currency)


def _rounded(numerator: int, denominator: int) -> int:
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return -magnitude if numerator < 0 else magnitude


def rule_for(country: str | None, *, confirmed_vat_id: bool, rates: VatRates) -> TaxRule:
    """The rule for a customer billed in `country` (None: no billing information given, taxed as
    at home), whose VAT ID VIES confirmed or not."""
    if country is None or country == SELLER_COUNTRY:
        return TaxRule.DOMESTIC
    if not rates.is_member(country):
        return TaxRule.OUTSIDE_EU
    return TaxRule.REVERSE_CHARGE if confirmed_vat_id else TaxRule.EU_CONSUMER


def taxed(
    net: Money,
    country: str | None,
    *,
    confirmed_vat_id: bool,
    at: datetime,
    rates: VatRates | None = None,
) -> Tax:
    """The tax on `net` charged on `at` to a customer billed in `country`."""
    rates = rates or default_rates()
    rule = rule_for(country, confirmed_vat_id=confirmed_vat_id, rates=rates)
    if rule is TaxRule.DOMESTIC:
        rate = rates.rate(SELLER_COUNTRY, at)
    elif rule is TaxRule.EU_CONSUMER:
        assert country is not None
        rate = rates.rate(country, at)
    else:
        rate = 0
    return Tax(rule, country, rate, net, vat_on(net, rate))


def _basis_points(percent: Any, what: str) -> int:
    if not isinstance(percent, str):
        raise VatRateError(f"{what}: a rate is written as a string, got {percent!r}")
    whole, _, fraction = percent.partition(".")
    if not whole.isdigit() or len(fraction) > 2 or (fraction and not fraction.isdigit()):
        raise VatRateError(f"{what}: {percent!r} is not a percentage with two decimals at most")
    points = int(whole) * 100 + int(fraction.ljust(2, "0") or 0)
    if not 0 < points < BASIS_POINTS:
        raise VatRateError(f"{what}: {percent}% is not a rate")
    return points


def _since(text: Any, what: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise VatRateError(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None


def parse_rates(raw: Mapping[str, Any]) -> VatRates:
    """Check and build the rates from their JSON form; raises VatRateError when malformed."""
    try:
        rates: dict[str, tuple[VatRate, ...]] = {}
        for country, history in raw["rates"].items():
            entries = tuple(
                VatRate(_since(e["since"], country), _basis_points(e["percent"], country))
                for e in history
            )
            if not entries or list(entries) != sorted(entries, key=lambda r: r.since, reverse=True):
                raise VatRateError(f"{country}: rates must be listed newest first")
            rates[country] = entries
        version, source = str(raw["version"]), str(raw["source"])
    except VatRateError:
        raise
    except (KeyError, TypeError, AttributeError) as error:
        raise VatRateError(f"malformed VAT rates: {error!r}") from error
    if SELLER_COUNTRY not in rates:
        raise VatRateError(f"the seller's country {SELLER_COUNTRY} has no rate")
    return VatRates(version, source, rates)


@cache
def default_rates() -> VatRates:
    """The rates shipped in the layer, read once per process."""
    text = resources.files("billing").joinpath("data/vat_rates.json").read_text("utf-8")
    return parse_rates(json.loads(text))
