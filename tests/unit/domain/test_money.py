"""Money: integer minor units, one currency at a time, percentages rounded half away from 0."""

from __future__ import annotations

from typing import Any

import pytest

from billing.domain.money import Currency, Money

EUR = Currency.EUR
USD = Currency.USD


@pytest.mark.parametrize("amount", [0, 1, -1, 4900, 10**12])
def test_integer_amounts_are_kept_exactly(amount: int) -> None:
    money = Money(amount, EUR)

    assert money.amount == amount
    assert type(money.amount) is int
    assert money.currency is EUR


@pytest.mark.parametrize("amount", [49.0, 0.5, 1e3, True, False, "4900", None])
def test_non_integer_amounts_are_rejected(amount: Any) -> None:
    with pytest.raises(TypeError, match="integer minor units"):
        Money(amount, EUR)


@pytest.mark.parametrize("currency", ["EUR", "usd", "GBP", None])
def test_currency_must_be_a_currency_member(currency: Any) -> None:
    with pytest.raises(TypeError, match="unknown currency"):
        Money(4900, currency)


@pytest.mark.parametrize("currency", list(Currency))
def test_every_currency_has_two_minor_units(currency: Currency) -> None:
    assert currency.minor_units == 2


@pytest.mark.parametrize("currency", list(Currency))
def test_zero_is_zero_in_that_currency(currency: Currency) -> None:
    assert Money.zero(currency) == Money(0, currency)


def test_money_is_immutable() -> None:
    money = Money(100, EUR)

    with pytest.raises(AttributeError):
        money.amount = 200  # type: ignore[misc]


def test_equal_amounts_in_different_currencies_are_not_equal() -> None:
    assert Money(100, EUR) != Money(100, USD)
    assert Money(100, EUR) == Money(100, EUR)
    assert Money(100, EUR) != Money(101, EUR)


@pytest.mark.parametrize(
    ("left", "right", "total"),
    [
        (4900, 100, 5000),
        (0, 0, 0),
        (4900, -980, 3920),
        (-5, 3, -2),
    ],
)
def test_add_sums_amounts(left: int, right: int, total: int) -> None:
    assert Money(left, USD) + Money(right, USD) == Money(total, USD)


@pytest.mark.parametrize(
    ("left", "right", "difference"),
    [
        (4900, 980, 3920),
        (4900, 4900, 0),
        (100, 250, -150),
    ],
)
def test_subtract_subtracts_amounts(left: int, right: int, difference: int) -> None:
    assert Money(left, EUR) - Money(right, EUR) == Money(difference, EUR)


@pytest.mark.parametrize(
    ("left", "right", "less", "less_or_equal"),
    [
        (1, 2, True, True),
        (2, 2, False, True),
        (3, 2, False, False),
        (-1, 0, True, True),
    ],
)
def test_comparisons_compare_amounts(
    left: int, right: int, less: bool, less_or_equal: bool
) -> None:
    assert (Money(left, EUR) < Money(right, EUR)) is less
    assert (Money(left, EUR) <= Money(right, EUR)) is less_or_equal


def test_adding_different_currencies_is_rejected() -> None:
    with pytest.raises(ValueError, match="cannot combine EUR with USD"):
        _ = Money(100, EUR) + Money(100, USD)


def test_subtracting_different_currencies_is_rejected() -> None:
    with pytest.raises(ValueError, match="cannot combine USD with EUR"):
        _ = Money(100, USD) - Money(100, EUR)


def test_less_than_across_currencies_is_rejected() -> None:
    with pytest.raises(ValueError, match="cannot combine"):
        _ = Money(1, EUR) < Money(2, USD)


def test_less_or_equal_across_currencies_is_rejected() -> None:
    with pytest.raises(ValueError, match="cannot combine"):
        _ = Money(1, EUR) <= Money(2, USD)


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [
        (4900, 20, 980),
        (3333, 15, 500),  # 499.95 rounds up to 500
        (1, 50, 1),  # 0.5 rounds up
        (3, 50, 2),  # 1.5 rounds up
        (1, 49, 0),  # 0.49 rounds down
        (4900, 0, 0),
        (4900, 100, 4900),
        (19900, 50, 9950),
        (4900, 30, 1470),
        (0, 75, 0),
        (99, 33, 33),  # 32.67 rounds up
        (101, 10, 10),  # 10.1 rounds down
        (-1, 50, -1),  # halves round away from zero on both sides
        (-3, 50, -2),
        (-3333, 15, -500),
    ],
)
def test_percent_rounds_half_away_from_zero(amount: int, percent: int, expected: int) -> None:
    assert Money(amount, EUR).percent(percent) == Money(expected, EUR)


def test_percent_keeps_the_currency() -> None:
    assert Money(4900, USD).percent(20).currency is USD


@pytest.mark.parametrize("percent", [-1, 101, 1000, -100, True, 20.0])
def test_percent_out_of_range_is_rejected(percent: int) -> None:
    with pytest.raises(ValueError, match=r"integer within 0\.\.100"):
        Money(4900, EUR).percent(percent)


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(2900, EUR), "29.00 EUR"),
        (Money(4900, USD), "49.00 USD"),
        (Money(123456, USD), "1234.56 USD"),
        (Money(0, EUR), "0.00 EUR"),
        (Money(5, EUR), "0.05 EUR"),
        (Money(50, EUR), "0.50 EUR"),
        (Money(99, USD), "0.99 USD"),
        (Money(100, EUR), "1.00 EUR"),
        (Money(-5, EUR), "-0.05 EUR"),
        (Money(-2900, USD), "-29.00 USD"),
        (Money(-123456, EUR), "-1234.56 EUR"),
    ],
)
def test_display_renders_whole_units_cents_and_currency(money: Money, text: str) -> None:
    assert money.display() == text
