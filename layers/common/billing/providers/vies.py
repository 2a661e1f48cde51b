"""Checking a VAT ID with the EU's VIES service: the port, and its adapter for VIES's REST API.

VIES answers whether a member state's register knows a VAT number as valid for cross-border
trade. Asked with the seller's own VAT ID as requester, it also gives a consultation number
(``requestIdentifier``): the seller's proof that it checked, kept with the check.

VIES is often briefly unable to answer (a member state's register down or busy, VIES itself
overloaded): the adapter says so with `VatIdCheckUnavailable`, never with a verdict, so that a
number nobody could check is never taken for an invalid one (docs/tax.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import urllib3

from billing.domain.values import frozen
from billing.providers.gateway import ProviderUnavailable
from billing.providers.retry import RetryPolicy, TransientFailure

CHECK_PATH = "/check-vat-number"

UNAVAILABLE_CODES = frozenset(
    {
        "SERVICE_UNAVAILABLE",
        "MS_UNAVAILABLE",
        "TIMEOUT",
        "MS_MAX_CONCURRENT_REQ",
        "GLOBAL_MAX_CONCURRENT_REQ",
        "VAT_BLOCKED",
        "IP_BLOCKED",
        "INVALID_REQUESTER_INFO",
    }
)
"""VIES's error codes that say nothing of the number checked: VIES or the member state's register
cannot answer now, or refused us (our own requester VAT ID, our address). Whatever else VIES
says is not an answer either (`VatIdCheckUnavailable`), except `INVALID_INPUT`."""
BUSY_CODES = frozenset({"MS_MAX_CONCURRENT_REQ", "GLOBAL_MAX_CONCURRENT_REQ"})
"""Too many requests at once: worth one more try after a short pause."""
INVALID_INPUT = "INVALID_INPUT"
"""VIES refuses the number itself (a country code or a number it cannot be): not valid."""


@frozen
class VatIdVerdict:
    """What VIES said of a VAT ID."""

    valid: bool
    consultation: str | None = None
    """VIES's consultation number (``requestIdentifier``), given with the requester's VAT ID."""


class VatIdCheckUnavailable(Exception):
    """VIES gave no verdict: no answer in time, an error status, or one of its error codes."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        """VIES's error code (``MS_UNAVAILABLE``), the HTTP status, or None without an answer."""


class VatIdChecker(Protocol):
    def check(self, vat_id: str) -> VatIdVerdict:
        """VIES's verdict on `vat_id`, normalised (its member state's prefix, EL for Greece,
        then the national number); VatIdCheckUnavailable when VIES gives none."""
        ...


def split_vat_id(vat_id: str) -> tuple[str, str]:
    """VIES's member-state code (the VAT ID's two-letter prefix) and the national number."""
    if len(vat_id) < 3 or not vat_id[:2].isalpha() or not vat_id.isalnum():
        raise ValueError(f"{vat_id!r} is not a normalised VAT ID")
    return vat_id[:2].upper(), vat_id[2:]


def _error_codes(body: Mapping[str, Any]) -> list[str]:
    wrappers = body.get("errorWrappers")
    if not isinstance(wrappers, list):
        return []
    return [str(w.get("error")) for w in wrappers if isinstance(w, dict) and w.get("error")]


def verdict_of(status: int, body: bytes) -> VatIdVerdict:
    """VIES's answer to a check as a verdict. Its errors come as ``errorWrappers`` (on a 200 as
    on an error status), or as ``userError`` beside ``valid``; a busy VIES or a server error
    raises TransientFailure (to be tried again), any other answer that is not a verdict
    VatIdCheckUnavailable."""
    try:
        answer = json.loads(body) if body else {}
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {}
    user_error = answer.get("userError")
    codes = [*_error_codes(answer), *([str(user_error)] if user_error else [])]
    problems = [code for code in codes if code not in ("VALID", "INVALID")]
    if INVALID_INPUT in problems:
        return VatIdVerdict(valid=False)
    busy = [code for code in problems if code in BUSY_CODES]
    if busy or status == 429:
        raise TransientFailure(status, busy[0] if busy else str(status))
    if problems or answer.get("actionSucceed") is False:
        code = problems[0] if problems else str(status)
        raise VatIdCheckUnavailable(f"VIES could not check the number: {code}", code)
    if status >= 500:
        raise TransientFailure(status, str(status))
    valid = answer.get("valid")
    if status != 200 or not isinstance(valid, bool):
        raise VatIdCheckUnavailable(f"VIES answered {status} without a verdict", str(status))
    consultation = answer.get("requestIdentifier")
    return VatIdVerdict(valid, consultation if valid and consultation else None)


class ViesChecker:
    """VIES's REST API (`api_base`: the settings' ``VIES_API_BASE``): ``POST
    {api_base}/check-vat-number`` with the number and the seller's VAT ID as requester, with a
    short timeout; a busy VIES or a 5xx is tried once more."""

    def __init__(
        self,
        *,
        requester: str,
        api_base: str,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._requester = split_vat_id(requester)
        self._url = api_base.rstrip("/") + CHECK_PATH
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout), retries=False)
        self._retry = retry or RetryPolicy(attempts=2, base_delay=0.5, max_delay=1.0)

    def check(self, vat_id: str) -> VatIdVerdict:
        country, number = split_vat_id(vat_id)
        body = json.dumps(
            {
                "countryCode": country,
                "vatNumber": number,
                "requesterMemberStateCode": self._requester[0],
                "requesterNumber": self._requester[1],
            }
        ).encode()
        try:
            return self._retry.call(lambda: self._send(body))
        except ProviderUnavailable as busy:
            last = busy.__cause__  # the TransientFailure: its message is VIES's code or status
            code = str(last) if isinstance(last, TransientFailure) else busy.code
            raise VatIdCheckUnavailable(f"VIES busy or failing: {code}", code) from busy

    def _send(self, body: bytes) -> VatIdVerdict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        try:
            response = self._http.request("POST", self._url, body=body, headers=headers)
        except urllib3.exceptions.HTTPError as error:  # refused, reset, timed out
            raise VatIdCheckUnavailable(f"no answer from VIES: {error}") from error
        return verdict_of(response.status, response.data)
