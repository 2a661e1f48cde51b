"""The plan catalogue and first-cycle coupons: what a cycle costs, before and after discounts.

The catalogue is a versioned data file shipped in the layer (``billing/data/catalogue.json``);
a subscription copies its price and discount at purchase, so later catalogue versions never
change what an existing subscription is charged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from billing.domain.billing_calendar import parse_instant
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.money import Currency, Money
from billing.domain.values import frozen

CYCLE_LENGTHS: tuple[int, ...] = (1, 3, 12)
"""Cycle lengths in months that can be bought."""


class CatalogueError(ValueError):
    """The catalogue data file is malformed."""


@frozen
class Discount:
    """A coupon as applied to one subscription: `amount_off` on each of its first `cycles`."""

    coupon: str
    amount_off: Money
    cycles: int

    def __post_init__(self) -> None:
        if self.amount_off.amount < 0 or self.cycles < 1:
            raise ValueError("a discount takes a non-negative amount off at least one cycle")


def cycle_price(price: Money, discount: Discount | None, cycle: int) -> Money:
    """What cycle `cycle` (0 = the first) costs: discounted while cycles remain, then full."""
    if discount is not None and cycle < discount.cycles:
        return price - discount.amount_off
    return price


@frozen
class Plan:
    id: str
    name: str
    prices: Mapping[Currency, Mapping[int, Money]]

    def price(self, cycle_months: int, currency: Currency) -> Money:
        try:
            return self.prices[currency][cycle_months]
        except KeyError:
            raise DomainError(
                ErrorCode.UNKNOWN_PLAN,
                f"Plan {self.id!r} is not sold for {cycle_months} months in {currency}.",
            ) from None


@frozen
class Coupon:
    """A discount on the first cycle(s): either `percent_off` or `amount_off` per currency."""

    code: str
    cycles: int = 1
    percent_off: int | None = None
    amount_off: Mapping[Currency, Money] | None = None
    plans: frozenset[str] | None = None
    cycle_months: frozenset[int] | None = None
    valid_until: datetime | None = None

    def discount(self, plan_id: str, cycle_months: int, price: Money, at: datetime) -> Discount:
        """The discount this coupon gives on `price`, or UNKNOWN_COUPON when it does not apply."""
        if (
            (self.plans is not None and plan_id not in self.plans)
            or (self.cycle_months is not None and cycle_months not in self.cycle_months)
            or (self.valid_until is not None and at > self.valid_until)
        ):
            raise DomainError(ErrorCode.UNKNOWN_COUPON)
        if self.percent_off is not None:
            off = price.percent(self.percent_off)
        elif self.amount_off is not None and price.currency in self.amount_off:
            off = self.amount_off[price.currency]
        else:
            raise DomainError(ErrorCode.UNKNOWN_COUPON)
        # A discount never makes a cycle cost less than nothing.
        return Discount(
            self.code, Money(min(off.amount, price.amount), price.currency), self.cycles
        )


@frozen
class Catalogue:
    version: str
    plans: Mapping[str, Plan]
    coupons: Mapping[str, Coupon]

    def plan(self, plan_id: str) -> Plan:
        try:
            return self.plans[plan_id]
        except KeyError:
            raise DomainError(ErrorCode.UNKNOWN_PLAN, f"There is no plan {plan_id!r}.") from None

    def coupon(self, code: str) -> Coupon:
        try:
            return self.coupons[code.upper()]
        except KeyError:
            raise DomainError(ErrorCode.UNKNOWN_COUPON) from None


def _positive_int(value: Any, what: str) -> int:
    if type(value) is not int or value <= 0:
        raise CatalogueError(f"{what} must be a positive integer, got {value!r}")
    return value


def _currency(value: str) -> Currency:
    try:
        return Currency(value)
    except ValueError:
        raise CatalogueError(f"unknown currency {value!r}") from None


def _cycle_length(value: Any, what: str) -> int:
    if type(value) is not int or value not in CYCLE_LENGTHS:
        raise CatalogueError(f"{what}: cycles of {value!r} months are not sold")
    return value


def _strings(values: Any, what: str) -> frozenset[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise CatalogueError(f"{what} must be a list of strings, got {values!r}")
    return frozenset(values)


def _unique(ids: list[str], what: str) -> None:
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CatalogueError(f"duplicate {what}: {duplicates}")


def _plan(raw: Mapping[str, Any]) -> Plan:
    prices: dict[Currency, dict[int, Money]] = {}
    for code, by_length in raw["prices"].items():
        currency = _currency(code)
        prices[currency] = {}
        for months, amount in by_length.items():
            length = _cycle_length(int(months), f"plan {raw['id']}")
            prices[currency][length] = Money(_positive_int(amount, f"{raw['id']} price"), currency)
    return Plan(id=raw["id"], name=raw["name"], prices=prices)


def _coupon(raw: Mapping[str, Any]) -> Coupon:
    code = raw["code"]
    percent, amounts = raw.get("percent_off"), raw.get("amount_off")
    if (percent is None) == (amounts is None):
        raise CatalogueError(f"coupon {code}: exactly one of percent_off and amount_off")
    if percent is not None and not 0 < _positive_int(percent, f"{code} percent_off") <= 100:
        raise CatalogueError(f"coupon {code}: percent_off must be within 1..100")
    valid_until = raw.get("valid_until")
    return Coupon(
        code=code.upper(),
        cycles=_positive_int(raw.get("cycles", 1), f"{code} cycles"),
        percent_off=percent,
        amount_off=None
        if amounts is None
        else {
            _currency(c): Money(_positive_int(a, f"{code} amount_off"), _currency(c))
            for c, a in amounts.items()
        },
        plans=_strings(raw["plans"], f"{code} plans") if "plans" in raw else None,
        cycle_months=frozenset(_cycle_length(m, code) for m in raw["cycle_months"])
        if "cycle_months" in raw
        else None,
        valid_until=parse_instant(valid_until) if valid_until else None,
    )


def parse_catalogue(raw: Mapping[str, Any]) -> Catalogue:
    """Build and check a catalogue from its JSON form; raises CatalogueError when malformed."""
    try:
        plans = [_plan(p) for p in raw["plans"]]
        coupons = [_coupon(c) for c in raw.get("coupons", [])]
        version = str(raw["version"])
    except CatalogueError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise CatalogueError(f"malformed catalogue: {error!r}") from error
    _unique([p.id for p in plans], "plans")
    _unique([c.code for c in coupons], "coupons")
    unknown = {p for c in coupons for p in c.plans or ()} - {p.id for p in plans}
    if unknown:
        raise CatalogueError(f"coupons name unknown plans: {sorted(unknown)}")
    return Catalogue(
        version=version,
        plans={p.id: p for p in plans},
        coupons={c.code: c for c in coupons},
    )


@cache
def default_catalogue() -> Catalogue:
    """The catalogue shipped in the layer, read once per process."""
    text = resources.files("billing").joinpath("data/catalogue.json").read_text("utf-8")
    return parse_catalogue(json.loads(text))
