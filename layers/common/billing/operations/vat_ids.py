"""Checking a customer's VAT ID with VIES: when the billing form is saved, and again before a
charge when VIES could not answer the last time (docs/tax.md).

Only a VAT ID whose confirmation changes the tax is checked: a business billed elsewhere in the
EU than France, reverse-charged once VIES confirms it. VIES not answering never refuses the form
nor a charge: the customer is taxed as a consumer until a later check confirms the number.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from billing.domain.accounts import Account, BillingInfo, VatIdCheck, VatIdStatus
from billing.domain.billing_calendar import format_instant, instant
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.state_machine import SCHEDULER, Details, Requester, account_audit
from billing.domain.tax import TaxRule, default_rates, rule_for
from billing.persistence.repository import BillingRepository, ConcurrentModification
from billing.providers.vies import VatIdChecker, VatIdCheckUnavailable

logger = logging.getLogger(__name__)

FIRST_RECHECK = timedelta(hours=1)
"""How long after VIES first failed to answer the number is asked again."""
LONGEST_RECHECK = timedelta(days=1)
"""Each further failure doubles the wait, up to this."""
VAT_ID_REFUSED = "vat_id_refused_by_vies"
"""The billing form's field error when VIES says the VAT ID is not valid."""


def checked_by_vies(info: BillingInfo | None) -> bool:
    """Whether the VAT ID of `info` is one VIES is asked about: given, and of a business billed
    in an EU member other than France, whose tax a confirmation changes (reverse charge)."""
    if info is None or info.vat_id is None:
        return False
    confirmed = rule_for(info.country, confirmed_vat_id=True, rates=default_rates())
    return confirmed is TaxRule.REVERSE_CHARGE


def next_wait(unchecked: VatIdCheck | None) -> timedelta:
    """How long to wait before asking VIES again after it failed to answer: an hour, then twice
    the wait before (read from the check it failed to replace), up to a day."""
    if unchecked is None or unchecked.status is not VatIdStatus.UNCHECKED:
        return FIRST_RECHECK
    if unchecked.next_check_at is None:
        return FIRST_RECHECK
    waited = unchecked.next_check_at - unchecked.checked_at
    return min(max(waited * 2, FIRST_RECHECK), LONGEST_RECHECK)


def vat_id_refused(vat_id: str) -> DomainError:
    """The billing form's answer when VIES says `vat_id` is not valid: a 422 on the field,
    saying what to do."""
    message = (
        f"VIES, the EU's register of VAT numbers, says {vat_id} is not a valid VAT number for "
        "trade between EU countries. Check the number (your tax office or the VIES website can "
        "confirm it) and enter it again, or leave the field empty to be billed as a consumer, "
        "with VAT."
    )
    return DomainError(
        ErrorCode.INVALID_FIELDS,
        message,
        [{"field": "vat_id", "code": VAT_ID_REFUSED, "message": message}],
    )


class VatIdChecks:
    """VIES's checks of accounts' VAT IDs: `check` for the billing form, `refresh` before a
    charge."""

    def __init__(
        self,
        repository: BillingRepository,
        checker: VatIdChecker,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._repository = repository
        self._checker = checker
        self._clock = clock

    def check(self, info: BillingInfo, previous: VatIdCheck | None) -> VatIdCheck | None:
        """The check to store with `info`, saved by the billing form: None when VIES is not
        asked about its VAT ID (none, French, outside the EU); the `previous` check when it
        confirmed this very VAT ID (saving the address again does not ask VIES again);
        otherwise VIES's answer, valid or invalid, or unchecked with the time to ask again
        when VIES does not answer."""
        if not checked_by_vies(info):
            return None
        assert info.vat_id is not None
        if previous is not None and previous.vat_id == info.vat_id:
            if previous.status is VatIdStatus.VALID:
                return previous
        else:
            previous = None  # the wait before a new number's next check starts afresh
        return self._asked(info.vat_id, previous)

    def refresh(self, account: Account, by: Requester = SCHEDULER) -> Account:
        """`account` with its VAT ID checked again if VIES could not answer the last time and
        the time to ask again has come (`next_check_at`): VIES's new answer stored on the
        account (conditional on its version) with an entry in its trail. Never raises for
        VIES nor for a lost race: then the account is returned as it stands, its VAT ID
        unconfirmed (taxed as a consumer) until a check confirms it. Called right before a
        charge's tax is computed."""
        check, info = account.vat_id_check, account.billing_info
        if (
            check is None
            or check.status is not VatIdStatus.UNCHECKED
            or check.next_check_at is None
            or check.next_check_at > self._clock()
            or info is None
            or info.vat_id != check.vat_id
        ):
            return account
        new = self._asked(check.vat_id, check)
        entry = account_audit(by, "vat_id_checked", new.checked_at, _details(new))
        try:
            return self._repository.save_vat_id_check(account, new, [entry])
        except ConcurrentModification:
            # Someone wrote the account meanwhile (perhaps this very check): theirs stands.
            return self._repository.get_account(account.id)

    def _asked(self, vat_id: str, unchecked: VatIdCheck | None) -> VatIdCheck:
        """VIES's answer on `vat_id` now, as a check; `unchecked` is the check it failed to
        replace, if any, whose wait the next one doubles."""
        now = instant(self._clock())
        try:
            verdict = self._checker.check(vat_id)
        except VatIdCheckUnavailable as unavailable:
            logger.warning("VIES did not check a VAT ID: %s", unavailable)
            return VatIdCheck(
                vat_id, VatIdStatus.UNCHECKED, now, next_check_at=now + next_wait(unchecked)
            )
        status = VatIdStatus.VALID if verdict.valid else VatIdStatus.INVALID
        return VatIdCheck(vat_id, status, now, consultation=verdict.consultation)


def _details(check: VatIdCheck) -> Details:
    """What the trail keeps of a check: its outcome and VIES's consultation number (the
    seller's proof), never the VAT number itself (the trail never expires)."""
    details = {"status": check.status.value}
    if check.consultation is not None:
        details["consultation"] = check.consultation
    if check.next_check_at is not None:
        details["next_check_at"] = format_instant(check.next_check_at)
    return details
