"""VAT: the rule of each customer, the rate in force on the charge's day, integer rounding, the
rates data file's checks, and the share of a refund."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from billing.domain.addresses import countries
from billing.domain.money import Currency, Money
from billing.domain.tax import (
    TaxRule,
    VatRateError,
    default_rates,
    parse_rates,
    taxed,
    vat_on,
)

EUR = Currency.EUR
NOW = datetime(2026, 12, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("country", "confirmed", "rule", "vat"),
    [
        (None, False, TaxRule.DOMESTIC, 980),
        ("FR", False, TaxRule.DOMESTIC, 980),
        ("FR", True, TaxRule.DOMESTIC, 980),
        ("DE", False, TaxRule.EU_CONSUMER, 931),
        ("DE", True, TaxRule.REVERSE_CHARGE, 0),
        ("HU", False, TaxRule.EU_CONSUMER, 1323),
        ("US", False, TaxRule.OUTSIDE_EU, 0),
        ("CH", True, TaxRule.OUTSIDE_EU, 0),
    ],
)
def test_the_rule_and_vat_of_each_kind_of_customer(
    country: str | None, confirmed: bool, rule: TaxRule, vat: int
) -> None:
    tax = taxed(Money(4900, EUR), country, confirmed_vat_id=confirmed, at=NOW)

    assert (tax.rule, tax.vat, tax.net) == (rule, Money(vat, EUR), Money(4900, EUR))
    assert tax.gross == Money(4900 + vat, EUR)


def test_a_charge_is_taxed_at_the_rate_in_force_on_its_day() -> None:
    before = taxed(
        Money(10000, EUR), "EE", confirmed_vat_id=False, at=datetime(2025, 6, 30, tzinfo=UTC)
    )
    after = taxed(
        Money(10000, EUR), "EE", confirmed_vat_id=False, at=datetime(2025, 7, 1, tzinfo=UTC)
    )

    assert (before.rate, before.vat) == (2200, Money(2200, EUR))
    assert (after.rate, after.vat) == (2400, Money(2400, EUR))


def test_vat_is_rounded_half_away_from_zero_in_minor_units() -> None:
    assert vat_on(Money(1, EUR), 2550) == Money(0, EUR)  # 0.255
    assert vat_on(Money(2, EUR), 2500) == Money(1, EUR)  # 0.5
    assert vat_on(Money(13900, EUR), 2550) == Money(3545, EUR)  # 3544.5
    assert vat_on(Money(-2, EUR), 2500) == Money(-1, EUR)


def test_every_eu_member_of_the_address_rules_has_a_rate_and_nothing_else_does() -> None:
    members = {code for code, country in countries().items() if country.vat_id is not None}

    assert set(default_rates().rates) == members
    assert "European Commission" in default_rates().source


@pytest.mark.parametrize("gross", [1, 999, 5831, 118_998])
def test_a_refunds_share_is_split_at_the_rate_and_all_of_it_is_the_whole(gross: int) -> None:
    whole = taxed(Money(99_999, EUR), "DE", confirmed_vat_id=False, at=NOW)

    part = whole.part(Money(gross, EUR))

    assert part.gross == Money(gross, EUR)
    assert (part.rule, part.rate) == (whole.rule, whole.rate)
    assert abs(part.vat.amount - gross * 1900 / 11900) <= 0.5
    assert whole.part(whole.gross) == whole


def _rates(**rates: Any) -> dict[str, Any]:
    return {"version": "2025-08-01", "source": "the test", "rates": rates}


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        (_rates(DE=[{"since": "2021-01-01", "percent": "19"}]), "FR"),
        (_rates(FR=[{"since": "2014-01-01", "percent": 20}]), "string"),
        (_rates(FR=[{"since": "2014-01-01", "percent": "20.555"}]), "two decimals"),
        (_rates(FR=[{"since": "1 Jan 2014", "percent": "20"}]), "date"),
        (
            _rates(
                FR=[
                    {"since": "2000-01-01", "percent": "19.6"},
                    {"since": "2014-01-01", "percent": "20"},
                ]
            ),
            "newest first",
        ),
        ({"version": "x", "rates": {}}, "malformed"),
    ],
)
def test_a_malformed_rates_file_is_refused_with_why(raw: dict[str, Any], complaint: str) -> None:
    with pytest.raises(VatRateError, match=complaint):
        parse_rates(raw)
