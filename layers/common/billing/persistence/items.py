"""Domain dataclasses as DynamoDB items: each field is the attribute of the same name, in the
format its type decides, so a new field of a known type needs no converter code.

A ``tuple[X, ...]`` of a known type X is a list of X's values; the empty tuple is stored as no
attribute, as None is, and no attribute reads back as the empty tuple (so items written before
such a field existed read as empty, and an empty one changes no item)."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

from billing.domain.billing_calendar import format_instant, parse_instant
from billing.domain.money import Currency, Money
from billing.domain.values import frozen

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

type AttributeValue = dict[str, Any]
"""One attribute as DynamoDB's low-level API writes it, e.g. ``{"N": "4900"}``."""
type Item = dict[str, AttributeValue]

CURRENCY = "currency"
"""The attribute naming the one currency of a map's amounts. Amounts are stored as bare minor
units, their currency once beside them: in the map of the outermost value with an amount field
of its own, shared by every amount in the maps inside it. So a subscription's item holds the
currency of its ``price`` and of its discount's ``amount_off``, an account's ``pending_purchase``
map that of the purchase's price: the format items have always had."""


@dataclass
class _Amounts:
    """The currency the amounts of one map and of the maps inside it share: found while writing
    them, given when reading them."""

    currency: Currency | None = None
    held: bool = False
    """Whether a map holds this currency; outside the outermost map with an amount, none does."""

    def add(self, money: Money) -> int:
        if self.currency not in (None, money.currency):
            raise ValueError(f"an item's amounts share one currency: {self.currency}, {money}")
        self.currency = money.currency
        return money.amount

    def of(self, amount: int) -> Money:
        if self.currency is None:
            raise ValueError(f"a map has amounts but no {CURRENCY!r} attribute")
        return Money(amount, self.currency)


@frozen
class _Format:
    """How values of one type are written as an attribute and read back."""

    write: Callable[[Any, _Amounts], AttributeValue]
    read: Callable[[AttributeValue, _Amounts], Any]


_TEXT = _Format(lambda value, _: {"S": value}, lambda stored, _: stored["S"])
_FLAG = _Format(lambda value, _: {"BOOL": value}, lambda stored, _: stored["BOOL"])
_WHOLE = _Format(lambda value, _: {"N": str(value)}, lambda stored, _: int(stored["N"]))
_INSTANT = _Format(
    lambda value, _: {"S": format_instant(value)}, lambda stored, _: parse_instant(stored["S"])
)
_AMOUNT = _Format(
    lambda value, amounts: {"N": str(amounts.add(value))},
    lambda stored, amounts: amounts.of(int(stored["N"])),
)
_FORMATS: dict[object, _Format] = {
    str: _TEXT,
    bool: _FLAG,
    int: _WHOLE,
    datetime: _INSTANT,
    Money: _AMOUNT,
}


@frozen
class _Field:
    name: str
    format: _Format
    optional: bool
    """Typed ``X | None``: None is stored as no attribute, and no attribute reads as None."""
    sequence: bool = False
    """Typed ``tuple[X, ...]``: the empty tuple is stored as no attribute, and no attribute
    reads as the empty tuple."""

    def stored(self, value: object) -> bool:
        """Whether `value` of this field is written as an attribute."""
        return value is not None and not (self.sequence and value == ())


def _named(kind: type[StrEnum]) -> _Format:
    """An enum member, stored as its value."""
    return _Format(lambda value, _: {"S": value.value}, lambda stored, _: kind(stored["S"]))


def _nested(kind: type[DataclassInstance]) -> _Format:
    """A dataclass inside another, stored as a map of its fields in the same formats."""
    return _Format(
        lambda value, amounts: {"M": _write(value, amounts)},
        lambda stored, amounts: _read(kind, stored["M"], amounts),
    )


def _listed(each: _Format) -> _Format:
    """A tuple of values of one type, stored as a list of them, each in its type's format."""
    return _Format(
        lambda values, amounts: {"L": [each.write(value, amounts) for value in values]},
        lambda stored, amounts: tuple(each.read(value, amounts) for value in stored["L"]),
    )


def _format(kind: object, where: str) -> _Format:
    if kind in _FORMATS:
        return _FORMATS[kind]
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return _named(kind)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _nested(kind)
    raise TypeError(f"{where}: no stored format for {kind!r}; add one to billing.persistence.items")


def _field(name: str, hint: object, where: str) -> _Field:
    arguments = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and len(arguments) == 2 and arguments[1] is Ellipsis:
        each = _format(arguments[0], where)
        if each is _AMOUNT:
            # Their currency would be stored nowhere: `_holds_currency` sees amount fields only.
            raise TypeError(f"{where}: no stored format for a tuple of amounts")
        return _Field(name, _listed(each), optional=False, sequence=True)
    union = typing.get_origin(hint) in (types.UnionType, typing.Union)
    if union and len(arguments) == 2 and type(None) in arguments:
        [kind] = [argument for argument in arguments if argument is not type(None)]
        return _Field(name, _format(kind, where), optional=True)
    return _Field(name, _format(hint, where), optional=False)


@cache
def _fields(kind: type[DataclassInstance]) -> tuple[_Field, ...]:
    """The stored fields of `kind`, worked out once per dataclass from its type hints."""
    hints = typing.get_type_hints(kind)
    return tuple(
        _field(field.name, hints[field.name], f"{kind.__name__}.{field.name}")
        for field in dataclasses.fields(kind)
    )


def _holds_currency(kind: type[DataclassInstance], outer: _Amounts) -> bool:
    """Whether the map of a `kind` inside `outer` holds its amounts' currency (see `CURRENCY`)."""
    return not outer.held and any(field.format is _AMOUNT for field in _fields(kind))


def _write(value: DataclassInstance, outer: _Amounts) -> Item:
    holds = _holds_currency(type(value), outer)
    amounts = _Amounts(held=True) if holds else outer
    item: Item = {}
    for field in _fields(type(value)):
        field_value = getattr(value, field.name)
        if field.stored(field_value):
            item[field.name] = field.format.write(field_value, amounts)
    if holds and amounts.currency is not None:
        item[CURRENCY] = {"S": amounts.currency.value}
    return item


def _read[T: DataclassInstance](
    kind: type[T], item: Mapping[str, AttributeValue], outer: _Amounts
) -> T:
    amounts = outer
    if _holds_currency(kind, outer):
        currency = item.get(CURRENCY)
        amounts = _Amounts(None if currency is None else Currency(currency["S"]), held=True)
    values: dict[str, Any] = {}
    for field in _fields(kind):
        stored = item.get(field.name)
        if stored is not None and "NULL" not in stored:
            values[field.name] = field.format.read(stored, amounts)
        elif field.optional:
            values[field.name] = None
        elif field.sequence:
            values[field.name] = ()
        # Otherwise the field's default: what an item written before the field existed reads as.
    return kind(**values)


def to_item(value: DataclassInstance) -> Item:
    """`value` as the attributes of an item (None fields have no attribute)."""
    return _write(value, _Amounts())


def from_item[T: DataclassInstance](kind: type[T], item: Mapping[str, AttributeValue]) -> T:
    """The `kind` that `item` stores; attributes that are not fields of `kind` are ignored."""
    return _read(kind, item, _Amounts())
