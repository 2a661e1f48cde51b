"""The VAT ID checkers under the VIES contract, each with what a test scripts beside the port: a
number VIES knows as valid, a member state's register or VIES as a whole not answering. The
fake scripts itself; the real adapter meets the VIES stand-in on loopback, through its control
routes."""

from __future__ import annotations

import secrets
from typing import Protocol

from billing.domain.invoices import default_seller
from billing.providers.retry import RetryPolicy
from billing.providers.vies import VatIdChecker, ViesChecker
from tests.fakes import FakeVies
from tests.support.sleeps import Sleeps
from tests.support.stand_ins import StandIn

SELLER_VAT_ID = default_seller().party.vat_id or ""
"""The requester of every check: the seller, whose VAT ID VIES must know."""


def new_vat_id(member_state: str = "BE") -> str:
    """A number no test used yet (the stand-in lives for the session): Belgian by default, or
    of a member state whose national numbers are nine digits (DE, EL)."""
    digits = str(secrets.randbelow(10**9)).zfill(9)
    return f"BE0{digits}" if member_state == "BE" else f"{member_state}{digits}"


class CheckerUnderTest(Protocol):
    @property
    def checker(self) -> VatIdChecker: ...

    def register(self, vat_id: str) -> None:
        """VIES knows `vat_id` as valid from now on."""

    def unavailable(self, member_state: str = "*") -> None:
        """`member_state`'s register (``*``: VIES as a whole) stops answering."""


class FakeChecker:
    def __init__(self) -> None:
        self.fake = FakeVies(SELLER_VAT_ID)

    @property
    def checker(self) -> VatIdChecker:
        return self.fake

    def register(self, vat_id: str) -> None:
        self.fake.register(vat_id)

    def unavailable(self, member_state: str = "*") -> None:
        self.fake.unavailable(member_state)


class StandInChecker:
    """`ViesChecker` against the VIES stand-in; a busy VIES's second try waits for nothing."""

    def __init__(self, stand_in: StandIn) -> None:
        self.stand_in = stand_in
        self.sleeps = Sleeps()
        self._checker = ViesChecker(
            requester=SELLER_VAT_ID,
            api_base=stand_in.url,
            timeout=1.0,
            retry=RetryPolicy(attempts=2, sleep=self.sleeps),
        )

    @property
    def checker(self) -> VatIdChecker:
        return self._checker

    def register(self, vat_id: str) -> None:
        self.stand_in.post("/_standin/numbers", {"vat_id": vat_id})

    def unavailable(self, member_state: str = "*") -> None:
        self.stand_in.post("/_standin/unavailable", {"member_state": member_state})
