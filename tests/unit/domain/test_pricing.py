"""The plan catalogue, coupons and what each cycle costs."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from billing.domain.errors import DomainError, ErrorCode
from billing.domain.money import Currency, Money
from billing.domain.pricing import (
    CYCLE_LENGTHS,
    Catalogue,
    CatalogueError,
    Coupon,
    Discount,
    cycle_price,
    default_catalogue,
    parse_catalogue,
)

EUR = Currency.EUR
USD = Currency.USD
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)

SHIPPED_PRICES = {
    "basic": {1: 4900, 3: 13900, 12: 46800},
    "standard": {1: 9900, 3: 27900, 12: 94800},
    "professional": {1: 19900, 3: 56700, 12: 190800},
}


def _raw_catalogue() -> dict[str, Any]:
    """A small, valid catalogue in its JSON form; tests break one thing at a time."""
    return {
        "version": "test-1",
        "plans": [
            {
                "id": "basic",
                "name": "Basic",
                "prices": {"EUR": {"1": 4900, "3": 13900}, "USD": {"1": 5900}},
            },
            {"id": "euro_only", "name": "Euro only", "prices": {"EUR": {"12": 46800}}},
        ],
        "coupons": [
            {"code": "tenoff", "amount_off": {"EUR": 1000}},
            {"code": "HALF", "percent_off": 50, "cycles": 2, "plans": ["basic"]},
            {"code": "HUGE", "amount_off": {"EUR": 999_999, "USD": 999_999}},
            {"code": "Q", "percent_off": 10, "cycle_months": [3]},
            {"code": "OLD", "percent_off": 10, "valid_until": "2026-01-31T09:30:00Z"},
        ],
    }


def _code(error: pytest.ExceptionInfo[DomainError]) -> ErrorCode:
    return error.value.code


# --- the shipped catalogue -----------------------------------------------------------------------


def test_default_catalogue_loads_the_shipped_file() -> None:
    catalogue = default_catalogue()

    assert catalogue.version == "2026-11-01"
    assert set(catalogue.plans) == set(SHIPPED_PRICES)
    assert set(catalogue.coupons) == {"WELCOME20", "SAVE10", "PRO3X50", "LAUNCH2025"}


def test_default_catalogue_is_read_once() -> None:
    assert default_catalogue() is default_catalogue()


def test_cycle_lengths_are_one_three_and_twelve_months() -> None:
    assert CYCLE_LENGTHS == (1, 3, 12)


@pytest.mark.parametrize("currency", list(Currency))
@pytest.mark.parametrize("plan_id", sorted(SHIPPED_PRICES))
def test_every_shipped_plan_is_sold_in_every_currency_and_length(
    plan_id: str, currency: Currency
) -> None:
    plan = default_catalogue().plan(plan_id)

    assert set(plan.prices[currency]) == set(CYCLE_LENGTHS)
    for months in CYCLE_LENGTHS:
        price = plan.price(months, currency)
        assert price.currency is currency
        assert price.amount > 0


@pytest.mark.parametrize("currency", list(Currency))
@pytest.mark.parametrize(
    ("plan_id", "months", "amount"),
    [
        (plan_id, months, amount)
        for plan_id, by_length in SHIPPED_PRICES.items()
        for months, amount in by_length.items()
    ],
)
def test_shipped_prices(plan_id: str, months: int, amount: int, currency: Currency) -> None:
    assert default_catalogue().plan(plan_id).price(months, currency) == Money(amount, currency)


@pytest.mark.parametrize(
    ("plan_id", "name"), [("basic", "Basic"), ("professional", "Professional")]
)
def test_plan_has_its_id_and_name(plan_id: str, name: str) -> None:
    plan = default_catalogue().plan(plan_id)

    assert plan.id == plan_id
    assert plan.name == name


@pytest.mark.parametrize("plan_id", ["enterprise", "", "Basic", "BASIC"])
def test_unknown_plan_is_unknown_plan(plan_id: str) -> None:
    with pytest.raises(DomainError) as error:
        default_catalogue().plan(plan_id)

    assert _code(error) is ErrorCode.UNKNOWN_PLAN


@pytest.mark.parametrize("months", [0, 2, 6, 24, -1])
def test_unsold_cycle_length_is_unknown_plan(months: int) -> None:
    with pytest.raises(DomainError) as error:
        default_catalogue().plan("basic").price(months, EUR)

    assert _code(error) is ErrorCode.UNKNOWN_PLAN
    assert str(months) in error.value.message


def test_unsold_currency_is_unknown_plan() -> None:
    plan = parse_catalogue(_raw_catalogue()).plan("euro_only")

    with pytest.raises(DomainError) as error:
        plan.price(12, USD)

    assert _code(error) is ErrorCode.UNKNOWN_PLAN


def test_price_sold_in_one_currency_only_for_some_lengths() -> None:
    plan = parse_catalogue(_raw_catalogue()).plan("basic")

    assert plan.price(3, EUR) == Money(13900, EUR)
    assert plan.price(1, USD) == Money(5900, USD)
    with pytest.raises(DomainError) as error:
        plan.price(3, USD)
    assert _code(error) is ErrorCode.UNKNOWN_PLAN


# --- shipped coupons -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "plan_id", "months", "currency", "at", "amount_off", "cycles"),
    [
        ("WELCOME20", "basic", 1, EUR, NOW, 980, 1),
        ("WELCOME20", "professional", 12, USD, NOW, 38160, 1),
        ("SAVE10", "standard", 1, EUR, NOW, 1000, 1),
        ("SAVE10", "basic", 3, USD, NOW, 1000, 1),
        ("PRO3X50", "professional", 1, EUR, NOW, 9950, 3),
        ("LAUNCH2025", "basic", 1, EUR, datetime(2025, 6, 1, tzinfo=UTC), 1470, 1),
        ("LAUNCH2025", "basic", 1, EUR, datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC), 1470, 1),
    ],
)
def test_shipped_coupon_discounts(
    *,
    code: str,
    plan_id: str,
    months: int,
    currency: Currency,
    at: datetime,
    amount_off: int,
    cycles: int,
) -> None:
    catalogue = default_catalogue()
    price = catalogue.plan(plan_id).price(months, currency)

    discount = catalogue.coupon(code).discount(plan_id, months, price, at)

    assert discount == Discount(code, Money(amount_off, currency), cycles)


@pytest.mark.parametrize(
    ("code", "plan_id", "months", "at"),
    [
        ("SAVE10", "basic", 12, NOW),  # not for yearly cycles
        ("PRO3X50", "basic", 1, NOW),  # professional only
        ("PRO3X50", "standard", 1, NOW),
        ("PRO3X50", "professional", 3, NOW),  # monthly only
        ("PRO3X50", "professional", 12, NOW),
        ("LAUNCH2025", "basic", 1, datetime(2026, 1, 1, tzinfo=UTC)),  # expired
        ("LAUNCH2025", "basic", 1, NOW),
    ],
)
def test_shipped_coupon_restrictions_are_unknown_coupon(
    code: str, plan_id: str, months: int, at: datetime
) -> None:
    catalogue = default_catalogue()
    coupon = catalogue.coupon(code)
    price = catalogue.plan(plan_id).price(months, EUR)

    with pytest.raises(DomainError) as error:
        coupon.discount(plan_id, months, price, at)

    assert _code(error) is ErrorCode.UNKNOWN_COUPON


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("welcome20", "WELCOME20"),
        ("Welcome20", "WELCOME20"),
        ("WELCOME20", "WELCOME20"),
        ("save10", "SAVE10"),
        ("pro3x50", "PRO3X50"),
    ],
)
def test_coupon_lookup_is_case_insensitive(typed: str, code: str) -> None:
    assert default_catalogue().coupon(typed).code == code


@pytest.mark.parametrize("code", ["NOPE", "", "WELCOME 20", "WELCOME2"])
def test_unknown_coupon_code_is_unknown_coupon(code: str) -> None:
    with pytest.raises(DomainError) as error:
        default_catalogue().coupon(code)

    assert _code(error) is ErrorCode.UNKNOWN_COUPON


# --- coupons built directly ----------------------------------------------------------------------


def test_percent_off_is_rounded_half_up() -> None:
    coupon = Coupon(code="P15", percent_off=15)

    discount = coupon.discount("basic", 1, Money(3333, EUR), NOW)

    assert discount.amount_off == Money(500, EUR)


def test_amount_off_in_the_price_currency() -> None:
    coupon = Coupon(code="OFF", amount_off={EUR: Money(700, EUR), USD: Money(800, USD)})

    assert coupon.discount("basic", 1, Money(4900, USD), NOW).amount_off == Money(800, USD)
    assert coupon.discount("basic", 1, Money(4900, EUR), NOW).amount_off == Money(700, EUR)


def test_amount_off_without_the_price_currency_is_unknown_coupon() -> None:
    coupon = Coupon(code="EURONLY", amount_off={EUR: Money(700, EUR)})

    with pytest.raises(DomainError) as error:
        coupon.discount("basic", 1, Money(4900, USD), NOW)

    assert _code(error) is ErrorCode.UNKNOWN_COUPON


def test_parsed_amount_off_without_the_price_currency_is_unknown_coupon() -> None:
    catalogue = parse_catalogue(_raw_catalogue())

    with pytest.raises(DomainError) as error:
        catalogue.coupon("TENOFF").discount("basic", 1, Money(5900, USD), NOW)

    assert _code(error) is ErrorCode.UNKNOWN_COUPON


@pytest.mark.parametrize(("price", "amount_off"), [(4900, 4900), (100, 100), (999_999, 999_999)])
def test_amount_off_larger_than_the_price_is_clamped_to_the_price(
    price: int, amount_off: int
) -> None:
    catalogue = parse_catalogue(_raw_catalogue())

    discount = catalogue.coupon("huge").discount("basic", 1, Money(price, EUR), NOW)

    assert discount.amount_off == Money(amount_off, EUR)
    assert cycle_price(Money(price, EUR), discount, 0) == Money(0, EUR)


def test_hundred_percent_off_makes_the_cycle_free() -> None:
    discount = Coupon(code="FREE", percent_off=100).discount("basic", 1, Money(4900, EUR), NOW)

    assert cycle_price(Money(4900, EUR), discount, 0) == Money.zero(EUR)


@pytest.mark.parametrize(
    ("at", "applies"),
    [
        (datetime(2026, 1, 31, 9, 29, 59, tzinfo=UTC), True),
        (datetime(2026, 1, 31, 9, 30, tzinfo=UTC), True),
        (datetime(2026, 1, 31, 9, 30, 1, tzinfo=UTC), False),
        (datetime(2027, 1, 1, tzinfo=UTC), False),
    ],
)
def test_valid_until_is_inclusive(at: datetime, applies: bool) -> None:
    coupon = parse_catalogue(_raw_catalogue()).coupon("old")

    if applies:
        assert coupon.discount("basic", 1, Money(4900, EUR), at).amount_off == Money(490, EUR)
    else:
        with pytest.raises(DomainError) as error:
            coupon.discount("basic", 1, Money(4900, EUR), at)
        assert _code(error) is ErrorCode.UNKNOWN_COUPON


@pytest.mark.parametrize(("months", "applies"), [(1, False), (3, True), (12, False)])
def test_cycle_months_restriction(months: int, applies: bool) -> None:
    coupon = parse_catalogue(_raw_catalogue()).coupon("q")

    if applies:
        assert coupon.discount("basic", months, Money(13900, EUR), NOW).amount_off == Money(
            1390, EUR
        )
    else:
        with pytest.raises(DomainError) as error:
            coupon.discount("basic", months, Money(13900, EUR), NOW)
        assert _code(error) is ErrorCode.UNKNOWN_COUPON


@pytest.mark.parametrize(("plan_id", "applies"), [("basic", True), ("euro_only", False)])
def test_plans_restriction(plan_id: str, applies: bool) -> None:
    coupon = parse_catalogue(_raw_catalogue()).coupon("half")

    if applies:
        discount = coupon.discount(plan_id, 1, Money(4900, EUR), NOW)
        assert discount == Discount("HALF", Money(2450, EUR), 2)
    else:
        with pytest.raises(DomainError) as error:
            coupon.discount(plan_id, 1, Money(4900, EUR), NOW)
        assert _code(error) is ErrorCode.UNKNOWN_COUPON


# --- discounts and cycle prices ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cycles", "cycle", "expected"),
    [
        (1, 0, 3920),
        (1, 1, 4900),
        (1, 5, 4900),
        (3, 0, 3920),
        (3, 1, 3920),
        (3, 2, 3920),
        (3, 3, 4900),
        (3, 4, 4900),
    ],
)
def test_cycle_price_is_discounted_only_for_the_first_cycles(
    cycles: int, cycle: int, expected: int
) -> None:
    discount = Discount("WELCOME20", Money(980, EUR), cycles)

    assert cycle_price(Money(4900, EUR), discount, cycle) == Money(expected, EUR)


@pytest.mark.parametrize("cycle", [0, 1, 12])
def test_cycle_price_without_discount_is_the_price(cycle: int) -> None:
    assert cycle_price(Money(4900, USD), None, cycle) == Money(4900, USD)


def test_cycle_price_rejects_a_discount_in_another_currency() -> None:
    discount = Discount("X", Money(100, USD), 1)

    with pytest.raises(ValueError, match="cannot combine"):
        cycle_price(Money(4900, EUR), discount, 0)


@pytest.mark.parametrize(("amount_off", "cycles"), [(-1, 1), (100, 0), (100, -1)])
def test_discount_rejects_negative_amounts_and_no_cycles(amount_off: int, cycles: int) -> None:
    with pytest.raises(ValueError, match="at least one cycle"):
        Discount("X", Money(amount_off, EUR), cycles)


def test_zero_discount_is_allowed() -> None:
    assert Discount("X", Money(0, EUR), 1).amount_off == Money(0, EUR)


# --- parse_catalogue -----------------------------------------------------------------------------


def test_parse_catalogue_builds_plans_and_coupons() -> None:
    catalogue = parse_catalogue(_raw_catalogue())

    assert isinstance(catalogue, Catalogue)
    assert catalogue.version == "test-1"
    assert set(catalogue.plans) == {"basic", "euro_only"}
    assert catalogue.plan("basic").prices == {
        EUR: {1: Money(4900, EUR), 3: Money(13900, EUR)},
        USD: {1: Money(5900, USD)},
    }
    assert set(catalogue.coupons) == {"TENOFF", "HALF", "HUGE", "Q", "OLD"}
    assert catalogue.coupon("tenoff") == Coupon(code="TENOFF", amount_off={EUR: Money(1000, EUR)})
    assert catalogue.coupon("half") == Coupon(
        code="HALF", cycles=2, percent_off=50, plans=frozenset({"basic"})
    )
    assert catalogue.coupon("q").cycle_months == frozenset({3})
    assert catalogue.coupon("old").valid_until == datetime(2026, 1, 31, 9, 30, tzinfo=UTC)


def test_parse_catalogue_version_is_text() -> None:
    raw = _raw_catalogue()
    raw["version"] = 7

    assert parse_catalogue(raw).version == "7"


def test_parse_catalogue_without_coupons_has_none() -> None:
    raw = _raw_catalogue()
    del raw["coupons"]

    assert parse_catalogue(raw).coupons == {}


def _broken(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """The test catalogue with the item at `path` replaced by `value` (deleted when ...)."""
    raw = copy.deepcopy(_raw_catalogue())
    target: Any = raw
    for key in path[:-1]:
        target = target[key]
    if value is Ellipsis:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value"),
    [
        # prices
        (("plans", 0, "prices", "EUR", "1"), 49.0),
        (("plans", 0, "prices", "EUR", "1"), 4900.5),
        (("plans", 0, "prices", "EUR", "1"), "4900"),
        (("plans", 0, "prices", "EUR", "1"), True),
        (("plans", 0, "prices", "EUR", "1"), 0),
        (("plans", 0, "prices", "EUR", "1"), -4900),
        (("plans", 0, "prices", "EUR", "1"), None),
        (("plans", 0, "prices", "GBP"), {"1": 4900}),
        (("plans", 0, "prices", "eur"), {"1": 4900}),
        (("plans", 0, "prices", "EUR", "6"), 9000),
        (("plans", 0, "prices", "EUR", "24"), 9000),
        (("plans", 0, "prices", "EUR", "0"), 9000),
        (("plans", 0, "prices"), [4900]),
        # missing keys
        (("version",), ...),
        (("plans",), ...),
        (("plans", 0, "id"), ...),
        (("plans", 0, "name"), ...),
        (("plans", 0, "prices"), ...),
        (("coupons", 0, "code"), ...),
        (("plans",), None),
        # coupons
        (("coupons", 0, "percent_off"), 10),  # both percent_off and amount_off
        (("coupons", 1, "percent_off"), ...),  # neither
        (("coupons", 1, "percent_off"), 0),
        (("coupons", 1, "percent_off"), 101),
        (("coupons", 1, "percent_off"), 12.5),
        (("coupons", 1, "cycles"), 0),
        (("coupons", 1, "cycles"), 1.0),
        (("coupons", 1, "plans"), ["basic", "enterprise"]),
        (("coupons", 0, "amount_off"), {"EUR": 10.0}),
        (("coupons", 0, "amount_off"), {"EUR": 0}),
        (("coupons", 0, "amount_off"), {"CHF": 1000}),
        (("coupons", 0, "code"), 42),
        (("coupons", 3, "cycle_months"), ["3"]),
        (("coupons", 3, "cycle_months"), [6]),
        (("coupons", 1, "plans"), "basic"),
        (("plans", 1, "id"), "basic"),  # two plans named basic
        (("coupons", 1, "code"), "TENOFF"),  # two coupons named TENOFF
    ],
)
def test_parse_catalogue_rejects_malformed_data(path: tuple[str | int, ...], value: Any) -> None:
    with pytest.raises(CatalogueError):
        parse_catalogue(_broken(path, value))


def test_parse_catalogue_names_unknown_coupon_plans() -> None:
    raw = _broken(("coupons", 1, "plans"), ["enterprise"])

    with pytest.raises(CatalogueError, match="enterprise"):
        parse_catalogue(raw)


def test_catalogue_error_is_a_value_error() -> None:
    assert issubclass(CatalogueError, ValueError)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("plans", 0, "prices", "EUR", "one"), 4900),
        (("coupons", 1, "valid_until"), "2026-01-31"),
    ],
)
def test_parse_catalogue_reports_unparsable_values_as_catalogue_errors(
    path: tuple[str | int, ...], value: Any
) -> None:
    raw = _broken(path, value)

    with pytest.raises(CatalogueError):
        parse_catalogue(raw)
