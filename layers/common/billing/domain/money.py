"""Money as integer minor units with a currency: the only arithmetic billing does on amounts."""

from __future__ import annotations

from enum import StrEnum

from billing.domain.values import frozen


class Currency(StrEnum):
    """Currencies a subscription can be sold in; fixed at purchase."""

    EUR = "EUR"
    USD = "USD"

    @property
    def minor_units(self) -> int:
        """Digits after the decimal point (both supported currencies use cents)."""
        return 2


@frozen
class Money:
    """An amount in the currency's minor unit (cents). Never a float."""

    amount: int
    currency: Currency

    def __post_init__(self) -> None:
        if type(self.amount) is not int:
            raise TypeError(f"money amounts are integer minor units, got {self.amount!r}")
        if not isinstance(self.currency, Currency):
            raise TypeError(f"unknown currency {self.currency!r}")

    @classmethod
    def zero(cls, currency: Currency) -> Money:
        return cls(0, currency)

    def _same_currency(self, other: Money) -> None:
        if self.currency is not other.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    def percent(self, percent: int) -> Money:
        """`percent` % of this amount, rounded half away from zero to the minor unit."""
        if type(percent) is not int or not 0 <= percent <= 100:
            raise ValueError(f"percent must be an integer within 0..100, got {percent!r}")
        magnitude = (abs(self.amount) * percent + 50) // 100
        return Money(-magnitude if self.amount < 0 else magnitude, self.currency)

    def decimal(self) -> str:
        """The amount in major units as providers' APIs write it, e.g. ``29.00``."""
        scale = 10**self.currency.minor_units
        sign = "-" if self.amount < 0 else ""
        whole, cents = divmod(abs(self.amount), scale)
        return f"{sign}{whole}.{cents:0{self.currency.minor_units}d}"

    def display(self) -> str:
        """Plain rendering for messages, e.g. ``29.00 EUR``."""
        return f"{self.decimal()} {self.currency}"
