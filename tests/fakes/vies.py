"""`VatIdChecker` in memory, answering as the VIES adapter does what VIES says: the numbers
registered are valid, with a consultation number each time; any other is not; a member state's
register (or VIES as a whole) made unavailable gives no verdict until it is back. Every number
asked about is recorded in `checked`."""

from __future__ import annotations

import itertools
import threading

from billing.providers.vies import VatIdCheckUnavailable, VatIdVerdict, split_vat_id

EVERY_MEMBER_STATE = "*"


class FakeVies:
    def __init__(self, *valid: str) -> None:
        self.valid = set(valid)
        self.down: set[str] = set()
        """Member states whose register does not answer; ``*`` for VIES as a whole."""
        self.checked: list[str] = []
        self._consultations = itertools.count(1)
        self._lock = threading.Lock()

    def check(self, vat_id: str) -> VatIdVerdict:
        member_state, _ = split_vat_id(vat_id)
        with self._lock:
            self.checked.append(vat_id)
            if EVERY_MEMBER_STATE in self.down:
                raise VatIdCheckUnavailable("VIES is unavailable", "SERVICE_UNAVAILABLE")
            if member_state in self.down:
                raise VatIdCheckUnavailable(f"{member_state} does not answer", "MS_UNAVAILABLE")
            if vat_id not in self.valid:
                return VatIdVerdict(valid=False)
            return VatIdVerdict(valid=True, consultation=f"WAPI{next(self._consultations):012X}")

    # --- what a test scripts ---

    def register(self, vat_id: str) -> None:
        """`vat_id` is valid from now on."""
        with self._lock:
            self.valid.add(vat_id)

    def unavailable(self, member_state: str = EVERY_MEMBER_STATE) -> None:
        """`member_state`'s register (by default VIES as a whole) stops answering."""
        with self._lock:
            self.down.add(member_state)

    def available(self) -> None:
        """Every register answers again."""
        with self._lock:
            self.down.clear()
